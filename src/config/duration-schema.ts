/** The config's duration type: what `request_timeout`, `drain_timeout`, … accept. */
import { z } from 'zod'
import { parseDuration } from './duration.ts'

/**
 * A config duration: seconds as a number (mcpr and mcp-proxy style) or a string such as `"30s"`
 * or `"500ms"`; the parsed value is milliseconds.
 */
export const durationSchema = z
  .union([z.number().nonnegative(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value * 1000
    const ms = parseDuration(value)
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration like "30s" or "500ms", got "${value}"`,
      })
      return z.NEVER
    }
    return ms
  })
