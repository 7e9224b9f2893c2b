/**
 * Builds the protection of one upstream from its tables (a backend's, or the top level's for
 * the transparent upstream): the policy objects and the middleware of its chain, in this
 * order, outermost first:
 *
 *   hints (learn tool annotations from tools/list) → cache (memory, or Redis: shared-cache.ts)
 *   → coalesce → rate_limit
 *   → call timeout (the whole call) → retry → hedging → health (ejection + breaker, per attempt)
 *   → concurrency (per attempt) → the transport (its own timer: each attempt's deadline)
 *
 * A cache hit costs no token and no slot; a refused call never waits in the queue; the
 * breaker and ejection judge each attempt, so a retry after an opening is refused at once;
 * the whole-call timer covers queueing, backoff and hedges. Nothing is built for a table that
 * is not configured: an upstream without tables has an empty chain.
 */
import { type ProtectConfig, protectOf, RETRY_BUDGET_DEFAULTS } from '../config/protect.ts'
import type { Logger } from '../observe/logger.ts'
import type { StatusSource } from '../observe/status.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Clock } from '../util/clock.ts'
import { CircuitBreaker } from './breaker.ts'
import { ResponseCache, responseCache } from './cache.ts'
import { callTimeout } from './call-timeout.ts'
import { coalesce } from './coalesce.ts'
import { ConcurrencyLimiter, concurrencyLimit } from './concurrency.ts'
import { upstreamHealth } from './health.ts'
import { type CancelUpstream, hedging } from './hedge.ts'
import { ToolHints } from './hints.ts'
import { OutlierDetector, type OutlierGroup } from './outlier.ts'
import { upstreamRateLimit } from './rate-limit.ts'
import type { RedisStore } from './redis-store.ts'
import { RetryBudget, retry } from './retry.ts'
import { SharedResponseCache, sharedResponseCache } from './shared-cache.ts'
import { TokenBucket } from './token-bucket.ts'

export interface ProtectDeps {
  clock: Clock
  logger: Logger
  /** Coalesce identical concurrent repeatable calls (`[performance] coalesce_requests`). */
  coalesce: boolean
  /** The ejection group this upstream belongs to (needed for `outlier_detection`). */
  group?: OutlierGroup | undefined
  /** `[shared]`: the Redis where the cache (`caches`) and the rate limit (`rate_limits`) live. */
  shared?: RedisStore | undefined
  /**
   * The protection this one replaces, of the same upstream (a hot reload): each policy whose
   * table did not change is taken over with its state (see `UpstreamProtection`).
   */
  previous?: UpstreamProtection | undefined
  /** How hedging tells the upstream an attempt is given up (see `HedgingParts`). */
  cancelUpstream?: CancelUpstream | undefined
  /** Whether the upstream answers every call on one shared stream (see `HedgingParts`). */
  sharedAnswerStream?: boolean | undefined
}

/** What a rebuilt protection takes over from the one it replaces (`#handOver`). */
interface KeptPolicies {
  hints?: ToolHints
  breaker?: CircuitBreaker | undefined
  outlier?: OutlierDetector
  cache?: ResponseCache
  limiter?: ConcurrencyLimiter | undefined
  rateBucket?: TokenBucket | undefined
  budget?: RetryBudget | undefined
}

/** What operators see of an upstream's protection (admin tools, health). */
export interface ProtectStatus {
  breaker?: string
  ejected?: boolean
  inFlight?: number
  queued?: number
  cache?: { hits: number; misses: number; entries: number }
}

/**
 * One upstream's policies. A reload that rebuilds them (`deps.previous`) takes over each
 * stateful one whose table is unchanged, state and all: the breaker stays open, the cache
 * keeps its entries, the rate limit and the retry budget what was spent, the concurrency
 * limit its slots and queue (shared with the calls the replaced chain still finishes, so the
 * bound holds across both), the ejection its statistics; tool hints are always kept. Why: an
 * edit to one table (a timeout) must not reset the others, or every reload would hand a
 * client a fresh budget and a failing upstream a closed breaker. A changed table starts afresh.
 */
