/**
 * The circuit breaker of one upstream. Closed: the last `sliding_window_size` attempts are a
 * ring of outcomes; once `minimum_calls` are recorded and the failure rate reaches
 * `failure_rate_threshold`, it opens. Open: every call is refused at once (`circuit_open`,
 * 503, `Retry-After`, naming the upstream) for `wait_duration_seconds`. Half-open: the next
 * `permitted_calls_in_half_open` calls go through as probes and later ones are refused; one
 * failed probe opens it again, that many successes close it. Only the upstream's failures
 * count (outcome.ts): never client errors, cancellations, Portico's refusals or `isError`.
 *
 * Hand-written rather than cockatiel's: cockatiel lets one half-open probe through and makes
 * the other calls wait for it, and reads `Date.now()`; the issue asks for N probes with the
 * rest refused, and tests drive the clock.
 */
import type { BreakerConfig } from '../config/protect.ts'
import { PorticoError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'
import type { Verdict } from './outcome.ts'
import { retryAfter } from './token-bucket.ts'

export type BreakerState = 'closed' | 'open' | 'half_open'

export type BreakerListener = (state: BreakerState, detail: string) => void

export class CircuitBreaker {
  readonly #name: string
  readonly #config: BreakerConfig
  readonly #clock: Clock
  readonly #onChange: BreakerListener
  /** The window: 1 failure, 0 success, -1 empty. */
  readonly #ring: Int8Array
  #next = 0
  #recorded = 0
  #failures = 0
  #state: BreakerState = 'closed'
  /** Bumped at every transition: outcomes of attempts admitted before it are ignored. */
  #generation = 0
  #openedAt = 0
  #probes = 0
  #probeSuccesses = 0

  constructor(name: string, config: BreakerConfig, clock: Clock, onChange: BreakerListener) {
    this.#name = name
    this.#config = config
    this.#clock = clock
    this.#onChange = onChange
    this.#ring = new Int8Array(config.sliding_window_size).fill(-1)
  }

  get state(): BreakerState {
    return this.#state
  }

  /** True while calls are refused without a probe (open, its wait not over). */
  get refusing(): boolean {
    return (
      this.#state === 'open' &&
      this.#clock.now() < this.#openedAt + this.#config.wait_duration_seconds * 1000
    )
  }

  /**
   * Admits an attempt (returns a ticket for `record`) or throws `circuit_open`. The first
   * call after the open period moves the breaker to half-open.
   */
  admit(): number {
    if (this.#state === 'open') {
      const left = this.#openedAt + this.#config.wait_duration_seconds * 1000 - this.#clock.now()
      if (left > 0) throw this.#refusal(left, 'open')
      this.#transition('half_open', 'the open period is over: probing')
    }
    if (this.#state === 'half_open') {
      if (this.#probes >= this.#config.permitted_calls_in_half_open) {
        throw this.#refusal(1000, 'half-open, its probes are in flight')
      }
      this.#probes++
    }
    return this.#generation
  }

  /** Records the outcome of an attempt admitted with `ticket`; returns the state it caused. */
  record(ticket: number, verdict: Verdict): BreakerState | undefined {
    if (ticket !== this.#generation) return undefined
    if (this.#state === 'half_open') return this.#probe(verdict)
    if (verdict !== 'ok' && verdict !== 'failure') return undefined
    this.#push(verdict === 'failure' ? 1 : 0)
    if (verdict === 'ok' || this.#recorded < this.#config.minimum_calls) return undefined
    const rate = this.#failures / this.#recorded
    if (rate < this.#config.failure_rate_threshold) return undefined
    this.#transition(
      'open',
      `${this.#failures} of the last ${this.#recorded} calls failed (threshold ${this.#config.failure_rate_threshold})`,
    )
    return 'open'
  }

  #probe(verdict: Verdict): BreakerState | undefined {
    if (verdict === 'failure') {
      this.#transition('open', 'a half-open probe failed')
      return 'open'
    }
    if (verdict !== 'ok') {
      this.#probes-- // a cancelled probe frees its place
      return undefined
    }
    this.#probeSuccesses++
    if (this.#probeSuccesses < this.#config.permitted_calls_in_half_open) return undefined
    this.#transition('closed', `${this.#probeSuccesses} probes succeeded`)
    return 'closed'
  }

  #push(value: 0 | 1): void {
    const old = this.#ring[this.#next] as number
    if (old === 1) this.#failures--
    if (old !== -1) this.#recorded--
    this.#ring[this.#next] = value
    this.#recorded++
    if (value === 1) this.#failures++
    this.#next = (this.#next + 1) % this.#ring.length
  }

  #transition(state: BreakerState, detail: string): void {
    this.#state = state
    this.#generation++
    this.#probes = 0
    this.#probeSuccesses = 0
    if (state === 'open') this.#openedAt = this.#clock.now()
    if (state === 'closed') {
      this.#ring.fill(-1)
      this.#recorded = 0
      this.#failures = 0
    }
    this.#onChange(state, detail)
  }

  #refusal(waitMs: number, what: string): PorticoError {
    return new PorticoError('circuit_open', {
      message: `Circuit of ${this.#name} is ${what}: calls are refused`,
      headers: { 'retry-after': retryAfter(waitMs) },
      data: { upstream: this.#name, reason: 'circuit_open', retryAfterMs: Math.ceil(waitMs) },
    })
  }
}
