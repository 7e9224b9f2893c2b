/**
 * The status board: where stateful policies (circuit breakers, caches, retries: issue 12)
 * publish what the admin API (`/admin/circuit-breakers`, `/admin/cache/stats`,
 * `POST /admin/cache/clear`) and the Prometheus metrics show. A policy registers a source once;
 * nothing here runs on the request path: sources are read when an operator asks.
 */

export type BreakerState = 'closed' | 'open' | 'half_open'

export interface BreakerStatus {
  backend: string
  state: BreakerState
}

export interface CacheStatus {
  /** The backend (or `upstream`) the cache serves. */
  backend: string
  hits: number
  misses: number
  entries: number
  /** The entries are Redis's, the same set for every replica and worker. */
  shared?: boolean
}

export interface RetryStatus {
  backend: string
  /** Retries sent since start. */
  retries: number
}

/** What one policy reports; every part optional. */
export interface StatusSource {
  breakers?(): BreakerStatus[]
  caches?(): CacheStatus[]
  /**
   * Empties the caches; resolves with how many entries were cleared. Rejects when a cache kept
   * elsewhere (Redis) could not be reached: its entries are still there.
   */
  clearCaches?(): number | Promise<number>
  retries?(): RetryStatus[]
}

export class StatusBoard {
  readonly #sources: StatusSource[] = []
  readonly #swapWatchers: Array<() => void> = []

  add(source: StatusSource): void {
    this.#sources.push(source)
  }

  /**
   * Runs `swap`, which replaces sources this board reads (the policies and backends a reload
   * or an admin change builds anew), calling each watcher just before and just after: counts
   * read from the sources (metrics/readings.ts) see the old ones' last values and the new
   * ones' zeros, whenever the next scrape comes.
   */
  swapping(swap: () => void): void {
    for (const watch of this.#swapWatchers) watch()
    try {
      swap()
    } finally {
      for (const watch of this.#swapWatchers) watch()
    }
  }

  /** Calls `watch` around each `swapping`. */
  watchSwaps(watch: () => void): void {
    this.#swapWatchers.push(watch)
  }

  breakers(): BreakerStatus[] {
    return this.#sources.flatMap((s) => s.breakers?.() ?? [])
  }

  caches(): CacheStatus[] {
    return this.#sources.flatMap((s) => s.caches?.() ?? [])
  }

  retries(): RetryStatus[] {
    return this.#sources.flatMap((s) => s.retries?.() ?? [])
  }

  /** True when some source has a cache (so "cleared" means something). */
  get hasCaches(): boolean {
    return this.caches().length > 0
  }

  clearCaches(): Promise<number> {
    return clearAll(this.#sources)
  }
}

/**
 * One source reporting for the sources present when asked: upstreams a hot reload replaces,
 * adds or removes (gateway backends, the transparent upstream) report as they are now.
 */
export function statusOfEach(sources: () => StatusSource[]): StatusSource {
  return {
    breakers: () => sources().flatMap((s) => s.breakers?.() ?? []),
    caches: () => sources().flatMap((s) => s.caches?.() ?? []),
    clearCaches: () => clearAll(sources()),
    retries: () => sources().flatMap((s) => s.retries?.() ?? []),
  }
}

/** Counters any sink or exporter may expose (store, webhook, trace exporter) for metrics. */
export interface PipeStats {
  /** Events (or spans) delivered. */
  sent?: number
  dropped: number
  /** Buffered or in flight. */
  pending: number
  failed?: number
  /** Writes (store commits) done, and the seconds they took in all. */
  writes?: number
  writeSeconds?: number
}

/** A sink or exporter whose counters the metrics show as `portico_sink_*{sink="name"}`. */
export interface StatsSource {
  readonly name: string
  pipeStats(): PipeStats
}

export function isStatsSource(value: unknown): value is StatsSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { pipeStats?: unknown }).pipeStats === 'function'
  )
}

/** Clears every source's caches (all are tried); rejects with the first failure, if any. */
async function clearAll(sources: readonly StatusSource[]): Promise<number> {
  const outcomes = await Promise.allSettled(
    sources.map(async (s) => (await s.clearCaches?.()) ?? 0),
  )
  let cleared = 0
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') throw outcome.reason
    cleared += outcome.value
  }
  return cleared
}
