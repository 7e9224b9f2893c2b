/**
 * Durations as users write them: `500us` (or `µs`, `μs`), `500ms`, `30s`, `5m`, `1h`, `7d`, `2w`.
 * No zod here: the CLI parses `--since` and `--older-than` with this while declaring its
 * commands, which must not load the config schema (duration-schema.ts has the config's type).
 */
// Read only with a unit the pattern below admitted: a plain object (and nothing more for the
// CLI's declarations to load).
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

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|\u00b5s|\u03bcs|ms|s|m|h|d|w)\s*$/.exec(text)
  if (!match) return undefined
  const unit = UNIT_MS[match[2] as string]
  return unit === undefined ? undefined : Number(match[1]) * unit
}
