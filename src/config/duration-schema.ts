/** The config's duration type: what `request_timeout`, `drain_timeout`, … accept. */
import { z } from 'zod'
import { parseDuration } from './duration.ts'

/**
 * Node's longest timer: 2^31 − 1 ms, about 24.8 days. A longer delay does not wait longer, it
 * fires at once (with a warning), so a longer timeout would end everything immediately.
 */
export const LONGEST_TIMER_MS = 2 ** 31 - 1
const TOO_LONG = 'at most 24.8 days (2147483 s), the longest timer Node keeps'

/**
 * A config duration: seconds as a number (mcpr and mcp-proxy style) or a string such as `"30s"`
 * or `"500ms"`; the parsed value is milliseconds.
 */
export const durationSchema = z
  .union([z.number().nonnegative({ message: 'expected a duration of 0 or more' }), z.string()], {
    // Neither a number nor a string (inf, nan, a TOML date): said as what a duration is.
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'expected a duration like "30s" or "500ms", or seconds'
        : undefined,
  })
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(value)
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration like "30s" or "500ms", got "${value}"`,
      })
      return z.NEVER
    }
    if (ms > LONGEST_TIMER_MS) {
      ctx.addIssue({
        code: 'custom',
        message: `expected ${TOO_LONG}, got ${JSON.stringify(value)}`,
      })
      return z.NEVER
    }
    return ms
  })

/** A delay in milliseconds that a timer waits (`delay_ms`, `flush_interval_ms`, …). */
export const timerMsSchema = () =>
  z
    .number()
    .nonnegative()
    .max(LONGEST_TIMER_MS, { message: `expected ${TOO_LONG}` })

/** A number of seconds > 0 that a timer may wait (`[timeout] seconds`, `interval_seconds`, …). */
export const timerSecondsSchema = (message = 'expected a number of seconds > 0') =>
  z
    .number()
    .positive({ message })
    .max(LONGEST_TIMER_MS / 1000, { message: `expected ${TOO_LONG}` })

/** The same, 0 allowed (`shutdown_timeout_seconds = 0`: no drain). */
export const timerSecondsOrZeroSchema = () =>
  z
    .number()
    .nonnegative()
    .max(LONGEST_TIMER_MS / 1000, { message: `expected ${TOO_LONG}` })
