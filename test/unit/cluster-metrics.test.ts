/**
 * cluster/metrics: the primary's aggregation of the workers' registries, with stub workers
 * (each a real prom-client registry) that answer a collection, or do not, or exit. What a
 * scrape returns of counters and histograms never goes back: a worker that does not answer
 * is counted with its last answer, one that exits stays counted (its replacement starts from
 * 0); gauges are the live workers' that answered. (A real cluster: workers.test.ts.)
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import type * as PromClient from 'prom-client'
import type { ToWorker } from '../../src/cluster/messages.ts'
import { type MetricsWorker, PrimaryMetrics } from '../../src/cluster/metrics.ts'
import { Scrape } from '../helpers/prometheus.ts'

const prom = createRequire(import.meta.url)('prom-client') as typeof PromClient

/** A worker process as the primary sees it, with its own registry. */
class StubWorker implements MetricsWorker {
  readonly id: number
  readonly registry = new prom.Registry()
  readonly requests: PromClient.Counter
  readonly duration: PromClient.Histogram
  readonly connections: PromClient.Gauge
  /** Whether it answers the primary's collections (a paused or busy worker does not). */
  answering = true
  dead = false
  primary: PrimaryMetrics | undefined
  #next = 0
  readonly #waiting = new Map<number, (text: string) => void>()

  constructor(id: number, processMetrics = false) {
    this.id = id
    const registers = [this.registry]
    this.requests = new prom.Counter({ name: 'portico_requests_total', help: 'h', registers })
    this.duration = new prom.Histogram({
      name: 'portico_request_duration_seconds',
      help: 'h',
      buckets: [0.1, 1],
      registers,
    })
    this.connections = new prom.Gauge({ name: 'portico_backend_connections', help: 'h', registers })
    if (processMetrics) prom.collectDefaultMetrics({ register: this.registry })
  }

  isConnected(): boolean {
    return !this.dead
  }

  isDead(): boolean {
    return this.dead
  }

  send(message: ToWorker, callback: (error: Error | null) => void): boolean {
    if (message.type === 'portico:metrics-collect' && this.answering) void this.answer(message.id)
    if (message.type === 'portico:metrics' && message.text !== undefined)
      this.#waiting.get(message.id)?.(message.text)
    callback(null)
    return true
  }

  /** Its part of collection `id`, as WorkerMetrics sends it (IPC hands over a copy). */
  async answer(id: number): Promise<void> {
    const metrics = structuredClone(await this.registry.getMetricsAsJSON())
    this.primary?.onMessage(this, { type: 'portico:metrics-part', id, metrics })
  }

  /** A scrape that reached this worker: it asks the primary. */
  scrape(): Promise<Scrape> {
    const id = this.#next++
    return new Promise((resolve) => {
      this.#waiting.set(id, (text) => resolve(new Scrape(text)))
      this.primary?.onMessage(this, { type: 'portico:metrics', id })
    })
  }
}

/** A primary with its own registry (it has the families too, at 0) and these workers. */
function primaryOf(workers: StubWorker[], collectMs = 50): PrimaryMetrics {
  const own = new prom.Registry()
  new prom.Counter({ name: 'portico_requests_total', help: 'h', registers: [own] })
  const primary = new PrimaryMetrics(own, () => workers, collectMs)
  for (const worker of workers) worker.primary = primary
  return primary
}

/** A worker with `requests` counted, each observed at 0.05 s, and `connections` open. */
function counted(id: number, requests: number, connections: number, processMetrics = false) {
  const worker = new StubWorker(id, processMetrics)
  worker.requests.inc(requests)
  for (let i = 0; i < requests; i++) worker.duration.observe(0.05)
  worker.connections.set(connections)
  return worker
}

function durations(scrape: Scrape): { count: number; below: number | undefined } {
  const series = scrape.histogram('portico_request_duration_seconds', {})
  return { count: series.count, below: series.buckets['0.1'] }
}

