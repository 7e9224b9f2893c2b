/** Human-readable sizes, one implementation for the access log and the CLI reports. */

const UNITS = ['KB', 'MB', 'GB', 'TB']

export interface BytesStyle {
  /** `48B`, `1.2KB` (access log lines) instead of `48 B`, `1.2 KB` (report tables). */
  compact?: boolean
  /** What zero reads as (reports show `—`). */
  zero?: string
}

/** `512 B`, `48.2 KB`, `1.2 MB` (1024-based). */
export function formatBytes(bytes: number, style: BytesStyle = {}): string {
  if (bytes <= 0 && style.zero !== undefined) return style.zero
  const space = style.compact ? '' : ' '
  if (bytes < 1024) return `${bytes}${space}B`
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)}${space}${UNITS[unit]}`
}

/**
 * Text a client or a server chose (a tool name, an error message), made safe to print on a
 * terminal or in a line-oriented log: control characters (escape sequences, carriage returns,
 * newlines) become `\xNN`, so they can neither drive the operator's terminal nor forge lines.
 */
export function printable(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROL_ALL, escapeControl) : text
}

/** Unicode's control characters: C0 (escape, CR, LF…), DEL and C1. */
const CONTROL = /\p{Cc}/u
const CONTROL_ALL = /\p{Cc}/gu

function escapeControl(char: string): string {
  return `\\x${char.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`
}
