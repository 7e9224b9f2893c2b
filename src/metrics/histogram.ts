/**
 * A histogram with fixed buckets whose series are plain counters, registered in a prom-client
 * registry like prom-client's own metrics (same text, same JSON for the cluster aggregator).
 *
 * Why not prom-client's Histogram: its `observe`, even on a child from `labels()`, hashes the
 * label values into a new string on every call; with one observation per call that was a
 * measurable part of the metrics' cost per request (bench/reports/2026-12-01-perf2.md). Here a
 * caller resolves its series once and an observation is a bucket search and three additions.
 */
import type * as PromClient from 'prom-client'

type Labels = Record<string, string>

/** One label combination: counts per bucket (not cumulative; the last is above every bound). */
export class HistogramSeries {
  readonly labels: Labels
  readonly #bounds: readonly number[]
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
    this.count++
  }
}

/** What prom-client's registry reads from a metric (`get` for JSON, the other for text). */
interface MetricValue {
  value: number
  labels: Record<string, string | number>
  sharedLabels?: Labels
  metricName: string
}

export interface FixedHistogramOptions {
  name: string
  help: string
  buckets: readonly number[]
  registers: PromClient.Registry[]
}

export class FixedHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #buckets: readonly number[]
  readonly #series = new Map<string, HistogramSeries>()

  constructor(options: FixedHistogramOptions) {
    this.name = options.name
    this.help = options.help
    this.#buckets = options.buckets
    for (const registry of options.registers) {
      registry.registerMetric(this as unknown as PromClient.Metric)
    }
  }

  /** The series of these labels (made on first use; keep it and observe on it). */
  series(key: string, labels: Labels): HistogramSeries {
    let series = this.#series.get(key)
    if (series === undefined) {
      series = new HistogramSeries(labels, this.#buckets)
      this.#series.set(key, series)
    }
    return series
  }

  /** As prom-client's histograms give it for the text format: `le` first, then the labels. */
  getForPromString(): { name: string; help: string; type: string; values: MetricValue[] } {
    return { name: this.name, help: this.help, type: this.type, values: this.#values(false) }
  }

  /** As prom-client's histograms give it for JSON (the cluster aggregator): labels merged. */
  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.#values(true),
      aggregator: this.aggregator,
    }
  }

  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0)
      series.sum = 0
      series.count = 0
    }
  }

  #values(merged: boolean): MetricValue[] {
    const values: MetricValue[] = []
    const bucket = `${this.name}_bucket`
    const value = (metricName: string, v: number, series: HistogramSeries, extra: Labels) =>
      values.push(
        merged
          ? { value: v, labels: { ...extra, ...series.labels }, metricName }
          : { value: v, labels: extra, sharedLabels: series.labels, metricName },
      )
    for (const series of this.#series.values()) {
      let cumulative = 0
      this.#buckets.forEach((bound, i) => {
        cumulative += series.counts[i] as number
        value(bucket, cumulative, series, { le: String(bound) })
      })
      value(bucket, series.count, series, { le: '+Inf' })
      value(`${this.name}_sum`, series.sum, series, {})
      value(`${this.name}_count`, series.count, series, {})
    }
    return values
  }
}
