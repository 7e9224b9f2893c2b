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
 * newlines) become `\xNN`, so they can neither drive the operator's terminal nor forge lines;
 * the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) become `\u202E`…, so
 * a name cannot reorder the rest of its line on a terminal that honours them.
 */
export function printable(text: string): string {
  return hasControl(text) ? text.replace(CONTROL_ALL, escapeControl) : text
}

/** Whether `text` holds a control character (see `printable`). */
export function hasControl(text: string): boolean {
  return CONTROL.test(text)
}

/** Unicode's control characters (C0: escape, CR, LF…; DEL; C1) and the bidi overrides. */
const CONTROL = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u
const CONTROL_ALL = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu

function escapeControl(char: string): string {
  const code = char.charCodeAt(0)
  return code > 0xff
    ? `\\u${code.toString(16).toUpperCase()}`
    : `\\x${code.toString(16).padStart(2, '0').toUpperCase()}`
}

/**
 * Text a client chose (a method, a tool or client name, an id) kept to `max` characters (256:
 * a line's worth) wherever Portico passes it on (audit lines, the cloud sink, spans): one call
 * naming a 1 MB tool must not make a megabyte of every record of it.
 */
export function clipText(text: string, max = 256): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

/**
 * Text from outside (a client's name, a backend's error message) as an error, a log line or a
 * health report repeats it: clipped and its length said, so that one of megabytes is never
 * copied into every answer and line that quotes it.
 */
export function clipped(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`
}

/**
 * A value as JSON that is also safe on a terminal: JSON.stringify escapes C0 controls (ESC,
 * CR, LF) but writes C1 ones (U+0080–U+009F: CSI, OSC, NEL, which terminals may act on) and the
 * bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069, which reorder the rest of
 * the line) as they are; those become `\u0080`, `\u202e`… too. Still the same JSON value once
 * parsed. One line unless `space` indents it.
 */
export function jsonForTerminal(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space)
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeUnicode) : text
}

const UNSAFE = /[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/
const UNSAFE_ALL = /[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/g

function escapeUnicode(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
}
