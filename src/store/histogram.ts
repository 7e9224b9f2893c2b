/**
 * Latency percentiles. `nearestRank` is the exact method (the value at rank ⌈p·n⌉ of the sorted
 * sample). `Histogram` keeps counts in log-linear buckets (exact below 128 µs, then 64 buckets
 * per power of two), so rollups can be merged across minutes and still answer any percentile
 * within 0.8% of the exact nearest-rank value.
 */

const EXACT_BELOW = 128
const SUB_BUCKETS = 64

/** Exact nearest-rank percentile of an ascending array; undefined when empty. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number | undefined {
  if (sorted.length === 0) return undefined
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)))
  return sorted[rank - 1]
}

/** Bucket index of a latency in microseconds. */
export function bucketOf(us: number): number {
  const value = Math.max(0, Math.floor(us))
  if (value < EXACT_BELOW) return value
  let exponent = Math.floor(Math.log2(value))
  // log2 rounds up just below large powers of two; correct it so the mantissa stays in range.
  if (2 ** exponent > value) exponent--
  const mantissa = Math.floor(value / 2 ** (exponent - 6))
  return EXACT_BELOW + (exponent - 7) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)
}

/** The range [low, high) of values a bucket holds. */
export function bucketRange(index: number): [number, number] {
  if (index < EXACT_BELOW) return [index, index + 1]
  const offset = index - EXACT_BELOW
  const exponent = Math.floor(offset / SUB_BUCKETS) + 7
  const mantissa = (offset % SUB_BUCKETS) + SUB_BUCKETS
  const width = 2 ** (exponent - 6)
  return [mantissa * width, (mantissa + 1) * width]
}

export class Histogram {
  readonly #counts = new Map<number, number>()
  #total = 0
  #min = Number.POSITIVE_INFINITY
  #max = 0

  get count(): number {
    return this.#total
  }

  add(us: number, times = 1): void {
    const index = bucketOf(us)
    this.#counts.set(index, (this.#counts.get(index) ?? 0) + times)
    this.#total += times
    if (us < this.#min) this.#min = us
    if (us > this.#max) this.#max = us
  }

  /** Adds another histogram's counts; min and max are passed separately (rollups store them). */
  merge(other: Histogram): void {
    for (const [index, count] of other.#counts) {
      this.#counts.set(index, (this.#counts.get(index) ?? 0) + count)
    }
    this.#total += other.#total
    if (other.#min < this.#min) this.#min = other.#min
    if (other.#max > this.#max) this.#max = other.#max
  }

  /** Nearest-rank percentile, estimated as the middle of its bucket and clamped to [min, max]. */
  percentile(p: number): number | undefined {
    if (this.#total === 0) return undefined
    const rank = Math.min(this.#total, Math.max(1, Math.ceil(p * this.#total)))
    const indexes = [...this.#counts.keys()].sort((a, b) => a - b)
    let seen = 0
    for (const index of indexes) {
      seen += this.#counts.get(index) ?? 0
      if (seen >= rank) {
        const [low, high] = bucketRange(index)
        const middle = high - low === 1 ? low : Math.round((low + high - 1) / 2)
        return Math.min(this.#max, Math.max(this.#min, middle))
      }
    }
    return this.#max
  }

  /** Compact text form: `index:count,index:count` (min/max are stored beside it). */
  serialize(): string {
    let out = ''
    for (const [index, count] of this.#counts) out += `${out ? ',' : ''}${index}:${count}`
    return out
  }

  static parse(text: string, min: number, max: number): Histogram {
    const histogram = new Histogram()
    histogram.mergeSerialized(text, min, max)
    return histogram
  }

  /**
   * Adds a serialized histogram's counts (and its min and max) in place: what merging a parsed
   * one does, without building it first (reports merge thousands of rollup rows).
   */
  mergeSerialized(text: string, min: number, max: number): void {
    let start = 0
    while (start < text.length) {
      let end = text.indexOf(',', start)
      if (end === -1) end = text.length
      const colon = text.indexOf(':', start)
      if (colon !== -1 && colon < end) {
        const index = Number(text.slice(start, colon))
        const count = Number(text.slice(colon + 1, end))
        if (Number.isFinite(index) && Number.isFinite(count)) {
          this.#counts.set(index, (this.#counts.get(index) ?? 0) + count)
          this.#total += count
        }
      }
      start = end + 1
    }
    if (min < this.#min) this.#min = min
    if (max > this.#max) this.#max = max
  }
}
