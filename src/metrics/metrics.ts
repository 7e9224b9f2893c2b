/**
 * Prometheus metrics (prom-client): a Sink that counts every ExchangeEvent (both modes, one code
 * path) plus gauges read when Prometheus scrapes (in-flight calls, sessions, backend health,
 * breakers, caches, the event pipeline, process metrics). Nothing here runs on the request
 * path except the in-flight counter; label values are bounded (labels.ts) and the number of
 * label combinations is capped too. prom-client is loaded only when metrics are on.
 */
import { createRequire } from 'node:module'
import type * as PromClient from 'prom-client'
import type { Sink } from '../observe/bus.ts'
import type { ExchangeEvent, PorticoEvent } from '../observe/event.ts'
import type { PipeStats, StatusBoard } from '../observe/status.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { platformOf } from '../store/platform.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { FixedHistogram, type HistogramSeries } from './histogram.ts'
import { methodLabel, TargetLabels } from './labels.ts'
import { Readings } from './readings.ts'

/** Buckets for MCP latencies: a cached answer (sub-ms) to a long tool call (minutes). */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
]

/** Label combinations kept per metric; beyond it names fold into `other`. */
const MAX_SERIES = 20_000

export interface BackendGauge {
  name: string
  transport: string
  up: boolean
  restarts: number
  connections: number
  consecutiveFailures?: number
}

/** What the metrics read at scrape time; every part optional (transparent mode has fewer). */
export interface MetricSources {
  /** HTTP exchanges in progress (POSTs, open streams). */
  exchangesInFlight?(): number
  sessions?(): number
  backends?(): BackendGauge[]
  bus?(): { published: number; dropped: number; queued: number }
  /** Sinks and exporters with counters (store, webhook, trace exporter). */
  pipes?(): Array<{ name: string; stats: PipeStats }>
  status?: StatusBoard
}

/**
 * Metrics of several processes answered as one scrape (cluster workers, src/cluster/): each
 * process joins with its registry, and a scrape, whichever process it reaches, answers every
 * process's metrics aggregated (prom-client's AggregatorRegistry rules: counters and
 * histograms summed, gauges as each one's `aggregator` says).
 */
export interface SharedMetrics {
  /** Called once, with this process's registry. */
  join(registry: PromClient.Registry): void
  /** The text a scrape answers. */
  render(): Promise<string>
}

export interface MetricsOptions {
  /** Set in a cluster: a scrape answers every process's metrics, aggregated. */
  shared?: SharedMetrics
  maxTargets: number
  processMetrics: boolean
  version: string
  mode: 'transparent' | 'gateway'
  proxy: string
  /** Also mcp-proxy's two series, for its dashboards (`mcp_proxy_names`). */
  mcpProxyNames?: boolean
}

/**
 * The counts of one label combination, kept as plain numbers and read when scraped: counting
 * through prom-client's children hashed the label values into a new string at every
 * increment, four times per call (bench/reports/2026-12-01-perf2.md).
 */
interface Series {
  labels: Record<string, string>
  requests: number
  duration: HistogramSeries
  bytes: ByteCounts
}

/** Bytes in and out per method and backend (several series share one). */
interface ByteCounts {
  labels: Record<string, string>
  in: number
  out: number
}

const require = createRequire(import.meta.url)

export class PorticoMetrics {
  readonly registry: PromClient.Registry
  readonly #prom: typeof PromClient
  readonly #targets: TargetLabels
  readonly #series = new Map<string, Series>()
  /** The series the last call counted into (see `#seriesFor`). */
  #last: Series | undefined
  readonly #bytes = new Map<string, ByteCounts>()
  /** Session id → client platform, bounded (the oldest sessions are forgotten first). */
  readonly #platforms = new BoundedMap<string, string>(10_000)
  readonly #duration: FixedHistogram
  /** mcp-proxy's duration series, by method (`mcp_proxy_names`); undefined when off. */
  readonly #mcpProxyDuration: FixedHistogram | undefined
  #sources: MetricSources = {}
  /** Each counter read through Readings, read without publishing (`readCounts`). */
  readonly #readers: Array<() => void> = []
  #inFlight = 0
  readonly #shared: SharedMetrics | undefined

