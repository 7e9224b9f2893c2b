/**
 * The query string of a dashboard API call, checked: a bad value is a 400 with one sentence
 * naming the parameter, never a report over a window nobody asked for.
 */
import { parseDuration } from '../config/duration.ts'

export class BadRequest extends Error {
  readonly status: number
  constructor(message: string, status = 400) {
    super(message)
    this.name = 'BadRequest'
    this.status = status
  }
}

/** The longest window a page may ask for: a year. */
const MAX_WINDOW_MS = 366 * 86_400_000

export class Params {
  readonly #search: URLSearchParams

  constructor(search: URLSearchParams) {
    this.#search = search
  }

  string(name: string, maxLength = 512): string | undefined {
    const value = this.#search.get(name)
    if (value === null || value === '') return undefined
    if (value.length > maxLength)
      throw new BadRequest(`${name}: longer than ${maxLength} characters`)
    return value
  }

  required(name: string): string {
    const value = this.string(name)
    if (value === undefined) throw new BadRequest(`${name}: missing`)
    return value
  }

  /** `since` as a duration (`15m`, `1h`, `7d`) back from `now`: the window start, epoch ms. */
  since(now: number, fallback: string): number {
    const text = this.string('since', 32) ?? fallback
    const ms = parseDuration(text)
    if (ms === undefined || ms <= 0 || ms > MAX_WINDOW_MS) {
      throw new BadRequest(
        `since: expected a duration like 15m, 1h or 7d (at most 366d), got "${text}"`,
      )
    }
    return now - ms
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const text = this.string(name, 16)
    if (text === undefined) return fallback
    const value = Number(text)
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new BadRequest(`${name}: expected a whole number from ${min} to ${max}, got "${text}"`)
    }
    return value
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(name, 64)
    if (value === undefined) return undefined
    if (!(allowed as readonly string[]).includes(value)) {
      throw new BadRequest(`${name}: expected one of ${allowed.join(', ')}, got "${value}"`)
    }
    return value as T
  }
}
