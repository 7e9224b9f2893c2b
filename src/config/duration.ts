/** Durations as users write them: `500ms`, `30s`, `5m`, `1h`, `7d`, `2w`. */

const UNIT_MS: Record<string, number> = {
  us: 0.001,
  µs: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h|d|w)\s*$/.exec(text)
  if (!match) return undefined
  const unit = UNIT_MS[match[2] as string]
  return unit === undefined ? undefined : Number(match[1]) * unit
}
