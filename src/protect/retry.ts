/**
 * Retries, only where running a call twice is safe: a failure before the request reached the
 * upstream (connection refused, a backend not running: `wasNotSent`), or an upstream failure of
 * a call that may be repeated (hints.ts: reads, lists, gets, tools annotated `readOnlyHint` or
 * `idempotentHint`). Never a `tools/call` that may have run, never a client error, an `isError`
 * result or Portico's own refusal. Backoff is exponential with decorrelated jitter (cockatiel)
 * and capped by `max_backoff_ms` (mcp-proxy ignores the cap); every retry (and every hedge)
 * must fit the budget: `budget_percent` of the calls of the last 10 s, with
 * `min_retries_per_sec` as its floor.
 */
import { decorrelatedJitterGenerator, ExponentialBackoff, type IBackoff } from 'cockatiel'
import type { RetryConfig } from '../config/protect.ts'
import { PorticoError, wasNotSent } from '../errors.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import type { Clock } from '../util/clock.ts'
import { Attempt } from './attempt.ts'
import type { ToolHints } from './hints.ts'
import { discard, errorVerdict, replyVerdict } from './outcome.ts'

const WINDOW_SLOTS = 10
const SLOT_MS = 1000

/**
 * Extra attempts allowed over a sliding 10 s window: retries and hedges together may be
 * `percent` of the calls made in it, and at least `minPerSecond` × 10 s.
 */
export class RetryBudget {
  readonly #percent: number
  readonly #floor: number
  readonly #clock: Clock
  readonly #calls = new Float64Array(WINDOW_SLOTS)
  readonly #extra = new Float64Array(WINDOW_SLOTS)
  readonly #epochs = new Float64Array(WINDOW_SLOTS).fill(-1)

  constructor(percent: number, minPerSecond: number, clock: Clock) {
    this.#percent = percent / 100
    this.#floor = minPerSecond * WINDOW_SLOTS * (SLOT_MS / 1000)
    this.#clock = clock
  }

  /** A call was made (its first attempt). */
  deposit(): void {
    const slot = this.#slot()
    this.#calls[slot] = (this.#calls[slot] as number) + 1
  }

  /** Takes the budget for one extra attempt; false when the budget is spent. */
  withdraw(): boolean {
    this.#slot()
    let calls = 0
    let extra = 0
    const oldest = Math.floor(this.#clock.now() / SLOT_MS) - WINDOW_SLOTS + 1
    for (let i = 0; i < WINDOW_SLOTS; i++) {
      if ((this.#epochs[i] as number) < oldest) continue
      calls += this.#calls[i] as number
      extra += this.#extra[i] as number
    }
    if (extra + 1 > Math.max(this.#percent * calls, this.#floor)) return false
    const slot = this.#slot()
    this.#extra[slot] = (this.#extra[slot] as number) + 1
    return true
  }

  /** The current slot, cleared when its second has passed. */
  #slot(): number {
    const epoch = Math.floor(this.#clock.now() / SLOT_MS)
    const index = epoch % WINDOW_SLOTS
    if (this.#epochs[index] !== epoch) {
      this.#epochs[index] = epoch
      this.#calls[index] = 0
      this.#extra[index] = 0
    }
    return index
  }
}

export interface RetryParts {
  config: RetryConfig
  budget: RetryBudget
  hints: ToolHints
  clock: Clock
}

export function retry(parts: RetryParts): Middleware {
  const { config, budget, hints, clock } = parts
  const factory = new ExponentialBackoff({
    initialDelay: config.initial_backoff_ms,
    maxDelay: config.max_backoff_ms,
    generator: decorrelatedJitterGenerator,
  })
  return async (call, next) => {
    budget.deposit()
    if (!hints.repeatable(call)) {
      // Only a failure before the request left may be retried: the attempt released its slot.
      try {
        return await next(call)
      } catch (error) {
        if (config.max_retries === 0 || !wasNotSent(error)) throw error
        return retryAfterFailure(call, next, error, 1)
      }
    }
    return repeatable(call, next, 0)
  }

  /** Attempts of a call that may be repeated: each one its own signal and lifetime. */
  async function repeatable(
    call: Parameters<Middleware>[0],
    next: Parameters<Middleware>[1],
    done: number,
  ): Promise<Reply> {
    let backoff: IBackoff<unknown> | undefined
    for (let attempt = done; ; attempt++) {
      const trial = new Attempt(call)
      try {
        const reply = await next(trial.call)
        const verdict = await replyVerdict(reply, false)
        if (verdict !== 'failure' || !mayRetry(call, attempt)) {
          trial.keep(call)
          return reply
        }
        discard(reply)
      } catch (error) {
        const verdict = errorVerdict(error, trial.call.signal)
        const retryable = verdict === 'failure' || wasNotSent(error)
        if (!retryable || !mayRetry(call, attempt)) {
          trial.drop('failed')
          throw error
        }
      }
      trial.drop('retrying')
      backoff = backoff === undefined ? factory.next() : backoff.next(undefined)
      call.notes.retries = attempt + 1
      await sleep(clock, backoff.duration, call.signal)
    }
  }

  /** A call that may not be repeated failed before it left: retried while that stays so. */
  async function retryAfterFailure(
    call: Parameters<Middleware>[0],
    next: Parameters<Middleware>[1],
    first: unknown,
    attempt: number,
  ): Promise<Reply> {
    let error = first
    let backoff: IBackoff<unknown> | undefined
    for (let n = attempt; ; n++) {
      if (!mayRetry(call, n - 1)) throw error
      backoff = backoff === undefined ? factory.next() : backoff.next(undefined)
      call.notes.retries = n
      await sleep(clock, backoff.duration, call.signal)
      try {
        return await next(call)
      } catch (again) {
        if (!wasNotSent(again)) throw again
        error = again
      }
    }
  }

  function mayRetry(call: Parameters<Middleware>[0], attempt: number): boolean {
    return attempt < config.max_retries && !call.signal.aborted && budget.withdraw()
  }
}

/** Waits `ms` on the clock, or rejects when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal))
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer)
      reject(abortError(signal))
    }
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function abortError(signal: AbortSignal): PorticoError {
  return signal.reason instanceof PorticoError ? signal.reason : new PorticoError('cancelled')
}