describe('PrimaryMetrics (cluster scrapes)', () => {
  it('counts a worker that does not answer in time with its last answer, without its gauges', async () => {
    const a = counted(1, 60, 2)
    const b = counted(2, 40, 3)
    primaryOf([a, b])
    const first = await a.scrape()
    assert.equal(first.sum('portico_requests_total'), 100)
    assert.deepEqual(durations(first), { count: 100, below: 100 })
    assert.equal(first.sum('portico_backend_connections'), 5)

    b.answering = false
    b.requests.inc(5) // counted after its last answer: not seen while it is silent
    a.requests.inc(1)
    const silent = await a.scrape()
    assert.equal(silent.sum('portico_requests_total'), 101, 'b counted with its last answer')
    assert.deepEqual(durations(silent), { count: 100, below: 100 })
    assert.equal(silent.sum('portico_backend_connections'), 2, "only a's gauge: b said nothing")

    b.answering = true
    const back = await b.scrape()
    assert.equal(back.sum('portico_requests_total'), 106)
    assert.equal(back.sum('portico_backend_connections'), 5)
  })

  it('keeps what an exited worker counted; its replacement counts from 0, its gauges are gone', async () => {
    const a = counted(1, 60, 2, true)
    const b = counted(2, 40, 3, true)
    const workers = [a, b]
    const primary = primaryOf(workers)
    const before = await a.scrape()
    assert.equal(before.sum('portico_requests_total'), 100)
    const cpuBefore = before.sum('process_cpu_seconds_total')

    b.dead = true
    primary.exited(b)
    // Its slot's new process: another worker id, from 0.
    const c = counted(3, 7, 1, true)
    c.primary = primary
    workers[1] = c
    const after = await a.scrape()
    assert.equal(after.sum('portico_requests_total'), 107, 'a + b as last seen + c')
    assert.deepEqual(durations(after), { count: 107, below: 107 })
    assert.equal(after.sum('portico_backend_connections'), 3, "a's and c's, not b's")
    assert.ok(after.sum('process_cpu_seconds_total') >= cpuBefore, 'process counters too')

    // An answer of the dead worker's that arrives late is not counted a second time.
    await b.answer(1000)
    const later = await c.scrape()
    assert.equal(later.sum('portico_requests_total'), 107)

    // The next one to exit adds to the same retired total.
    c.dead = true
    primary.exited(c)
    workers[1] = counted(4, 0, 0)
    assert.equal((await a.scrape()).sum('portico_requests_total'), 107)
  })

  it('answers a scrape as soon as a worker it waited for exits, counting its last answer', async () => {
    const a = counted(1, 60, 2)
    const b = counted(2, 40, 3)
    const primary = primaryOf([a, b], 60_000)
    assert.equal((await a.scrape()).sum('portico_requests_total'), 100)
    b.answering = false
    const scrape = a.scrape()
    await new Promise((resolve) => setTimeout(resolve, 50))
    b.dead = true
    primary.exited(b)
    const started = Date.now()
    const answer = await scrape
    assert.ok(Date.now() - started < 1000, 'not the 60 s collection time')
    assert.equal(answer.sum('portico_requests_total'), 100)
    assert.equal(answer.sum('portico_backend_connections'), 2)
  })

  it('never publishes a lower histogram sum when an exited worker moves to the retired total', async () => {
    // Float sums depend on their order: (0.1 + 0.1) + 0.35 is 0.55, (0.1 + 0.35) + 0.1 one ulp
    // less. Prometheus takes any decrease of a _sum for a counter reset.
    const workers = [0.1, 0.1, 0.35].map((seconds, i) => {
      const worker = new StubWorker(i + 1)
      worker.duration.observe(seconds)
      return worker
    })
    const [a, b] = workers as [StubWorker, StubWorker, StubWorker]
    const primary = primaryOf(workers)
    const before = (await a.scrape()).histogram('portico_request_duration_seconds', {}).sum
    b.dead = true
    primary.exited(b)
    workers.splice(1, 1)
    const after = (await a.scrape()).histogram('portico_request_duration_seconds', {}).sum
    assert.ok(after >= before, `${after} < ${before}`)
    assert.equal(after, before)
  })
})