export class UpstreamProtection {
  readonly middleware: readonly Middleware[]
  readonly hints: ToolHints
  readonly breaker: CircuitBreaker | undefined
  readonly outlier: OutlierDetector | undefined
  readonly cache: ResponseCache | SharedResponseCache | undefined
  readonly limiter: ConcurrencyLimiter | undefined
  /** The tables this was built from (compared by the next reload's `previous`). */
  readonly config: ProtectConfig
  readonly #group: OutlierGroup | undefined
  #rateBucket: TokenBucket | undefined
  #budget: RetryBudget | undefined
  /** Whether a newer protection took the ejection over (it leaves the group, not this one). */
  #outlierTaken = false

  constructor(name: string, config: ProtectConfig, deps: ProtectDeps) {
    const { clock, logger } = deps
    const kept = deps.previous === undefined ? {} : deps.previous.#handOver(config, deps.group)
    const log = (what: string, detail: string, level: 'warn' | 'info') =>
      logger[level](`${name}: ${what} (${detail})`, { upstream: name })
    this.config = config
    this.#group = deps.group
    this.hints = kept.hints ?? new ToolHints()
    this.breaker = config.circuit_breaker
      ? (kept.breaker ??
        new CircuitBreaker(name, config.circuit_breaker, clock, (state, detail) =>
          log(`circuit ${state.replace('_', '-')}`, detail, state === 'open' ? 'warn' : 'info'),
        ))
      : undefined
    this.outlier =
      config.outlier_detection && deps.group
        ? (kept.outlier ??
          new OutlierDetector(name, config.outlier_detection, deps.group, (event, detail) =>
            log(
              event === 'spared' ? 'not ejected' : event,
              detail,
              event === 'ejected' ? 'warn' : 'info',
            ),
          ))
        : undefined
    this.cache = config.cache
      ? deps.shared?.caches
        ? new SharedResponseCache(name, config.cache, deps.shared)
        : (kept.cache ?? new ResponseCache(config.cache, clock))
      : undefined
    this.limiter = config.concurrency
      ? (kept.limiter ?? new ConcurrencyLimiter(name, config.concurrency, clock))
      : undefined
    this.#rateBucket = config.rate_limit
      ? (kept.rateBucket ?? new TokenBucket(config.rate_limit, clock))
      : undefined
    // Hedges spend it too: hedging without [retry] has the retry table's default budget
    // (without one, every slow call sent max_hedges more, however many calls were slow).
    const budget = config.retry ?? (config.hedging ? RETRY_BUDGET_DEFAULTS : undefined)
    this.#budget = budget
      ? (kept.budget ?? new RetryBudget(budget.budget_percent, budget.min_retries_per_sec, clock))
      : undefined
    this.middleware = this.#chain(name, config, deps)
  }

