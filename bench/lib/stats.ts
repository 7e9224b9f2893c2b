/**
 * The bench's statistics: percentiles over raw samples (nearest rank, no interpolation),
 * medians across rounds, and the formatting used by the report. Pure functions.
 */

/** Nearest-rank percentile of unsorted samples (`p` in 0..100); NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return percentileSorted(sorted, p)
}

export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  const index = Math.min(sorted.length - 1, Math.max(0, rank - 1))
  return sorted[index] as number
}

/** Median of the finite values; NaN when none is finite. */
export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const middle = finite.length >> 1
  return finite.length % 2 === 1
    ? (finite[middle] as number)
    : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2
}

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Summarises latency samples (any unit; the bench uses µs). */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    count: sorted.length,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  }
}

/** `a / b`, NaN unless both are finite and `b` is not zero. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN
}

/** Median over rounds of one field of per-round records (NaN rounds ignored). */
export function medianOf<T>(rounds: readonly T[], pick: (round: T) => number): number {
  return median(rounds.map(pick))
}

/** Formats µs for humans: `87 µs`, `1.24 ms`, `—` for NaN. */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return '—'
  if (Math.abs(us) >= 1000) return `${(us / 1000).toFixed(2)} ms`
  return `${Math.round(us)} µs`
}

/** Like formatUs with an explicit sign: `+87 µs`, `−70 µs`. */
export function formatSignedUs(us: number): string {
  if (!Number.isFinite(us)) return '—'
  return `${us < 0 ? '−' : '+'}${formatUs(Math.abs(us))}`
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '—'
}

export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return '—'
  return Math.round(value).toLocaleString('en-US')
}

export function formatMb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : '—'
}
