/**
 * Portico's operational log: leveled lines on stderr, human text or JSON. Kept tiny on
 * purpose: one line per record, no transports, and callers never pass secrets (headers and
 * tokens are redacted before they reach a log call).
 */
import { jsonForTerminal, printable } from '../util/format.ts'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * The names a config, a variable or a flag may give a level: Portico's, and `trace`, which
 * mcp-proxy documents (and pino and Rust's tracing use) for the finest level: Portico's finest
 * is `debug`, so `trace` means `debug`.
 */
export const LOG_LEVEL_NAMES = [...LOG_LEVELS, 'trace'] as const

/** The level a name gives (`trace` → `debug`), or undefined for an unknown name. */
export function logLevelOf(name: string): LogLevel | undefined {
  if (name === 'trace') return 'debug'
  return (LOG_LEVELS as readonly string[]).includes(name) ? (name as LogLevel) : undefined
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 }

export interface LoggerOptions {
  level?: LogLevel
  json?: boolean
  /** Where lines go; stderr by default. */
  write?: (line: string) => void
}

export type LogFields = Record<string, unknown>

export class Logger {
  readonly level: LogLevel
  readonly json: boolean
  readonly #write: (line: string) => void
  readonly #rank: number

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? 'info'
    this.json = options.json ?? false
    this.#rank = RANK[this.level]
    this.#write = options.write ?? ((line) => process.stderr.write(line))
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.#rank
  }

  debug(message: string, fields?: LogFields): void {
    this.log('debug', message, fields)
  }

  info(message: string, fields?: LogFields): void {
    this.log('info', message, fields)
  }

  warn(message: string, fields?: LogFields): void {
    this.log('warn', message, fields)
  }

  error(message: string, fields?: LogFields): void {
    this.log('error', message, fields)
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (!this.enabled(level)) return
    this.#write(this.json ? jsonLine(level, message, fields) : textLine(level, message, fields))
  }

  /** Writes a preformatted line at `level` (used by the exchange sink). */
  line(level: LogLevel, text: string): void {
    if (this.enabled(level)) this.#write(`${text}\n`)
  }
}

function jsonLine(level: LogLevel, msg: string, fields?: LogFields): string {
  return `${jsonForTerminal({ time: new Date().toISOString(), level, msg, ...fields })}\n`
}

/**
 * One text line. Messages and fields carry text others chose (a backend's stderr, which may
 * echo a client's arguments; servers' names and errors): control characters are shown as
 * `\xNN` (util/format's printable), so no line forges another or drives the terminal.
 */
function textLine(level: LogLevel, msg: string, fields?: LogFields): string {
  const time = new Date().toISOString().slice(11, 23)
  let text = `${time} ${level.padEnd(5)} ${printable(msg)}`
  if (fields) {
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue
      text += ` ${key}=${printable(typeof value === 'string' ? value : JSON.stringify(value))}`
    }
  }
  return `${text}\n`
}