  /**
   * The policies a protection built from `config` takes over from this one: those whose
   * tables are the same (the ejection only within the same group; a local cache only, as a
   * shared one's entries are in Redis whatever this process builds), and the tool hints.
   */
  #handOver(config: ProtectConfig, group: OutlierGroup | undefined): KeptPolicies {
    const same = (key: keyof ProtectConfig) =>
      JSON.stringify(this.config[key]) === JSON.stringify(config[key])
    const kept: KeptPolicies = { hints: this.hints }
    if (same('circuit_breaker')) kept.breaker = this.breaker
    if (same('outlier_detection') && this.#group === group && this.outlier !== undefined) {
      kept.outlier = this.outlier
      this.#outlierTaken = true
    }
    if (same('cache') && this.cache instanceof ResponseCache) kept.cache = this.cache
    if (same('concurrency')) kept.limiter = this.limiter
    if (same('rate_limit')) kept.rateBucket = this.#rateBucket
    if (same('retry')) kept.budget = this.#budget
    return kept
  }

  #chain(name: string, config: ProtectConfig, deps: ProtectDeps): Middleware[] {
    const { clock } = deps
    const chain: Middleware[] = []
    const repeats = config.retry !== undefined || config.hedging !== undefined || deps.coalesce
    if (repeats) chain.push(this.hints.middleware())
    if (this.cache instanceof SharedResponseCache) chain.push(sharedResponseCache(this.cache))
    else if (this.cache) chain.push(responseCache(this.cache))
    if (deps.coalesce) chain.push(coalesce(this.hints))
    if (config.rate_limit && this.#rateBucket) {
      chain.push(upstreamRateLimit(name, config.rate_limit, this.#rateBucket, deps.shared))
    }
    const callMs = config.timeout?.callMs
    if (callMs !== undefined) chain.push(callTimeout(name, callMs, clock))
    const budget = this.#budget
    if (config.retry && budget) {
      chain.push(retry({ config: config.retry, budget, hints: this.hints, clock }))
    }
    if (config.hedging) {
      chain.push(
        hedging({
          config: config.hedging,
          hints: this.hints,
          clock,
          budget,
          cancelUpstream: deps.cancelUpstream,
          sharedAnswerStream: deps.sharedAnswerStream,
        }),
      )
    }
    if (this.breaker || this.outlier) {
      chain.push(
        upstreamHealth({
          breaker: this.breaker,
          outlier: this.outlier,
          internalErrors: config.circuit_breaker?.count_internal_errors ?? false,
        }),
      )
    }
    if (this.limiter) chain.push(concurrencyLimit(this.limiter, clock))
    return chain
  }

  /** Whether reads are cached in this process, for a server's resource updates to drop. */
  get forgetsUpdatedResources(): boolean {
    return this.cache instanceof ResponseCache
  }

  /**
   * The server said a resource changed (`notifications/resources/updated`): its reads cached
   * in this process go, under each of `names` (the URI as the server and as clients know it).
   * A shared cache in Redis keeps them to their ttl.
   */
  resourceUpdated(names: readonly string[]): void {
    if (this.cache instanceof ResponseCache) this.cache.forgetResource(names)
  }

  /** Whether calls would be refused at once (ejected or open): failover skips it. */
  get unavailable(): boolean {
    return this.outlier?.ejected === true || this.breaker?.refusing === true
  }

  status(): ProtectStatus | undefined {
    const status: ProtectStatus = {}
    if (this.breaker) status.breaker = this.breaker.state
    if (this.outlier) status.ejected = this.outlier.ejected
    if (this.limiter) {
      status.inFlight = this.limiter.active
      status.queued = this.limiter.queued
    }
    if (this.cache) status.cache = this.cache.stats()
    return Object.keys(status).length > 0 ? status : undefined
  }

  /**
   * What this upstream's policies show operators (`/admin/circuit-breakers`, `/admin/cache/*`,
   * the metrics), under `name`: read when asked, never on the request path.
   */
  statusSource(name: string): StatusSource {
    return {
      breakers: () => (this.breaker ? [{ backend: name, state: this.breaker.state }] : []),
      caches: () => (this.cache ? [{ backend: name, ...this.cache.stats() }] : []),
      ...(this.cache ? { clearCaches: () => this.cache?.clear() ?? 0 } : {}),
      retries: () => (this.#budget ? [{ backend: name, retries: this.#budget.granted }] : []),
    }
  }

  close(): void {
    if (!this.#outlierTaken) this.outlier?.leave()
  }
}

/** The top level's tables as the transparent upstream's (mcpr's `max_concurrent_upstream` too). */
export function topLevelProtect(
  config: ProtectConfig & { max_concurrent_upstream?: number | undefined },
): ProtectConfig {
  const out = protectOf(config, {})
  if (out.concurrency === undefined && config.max_concurrent_upstream !== undefined) {
    out.concurrency = {
      max_concurrent: config.max_concurrent_upstream,
      max_queue: 100,
      queue_timeout: 10_000,
    }
  }
  return out
}
