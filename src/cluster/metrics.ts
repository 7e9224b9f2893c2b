/**
 * One scrape for the whole cluster. A scrape reaches whichever worker the connection landed
 * on; that worker asks the primary, which collects every worker's registry (and its own: the
 * store writer's counters live there) and aggregates them with prom-client's
 * AggregatorRegistry, the tool made for node:cluster: counters and histograms summed, gauges
 * by each one's `aggregator` (sum by default; `portico_info` the first, breaker states the
 * most open).
 *
 * Counters (and histograms' `_count`, `_sum`, `_bucket`) never go back over the primary's life:
 * Prometheus takes any decrease for a reset and rate()/increase() then count traffic that never
 * happened. A sum over the workers that answered did go back: a worker slow to answer (more
 * than COLLECT_MS) was left out of that scrape, and a worker that died took its counts with it
 * (its replacement starts from 0). So the primary keeps, per worker process, the counters and
 * histograms of its newest answer (by cluster worker id, new at each fork: a process started
 * again in a slot is another worker, its zeros are not mistaken for the old one's counts):
 * - a worker that does not answer in time is counted with its newest answer;
 * - a worker that exits has its newest answer folded into one retired total, added to every
 *   later scrape (what it counted after that answer is lost, never subtracted).
 * Gauges say what is now: only the workers that answered give theirs (a dead or silent worker's
 * are left out). Process metrics follow the same rule by type: process_cpu_seconds_total and
 * nodejs_gc_duration_seconds add up every worker's life, memory and handles are live ones'.
 * Memory: one answer per worker process alive, and one retired total (its series are the
 * union of the dead workers', each bounded by the labels' caps).
 */
import { createRequire } from 'node:module'
import type * as PromClient from 'prom-client'
import type { SharedMetrics } from '../metrics/metrics.ts'
import { type FromWorker, isPorticoMessage, type ToWorker } from './messages.ts'
import { ignoreClosed } from './store-link.ts'

const COLLECT_MS = 2000
/** A worker waits a little longer than the primary's collection for the answer. */
const ANSWER_MS = COLLECT_MS + 3000

const require = createRequire(import.meta.url)

/** A worker's side: its registry answers the primary's collections; its scrapes ask the primary. */
export class WorkerMetrics implements SharedMetrics {
  #registry: PromClient.Registry | undefined
  #next = 0
  readonly #waiting = new Map<number, (reply: { text?: string; error?: string }) => void>()

  constructor() {
    process.on('message', (message: unknown) => {
      if (!isPorticoMessage<ToWorker>(message)) return
      if (message.type === 'portico:metrics-collect') void this.#answer(message.id)
      else if (message.type === 'portico:metrics') this.#waiting.get(message.id)?.(message)
    })
  }

  join(registry: PromClient.Registry): void {
    this.#registry = registry
  }

  render(): Promise<string> {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle({ error: 'the primary did not answer' }), ANSWER_MS)
      const settle = (reply: { text?: string; error?: string }) => {
        clearTimeout(timer)
        this.#waiting.delete(id)
        if (reply.text !== undefined) resolve(reply.text)
        else reject(new Error(`cluster metrics: ${reply.error ?? 'no answer'}`))
      }
      this.#waiting.set(id, settle)
      if (!send({ type: 'portico:metrics', id })) settle({ error: 'the primary is gone' })
    })
  }

  async #answer(id: number): Promise<void> {
    const metrics = (await this.#registry?.getMetricsAsJSON()) ?? []
    send({ type: 'portico:metrics-part', id, metrics })
  }
}

function send(message: FromWorker): boolean {
  if (!process.connected || process.send === undefined) return false
  process.send(message, ignoreClosed)
  return true
}

/** A metric family as `getMetricsAsJSON` gives it, and the IPC channel carries it. */
interface Family {
  name: string
  help: string
  type: string
  aggregator?: string
  values: Sample[]
}

interface Sample {
  value: number
  labels: Record<string, string | number>
  /** A histogram's `_bucket`, `_sum` or `_count`. */
  metricName?: string
}

/** What the primary's metrics use of a cluster worker (tests give a stub). */
export interface MetricsWorker {
  /** Node's cluster worker id: a new one for each fork, so a slot's new process has its own. */
  readonly id: number
  isConnected(): boolean
  isDead(): boolean
  send(message: ToWorker, callback: (error: Error | null) => void): boolean
}

/** A worker's newest answer: the collection it answered, and its counters and histograms. */
interface Snapshot {
  collection: number
  counts: Family[]
}

interface Collection {
  /** The answers to this collection, by worker id. */
  parts: Map<number, Family[]>
  pending: Set<number>
  finish(): void
}

/** The primary's side: answers a worker's scrape with everyone's metrics (see the top). */
export class PrimaryMetrics {
  readonly #own: PromClient.Registry
  readonly #workers: () => readonly MetricsWorker[]
  readonly #collectMs: number
  readonly #collections = new Map<number, Collection>()
  /** Each live worker's newest answer, by worker id (removed when it exits). */
  readonly #last = new Map<number, Snapshot>()
  /** What the workers that exited had counted, summed. */
  readonly #retired = new Totals()
  /** The highest value published for each counter and histogram series. */
  readonly #published = new Highest()
  #next = 0

  /**
   * `own`: the primary's registry; `workers`: those serving (a starting one is left out);
   * `collectMs`: how long a scrape waits for the workers' answers.
   */
  constructor(
    own: PromClient.Registry,
    workers: () => readonly MetricsWorker[],
    collectMs = COLLECT_MS,
  ) {
    this.#own = own
    this.#workers = workers
    this.#collectMs = collectMs
  }

