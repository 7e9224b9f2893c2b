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
import { type ProtectConfig, protectOf } from '../config/protect.ts'
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
import { hedging } from './hedge.ts'
import { ToolHints } from './hints.ts'
import { OutlierDetector, type OutlierGroup } from './outlier.ts'
import { upstreamRateLimit } from './rate-limit.ts'
import type { RedisStore } from './redis-store.ts'
import { RetryBudget, retry } from './retry.ts'
import { SharedResponseCache, sharedResponseCache } from './shared-cache.ts'

export interface ProtectDeps {
  clock: Clock
  logger: Logger
  /** Coalesce identical concurrent repeatable calls (`[performance] coalesce_requests`). */
  coalesce: boolean
  /** The ejection group this upstream belongs to (needed for `outlier_detection`). */
  group?: OutlierGroup | undefined
  /** Learn tool annotations even without retries (failover must know what may be repeated). */
  learnHints?: boolean
  /** `[shared]`: the Redis where the cache (`caches`) and the rate limit (`rate_limits`) live. */
  shared?: RedisStore | undefined
}

/** What operators see of an upstream's protection (admin tools, health). */
export interface ProtectStatus {
  breaker?: string
  ejected?: boolean
  inFlight?: number
  queued?: number
  cache?: { hits: number; misses: number; entries: number }
}

export class UpstreamProtection {
  readonly middleware: readonly Middleware[]
  readonly hints = new ToolHints()
  readonly breaker: CircuitBreaker | undefined
  readonly outlier: OutlierDetector | undefined
  readonly cache: ResponseCache | SharedResponseCache | undefined
  readonly limiter: ConcurrencyLimiter | undefined
  #budget: RetryBudget | undefined

  constructor(name: string, config: ProtectConfig, deps: ProtectDeps) {
    const { clock, logger } = deps
    const log = (what: string, detail: string, level: 'warn' | 'info') =>
      logger[level](`${name}: ${what} (${detail})`, { upstream: name })
    this.breaker = config.circuit_breaker
      ? new CircuitBreaker(name, config.circuit_breaker, clock, (state, detail) =>
          log(`circuit ${state.replace('_', '-')}`, detail, state === 'open' ? 'warn' : 'info'),
        )
      : undefined
    this.outlier =
      config.outlier_detection && deps.group
        ? new OutlierDetector(name, config.outlier_detection, deps.group, (event, detail) =>
            log(
              event === 'spared' ? 'not ejected' : event,
              detail,
              event === 'ejected' ? 'warn' : 'info',
            ),
          )
        : undefined
    this.cache = config.cache
      ? deps.shared?.caches
        ? new SharedResponseCache(name, config.cache, deps.shared)
        : new ResponseCache(config.cache, clock)
      : undefined
    this.limiter = config.concurrency
      ? new ConcurrencyLimiter(name, config.concurrency, clock)
      : undefined
    this.middleware = this.#chain(name, config, deps)
  }

  #chain(name: string, config: ProtectConfig, deps: ProtectDeps): Middleware[] {
    const { clock } = deps
    const chain: Middleware[] = []
    const repeats =
      config.retry !== undefined ||
      config.hedging !== undefined ||
      deps.coalesce ||
      deps.learnHints === true
    if (repeats) chain.push(this.hints.middleware())
    if (this.cache instanceof SharedResponseCache) chain.push(sharedResponseCache(this.cache))
    else if (this.cache) chain.push(responseCache(this.cache))
    if (deps.coalesce) chain.push(coalesce(this.hints))
    if (config.rate_limit) {
      chain.push(upstreamRateLimit(name, config.rate_limit, clock, deps.shared))
    }
    const callMs = config.timeout?.callMs
    if (callMs !== undefined) chain.push(callTimeout(name, callMs, clock))
    const budget = config.retry
      ? new RetryBudget(config.retry.budget_percent, config.retry.min_retries_per_sec, clock)
      : undefined
    this.#budget = budget
    if (config.retry && budget) {
      chain.push(retry({ config: config.retry, budget, hints: this.hints, clock }))
    }
    if (config.hedging) {
      chain.push(hedging({ config: config.hedging, hints: this.hints, clock, budget }))
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
    this.outlier?.leave()
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