  constructor(options: MetricsOptions) {
    this.#prom = require('prom-client') as typeof PromClient
    const prom = this.#prom
    const registry = new prom.Registry()
    this.registry = registry
    this.#targets = new TargetLabels(options.maxTargets)
    const registers = [registry]
    const series = this.#series
    new prom.Counter({
      name: 'portico_requests_total',
      help: 'MCP messages and HTTP exchanges handled, by method, tool/prompt/resource, backend, client platform, outcome and Portico reason.',
      labelNames: ['method', 'target', 'backend', 'platform', 'outcome', 'reason'],
      registers,
      collect() {
        this.reset()
        for (const s of series.values()) this.inc(s.labels, s.requests)
      },
    })
    this.#duration = new FixedHistogram({
      name: 'portico_request_duration_seconds',
      help: 'Time from receiving a message to the end of its answer (a stream to its last event).',
      buckets: LATENCY_BUCKETS,
      registers,
    })
    const bytes = this.#bytes
    new prom.Counter({
      name: 'portico_received_bytes_total',
      help: 'Request bytes received from clients.',
      labelNames: ['method', 'backend'],
      registers,
      collect() {
        this.reset()
        for (const b of bytes.values()) this.inc(b.labels, b.in)
      },
    })
    new prom.Counter({
      name: 'portico_sent_bytes_total',
      help: 'Answer bytes sent to clients.',
      labelNames: ['method', 'backend'],
      registers,
      collect() {
        this.reset()
        for (const b of bytes.values()) this.inc(b.labels, b.out)
      },
    })
    new prom.Gauge({
      name: 'portico_info',
      help: 'Always 1: the running Portico version, mode and proxy name.',
      labelNames: ['version', 'mode', 'proxy'],
      registers,
      aggregator: 'first',
    }).set({ version: options.version, mode: options.mode, proxy: options.proxy }, 1)
    this.#mcpProxyDuration = options.mcpProxyNames ? this.#mcpProxySeries(registers) : undefined
    this.#scraped(registers)
    if (options.processMetrics) prom.collectDefaultMetrics({ register: registry })
    this.#shared = options.shared
    this.#shared?.join(registry)
  }

  /**
   * Reads the counts of sources a reload may replace without publishing them: called just
   * before and just after a reload or an admin change swaps them (StatusBoard `swapping`), so
   * the new sources' zeros are seen as such
   * and the old ones' counts carried over (metrics/readings.ts), even when a new source counts
   * past them before the next scrape.
   */
  readCounts(): void {
    for (const read of this.#readers) read()
  }

  /** Connects the scrape-time sources (once the mode and sinks exist). */
  observe(sources: MetricSources): void {
    this.#sources = sources
  }

  get contentType(): string {
    return this.registry.contentType
  }

  render(): Promise<string> {
    return this.#shared?.render() ?? this.registry.metrics()
  }

  /** Counts calls in flight: one increment, and a decrement when the answer ends. */
  readonly middleware: Middleware = (call, next) => {
    this.#inFlight++
    call.lifetime.onEnd(this.#ended)
    return next(call)
  }

  readonly #ended = (): void => {
    this.#inFlight--
  }

  /** The sink that counts exchanges. */
  readonly sink: Sink = {
    name: 'metrics',
    write: (events) => this.#write(events),
    close: async () => {},
  }

  #write(events: readonly PorticoEvent[]): void {
    for (const event of events) {
      if (event.type === 'exchange') this.#count(event)
    }
  }

  #count(event: ExchangeEvent): void {
    const method = methodLabel(event.method)
    // Only a success admits a new name: servers answer unknown tools with isError results too.
    const target = this.#targets.label(event.name, event.outcome === 'ok')
    const backend = event.backend ?? ''
    const platform = this.#platformOf(event)
    const reason = event.reason ?? ''
    const series = this.#seriesFor(method, target, backend, platform, event.outcome, reason)
    series.requests++
    series.duration.observe(event.durationUs / 1_000_000)
    if (this.#mcpProxyDuration !== undefined && isMcpRequest(method)) {
      this.#mcpProxyDuration.series(method, { method }).observe(event.durationUs / 1_000_000)
    }
    series.bytes.in += event.bytesIn
    series.bytes.out += event.bytesOut
  }

  /** A session's platform is learned from its `initialize` (later calls name no client). */
  #platformOf(event: ExchangeEvent): string {
    if (event.client !== undefined) {
      const platform = platformOf(event.client.name, event.userAgent)
      if (event.sessionId !== undefined) this.#platforms.set(event.sessionId, platform)
      return platform
    }
    const known = event.sessionId === undefined ? undefined : this.#platforms.get(event.sessionId)
    return known ?? platformOf(undefined, event.userAgent)
  }

  #seriesFor(
    method: string,
    target: string,
    backend: string,
    platform: string,
    outcome: string,
    reason: string,
  ): Series {
    // Consecutive calls mostly share their labels: comparing six short strings is cheaper than
    // building and hashing the key (0.65 µs per call in S9's profile, perf2 step 22).
    const last = this.#last?.labels
    if (
      last?.method === method &&
      last.target === target &&
      last.backend === backend &&
      last.platform === platform &&
      last.outcome === outcome &&
      last.reason === reason
    ) {
      return this.#last as Series
    }
    const key = `${method}\u0000${target}\u0000${backend}\u0000${platform}\u0000${outcome}\u0000${reason}`
    let series = this.#series.get(key)
    if (series !== undefined) {
      this.#last = series
      return series
    }
    if (this.#series.size >= MAX_SERIES) {
      // Full: the name folds into `other`, then the backend (names churned through the admin
      // API are not bounded by the file), and last every label, so the count stays bounded.
      if (target !== 'other' && target !== '') {
        return this.#seriesFor(method, 'other', backend, platform, outcome, reason)
      }
      if (backend !== 'other' && backend !== '') {
        return this.#seriesFor(method, target, 'other', platform, outcome, reason)
      }
      if (method !== 'other' || platform !== 'other' || reason !== 'other') {
        return this.#seriesFor('other', target, backend, 'other', outcome, 'other')
      }
    }
    series = {
      labels: { method, target, backend, platform, outcome, reason },
      requests: 0,
      duration: this.#duration.series(`${method}\u0000${target}\u0000${backend}\u0000${outcome}`, {
        method,
        target,
        backend,
        outcome,
      }),
      bytes: this.#bytesOf(method, backend),
    }
    this.#series.set(key, series)
    this.#last = series
    return series
  }

  /**
   * mcp-proxy's series: its requests counter, by method and `ok`/`error` (a JSON-RPC error; an
   * `isError` tool result is `ok` there), read from Portico's own counts when scraped; and its
   * duration by method, as a histogram with Portico's buckets (mcp-proxy's exporter renders a
   * summary: `_count` and `_sum` match, quantile series do not exist here).
   */
  #mcpProxySeries(registers: PromClient.Registry[]): FixedHistogram {
    const series = this.#series
    new this.#prom.Counter({
      name: 'mcp_proxy_requests_total',
      help: "mcp-proxy's requests counter: MCP requests by method and status (ok, or error for a JSON-RPC error).",
      labelNames: ['method', 'status'],
      registers,
      collect() {
        this.reset()
        for (const s of series.values()) {
          if (!isMcpRequest(s.labels.method as string)) continue
          const status =
            s.labels.outcome === 'ok' || s.labels.outcome === 'tool_error' ? 'ok' : 'error'
          this.inc({ method: s.labels.method as string, status }, s.requests)
        }
      },
    })
    return new FixedHistogram({
      name: 'mcp_proxy_request_duration_seconds',
      help: "mcp-proxy's request duration, by method.",
      buckets: LATENCY_BUCKETS,
      registers,
    })
  }

  #bytesOf(method: string, backend: string): ByteCounts {
    const key = `${method}\u0000${backend}`
    let counts = this.#bytes.get(key)
    if (counts === undefined) {
      counts = { labels: { method, backend }, in: 0, out: 0 }
      this.#bytes.set(key, counts)
    }
    return counts
  }

  /** Gauges and counters whose values are read from their sources when scraped. */
  #scraped(registers: PromClient.Registry[]): void {
    const prom = this.#prom
    const gauge = (
      name: string,
      help: string,
      labelNames: string[],
      collect: (g: PromClient.Gauge) => void,
      // Across cluster workers; summing suits counts (in flight, entries, pending).
      aggregator: PromClient.Aggregator = 'sum',
    ) =>
      new prom.Gauge({
        name,
        help,
        labelNames,
        registers,
        aggregator,
        collect() {
          this.reset()
          collect(this)
        },
      })
    // Read from sources a reload may replace: published through Readings, never going back.
    const counter = (
      name: string,
      help: string,
      labelNames: string[],
      collect: (add: (value: number, labels?: Record<string, string>) => void) => void,
    ) => {
      const readings = new Readings(MAX_SERIES)
      const read = (publish?: (total: number, labels: Record<string, string>) => void) =>
        collect((value, labels = {}) => {
          const key = labelNames.map((label) => labels[label]).join('\u0000')
          const total = readings.published(key, value)
          publish?.(total, labels)
        })
      this.#readers.push(() => read())
      return new prom.Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset()
          read((total, labels) => this.inc(labels, total))
        },
      })
    }
    gauge(
      'portico_calls_in_flight',
      'JSON-RPC messages whose answer is not complete yet.',
      [],
      (g) => g.set(this.#inFlight),
    )
    gauge(
      'portico_exchanges_in_flight',
      'HTTP exchanges in progress, open streams included.',
      [],
      (g) => g.set(this.#sources.exchangesInFlight?.() ?? 0),
    )
    gauge('portico_sessions_active', 'Client sessions open (gateway mode).', [], (g) => {
      const sessions = this.#sources.sessions?.()
      if (sessions !== undefined) g.set(sessions)
    })
    gauge(
      'portico_backend_up',
      '1 when the backend serves (or waits to start lazily), else 0.',
      ['backend', 'transport'],
      (g) => {
        for (const b of this.#sources.backends?.() ?? [])
          g.set({ backend: b.name, transport: b.transport }, b.up ? 1 : 0)
      },
    )
    gauge('portico_backend_connections', 'Open connections to each backend.', ['backend'], (g) => {
      for (const b of this.#sources.backends?.() ?? []) g.set({ backend: b.name }, b.connections)
    })
    counter(
      'portico_backend_restarts_total',
      'Restarts of each backend (stdio children).',
      ['backend'],
      (add) => {
        for (const b of this.#sources.backends?.() ?? []) add(b.restarts, { backend: b.name })
      },
    )
    gauge(
      'portico_circuit_breaker_state',
      'Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.',
      ['backend'],
      (g) => {
        for (const b of this.#sources.status?.breakers() ?? [])
          g.set({ backend: b.backend }, b.state === 'closed' ? 0 : b.state === 'half_open' ? 1 : 2)
      },
      // Each worker has its own breaker: a cluster shows the most open one.
      'max',
    )
    counter('portico_cache_hits_total', 'Answers served from a cache.', ['backend'], (add) => {
      for (const s of this.#sources.status?.caches() ?? []) add(s.hits, { backend: s.backend })
    })
    counter(
      'portico_cache_misses_total',
      'Cacheable calls not found in a cache.',
      ['backend'],
      (add) => {
        for (const s of this.#sources.status?.caches() ?? []) add(s.misses, { backend: s.backend })
      },
    )
    gauge('portico_cache_entries', 'Entries held in each in-memory cache.', ['backend'], (g) => {
      for (const s of this.#sources.status?.caches() ?? []) {
        if (s.shared !== true) g.set({ backend: s.backend }, s.entries)
      }
    })
    // One set in Redis for every worker: summed, N workers showed it N times over. Each
    // reports Redis's count at its last store; the largest is the freshest of them.
    gauge(
      'portico_shared_cache_entries',
      'Entries in each cache kept in Redis ([shared] caches), as Redis last counted them.',
      ['backend'],
      (g) => {
        for (const s of this.#sources.status?.caches() ?? []) {
          if (s.shared === true) g.set({ backend: s.backend }, s.entries)
        }
      },
      'max',
    )
    counter('portico_retries_total', 'Retried upstream attempts.', ['backend'], (add) => {
      for (const s of this.#sources.status?.retries() ?? []) add(s.retries, { backend: s.backend })
    })
    counter(
      'portico_events_published_total',
      'Exchange events published to the sinks.',
      [],
      (add) => add(this.#sources.bus?.().published ?? 0),
    )
    counter(
      'portico_events_dropped_total',
      'Exchange events dropped because the event queue was full.',
      [],
      (add) => add(this.#sources.bus?.().dropped ?? 0),
    )
    gauge('portico_events_queued', 'Exchange events waiting for the sinks.', [], (g) =>
      g.set(this.#sources.bus?.().queued ?? 0),
    )
    gauge(
      'portico_sink_pending',
      'Events (or spans) buffered or in flight in each sink.',
      ['sink'],
      (g) => {
        for (const p of this.#sources.pipes?.() ?? []) g.set({ sink: p.name }, p.stats.pending)
      },
    )
    // One series per sink that reports the counter (the store's writes, not the webhook's).
    const sinkCounter = (
      name: string,
      help: string,
      pick: (stats: PipeStats) => number | undefined,
    ) =>
      counter(name, help, ['sink'], (add) => {
        for (const p of this.#sources.pipes?.() ?? []) {
          const value = pick(p.stats)
          if (value !== undefined) add(value, { sink: p.name })
        }
      })
    sinkCounter(
      'portico_sink_sent_total',
      'Events (or spans) each sink delivered.',
      (s) => s.sent ?? 0,
    )
    sinkCounter(
      'portico_sink_dropped_total',
      'Events (or spans) each sink dropped (full buffer, or given up after retries).',
      (s) => s.dropped,
    )
    sinkCounter(
      'portico_sink_writes_total',
      'Writes (store transactions) each sink committed.',
      (s) => s.writes,
    )
    sinkCounter(
      'portico_sink_write_seconds_total',
      'Time spent in those writes; divided by portico_sink_writes_total, the mean write latency.',
      (s) => s.writeSeconds,
    )
    sinkCounter(
      'portico_sink_failures_total',
      'Failed deliveries (a write or a POST that failed).',
      (s) => s.failed ?? 0,
    )
  }
}

/**
 * An MCP request as mcp-proxy counts one: not a notification, an answer or a bare HTTP
 * exchange. `other` is a request of a method MCP does not name (answered `-32601`, an error
 * mcp-proxy counts too).
 */
function isMcpRequest(method: string): boolean {
  return method.includes('/')
    ? !method.startsWith('notifications/')
    : method === 'initialize' || method === 'ping' || method === 'other'
}
