/** Scrapes a Prometheus endpoint and reads samples through a real text-format parser. */
import { createRequire } from 'node:module'

interface ParsedSample {
  labels?: Record<string, string>
  value?: string
  buckets?: Record<string, string>
  count?: string
  sum?: string
}

interface ParsedFamily {
  name: string
  help: string
  type: string
  metrics: ParsedSample[]
}

const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => ParsedFamily[]

export interface HistogramSeries {
  count: number
  sum: number
  /** Cumulative count per `le` bound (as written, e.g. "0.5", "+Inf"). */
  buckets: Record<string, number>
}

export class Scrape {
  readonly text: string
  readonly families: ParsedFamily[]
  /**
   * The same text with histogram TYPE lines removed: the parser merges the buckets of every
   * labelled series of a histogram into one, so histograms are read as their plain
   * `_bucket`, `_sum` and `_count` samples, labels intact.
   */
  readonly #plain: ParsedFamily[]

  constructor(text: string) {
    this.text = text
    this.families = parse(text)
    this.#plain = parse(
      text
        .split('\n')
        .filter((line) => !/^# (TYPE \S+ histogram|HELP )/.test(line))
        .join('\n'),
    )
  }

  /** One labelled series of a histogram (`labels` exactly, `le` aside). */
  histogram(name: string, labels: Record<string, string>): HistogramSeries {
    const pick = (suffix: string) =>
      // Each label set's lines come together, so one name appears as several families.
      this.#plain
        .filter((f) => f.name === `${name}${suffix}`)
        .flatMap((f) => f.metrics)
        .filter((m) => {
          const { le: _le, ...rest } = m.labels ?? {}
          return sameLabels(rest, labels)
        })
    const buckets: Record<string, number> = {}
    for (const m of pick('_bucket')) buckets[m.labels?.le ?? ''] = Number(m.value)
    const count = pick('_count')
    if (count.length !== 1)
      throw new Error(`${count.length} series of ${name} with ${JSON.stringify(labels)}`)
    return { count: Number(count[0]?.value), sum: Number(pick('_sum')[0]?.value), buckets }
  }

  /** Sum of a histogram's `_count` or `_sum` over every series whose labels include `labels`. */
  histogramTotal(name: string, part: '_count' | '_sum', labels: Record<string, string> = {}) {
    return this.#plain
      .filter((f) => f.name === `${name}${part}`)
      .flatMap((f) => f.metrics)
      .filter((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value))
      .reduce((n, m) => n + Number(m.value), 0)
  }

  /**
   * Every counter and histogram sample (`_bucket`, `_sum`, `_count`) by series: name and
   * labels. What Prometheus checks for resets, one series at a time; a sum over series is
   * no such check (summed in another order, floats differ in the last bit).
   */
  counts(): Map<string, number> {
    const growing = new Set(
      this.families
        .filter((f) => f.type === 'COUNTER' || f.type === 'HISTOGRAM')
        .map((f) => f.name),
    )
    const grows = (name: string) =>
      growing.has(name) || growing.has(name.replace(/_(bucket|sum|count)$/, ''))
    const series = new Map<string, number>()
    for (const family of this.#plain) {
      if (!grows(family.name)) continue
      for (const m of family.metrics) {
        const labels = Object.entries(m.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
        series.set(JSON.stringify([family.name, labels]), Number(m.value))
      }
    }
    return series
  }

  family(name: string): ParsedFamily {
    const found = this.families.find((f) => f.name === name)
    if (found === undefined) throw new Error(`no metric family ${name} in the scrape`)
    return found
  }

  /** Samples of a family whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): ParsedSample[] {
    return this.family(name).metrics.filter((m) =>
      Object.entries(labels).every(([key, value]) => m.labels?.[key] === value),
    )
  }

  /** The value of the one sample matching exactly these labels (all of them). */
  value(name: string, labels: Record<string, string> = {}): number {
    const exact = this.family(name).metrics.filter((m) => sameLabels(m.labels ?? {}, labels))
    if (exact.length !== 1) {
      throw new Error(`${exact.length} samples of ${name} with ${JSON.stringify(labels)}`)
    }
    const sample = exact[0] as ParsedSample
    return Number(sample.value ?? sample.count)
  }

  /** Sum over every sample of a family matching `labels` (a subset). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples(name, labels).reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0)
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k])
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
  if (response.status !== 200) throw new Error(`scrape of ${url}: HTTP ${response.status}`)
  return new Scrape(await response.text())
}
