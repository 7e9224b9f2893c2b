/** Durations as users write them: `500us` (or `µs`, `μs`), `500ms`, `30s`, `5m`, `1h`, `7d`, `2w`. */
import { z } from 'zod'

const UNIT_MS: Record<string, number> = {
  us: 0.001,
  // The micro sign (U+00B5: what Go and Rust print, and AltGr+m types) and the Greek mu
  // (U+03BC: a Greek keyboard's, and what NFKC makes of the sign); Go's ParseDuration takes both.
  '\u00b5s': 0.001,
  '\u03bcs': 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

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

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|\u00b5s|\u03bcs|ms|s|m|h|d|w)\s*$/.exec(text)
  if (!match) return undefined
  const unit = UNIT_MS[match[2] as string]
  return unit === undefined ? undefined : Number(match[1]) * unit
}