  /** Handles a worker's metrics message; false when the message is not about metrics. */
  onMessage(worker: MetricsWorker, message: FromWorker): boolean {
    if (message.type === 'portico:metrics') {
      void this.#scrape().then(
        (text) => reply(worker, { type: 'portico:metrics', id: message.id, text }),
        (error: unknown) =>
          reply(worker, { type: 'portico:metrics', id: message.id, error: String(error) }),
      )
      return true
    }
    if (message.type === 'portico:metrics-part') {
      // An exited worker's counts are in the retired total already: not twice.
      if (worker.isDead()) return true
      const families = message.metrics.filter(isFamily)
      // A late answer (its scrape went on without it) is still newer than the one kept.
      const kept = this.#last.get(worker.id)
      if (kept === undefined || kept.collection < message.id)
        this.#last.set(worker.id, { collection: message.id, counts: families.filter(counts) })
      const collection = this.#collections.get(message.id)
      if (collection?.pending.delete(worker.id)) {
        collection.parts.set(worker.id, families)
        if (collection.pending.size === 0) collection.finish()
      }
      return true
    }
    return false
  }

  /**
   * A worker exited (ClusterPrimary calls this for each): its newest answer joins the retired
   * total, and the scrapes waiting for it wait no longer.
   */
  exited(worker: MetricsWorker): void {
    const last = this.#last.get(worker.id)
    this.#last.delete(worker.id)
    if (last !== undefined) this.#retired.add(last.counts)
    for (const collection of this.#collections.values()) {
      if (collection.pending.delete(worker.id) && collection.pending.size === 0) collection.finish()
    }
  }

  async #scrape(): Promise<string> {
    const id = this.#next++
    const workers = this.#workers().filter((w) => w.isConnected())
    const parts = await new Promise<Map<number, Family[]>>((resolve) => {
      const collection: Collection = {
        parts: new Map(),
        pending: new Set(workers.map((w) => w.id)),
        finish: () => {
          clearTimeout(timer)
          this.#collections.delete(id)
          resolve(collection.parts)
        },
      }
      const timer = setTimeout(collection.finish, this.#collectMs)
      this.#collections.set(id, collection)
      for (const worker of workers) reply(worker, { type: 'portico:metrics-collect', id })
      if (workers.length === 0) collection.finish()
    })
    const own = (await this.#own.getMetricsAsJSON()) as unknown as Family[]
    // Gauges of the workers that answered and are still there; counts of every worker alive
    // (its newest answer: this one's, or a later one's), and of those gone.
    const gauges = [...parts].flatMap(([worker, families]) =>
      this.#last.has(worker) ? [families.filter((f) => !counts(f))] : [],
    )
    const alive = [...this.#last.values()].map((snapshot) => snapshot.counts)
    // The primary's part first: aggregation takes each metric's help and rule from the first.
    const all = [own, ...gauges, ...alive, this.#retired.families()]
    const merged = (await aggregate(all).getMetricsAsJSON()) as unknown as Family[]
    // Summed in another order (a worker's counts moved to the retired total), a float sum can
    // come out one ulp lower: held at the highest value published, it never goes back.
    this.#published.hold(merged)
    return aggregate([merged]).metrics()
  }
}

/** prom-client's cluster aggregation of these registries' metrics. */
function aggregate(parts: readonly Family[][]): PromClient.Registry {
  const prom = require('prom-client') as typeof PromClient
  return prom.AggregatorRegistry.aggregate(
    parts as unknown as Parameters<typeof prom.AggregatorRegistry.aggregate>[0],
  )
}

/** Counters and histograms: what only grows in a process (summaries have none here). */
function counts(family: Family): boolean {
  return family.type === 'counter' || family.type === 'histogram'
}

function isFamily(value: unknown): value is Family {
  if (typeof value !== 'object' || value === null) return false
  const family = value as Partial<Family>
  return (
    typeof family.name === 'string' &&
    typeof family.type === 'string' &&
    Array.isArray(family.values)
  )
}

/** The sum of the counters and histograms of workers that exited. */
class Totals {
  readonly #families = new Map<string, { family: Family; samples: Map<string, Sample> }>()

  add(families: readonly Family[]): void {
    for (const family of families) {
      let total = this.#families.get(family.name)
      if (total === undefined) {
        const { values: _values, ...about } = family
        total = { family: { ...about, values: [] }, samples: new Map() }
        this.#families.set(family.name, total)
      }
      for (const sample of family.values) {
        const key = sampleKey(sample)
        const sum = total.samples.get(key)
        if (sum === undefined) total.samples.set(key, { ...sample })
        else sum.value += sample.value
      }
    }
  }

  families(): Family[] {
    return [...this.#families.values()].map(({ family, samples }) => ({
      ...family,
      values: [...samples.values()],
    }))
  }
}

/**
 * The highest value published of each counter and histogram series (one number per series:
 * bounded as the series are, by the labels' caps).
 */
class Highest {
  readonly #values = new Map<string, number>()

  /** Raises each count of `families` that is below what was published before to that value. */
  hold(families: readonly Family[]): void {
    for (const family of families) {
      if (!counts(family)) continue
      for (const sample of family.values) {
        const key = `${family.name}\u0000${sampleKey(sample)}`
        const before = this.#values.get(key)
        if (before !== undefined && sample.value < before) sample.value = before
        else this.#values.set(key, sample.value)
      }
    }
  }
}

/** A series' identity, as prom-client's aggregation groups them (labels in any order). */
function sampleKey(sample: Sample): string {
  const labels = Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return JSON.stringify([sample.metricName ?? '', labels])
}

function reply(worker: MetricsWorker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message, ignoreClosed)
}
