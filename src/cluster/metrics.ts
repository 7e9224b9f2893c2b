/**
 * One scrape for the whole cluster. A scrape reaches whichever worker the connection landed
 * on; that worker asks the primary, which collects every worker's registry (and its own: the
 * store writer's counters live there) and aggregates them with prom-client's
 * AggregatorRegistry, the tool made for node:cluster: counters and histograms summed, gauges
 * by each one's `aggregator` (sum by default; `portico_info` the first, breaker states the
 * most open). A worker that does not answer within COLLECT_MS is left out of that scrape.
 */
import type { Worker as ClusterWorker } from 'node:cluster'
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

interface Collection {
  parts: unknown[][]
  pending: Set<number>
  finish(): void
}

/** The primary's side: answers a worker's scrape with everyone's metrics. */
export class PrimaryMetrics {
  readonly #own: PromClient.Registry
  readonly #workers: () => readonly ClusterWorker[]
  readonly #collections = new Map<number, Collection>()
  #next = 0

  /** `own`: the primary's registry; `workers`: those serving (a starting one is left out). */
  constructor(own: PromClient.Registry, workers: () => readonly ClusterWorker[]) {
    this.#own = own
    this.#workers = workers
  }

  /** Handles a worker's metrics message; false when the message is not about metrics. */
  onMessage(worker: ClusterWorker, message: FromWorker): boolean {
    if (message.type === 'portico:metrics') {
      void this.#scrape().then(
        (text) => reply(worker, { type: 'portico:metrics', id: message.id, text }),
        (error: unknown) =>
          reply(worker, { type: 'portico:metrics', id: message.id, error: String(error) }),
      )
      return true
    }
    if (message.type === 'portico:metrics-part') {
      const collection = this.#collections.get(message.id)
      if (collection?.pending.delete(worker.id)) {
        collection.parts.push(message.metrics)
        if (collection.pending.size === 0) collection.finish()
      }
      return true
    }
    return false
  }

  async #scrape(): Promise<string> {
    const id = this.#next++
    const workers = this.#workers().filter((w) => w.isConnected())
    const parts = await new Promise<unknown[][]>((resolve) => {
      const collection: Collection = {
        parts: [],
        pending: new Set(workers.map((w) => w.id)),
        finish: () => {
          clearTimeout(timer)
          this.#collections.delete(id)
          resolve(collection.parts)
        },
      }
      const timer = setTimeout(collection.finish, COLLECT_MS)
      this.#collections.set(id, collection)
      for (const worker of workers) reply(worker, { type: 'portico:metrics-collect', id })
      if (workers.length === 0) collection.finish()
    })
    const own = await this.#own.getMetricsAsJSON()
    const prom = require('prom-client') as typeof PromClient
    // The primary's part first: aggregation takes each metric's help and rule from the first.
    const all = [own, ...parts] as Parameters<typeof prom.AggregatorRegistry.aggregate>[0]
    return prom.AggregatorRegistry.aggregate(all).metrics()
  }
}

function reply(worker: ClusterWorker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message, ignoreClosed)
}
