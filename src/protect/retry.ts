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
import { createRequire } from 'node:module'
import type { IBackoff } from 'cockatiel'
import type { RetryConfig } from '../config/protect.ts'
import { PorticoError, wasNotSent } from '../errors.ts'
import type { Call } from '../pipeline/call.ts'
import { callNext, type Handler, type Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import type { SignalLike } from '../pipeline/signal.ts'
import type { Clock } from '../util/clock.ts'
import { answeredAtFirstMessage } from './first-message.ts'
import type { ToolHints } from './hints.ts'
import { discard, errorVerdict } from './outcome.ts'

const require = createRequire(import.meta.url)

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

  /** Extra attempts (retries and hedges) granted since start, for operators. */
  granted = 0

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
    this.granted++
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

type Last = { reply: Reply; error?: undefined } | { error: unknown; reply?: undefined }

export function retry(parts: RetryParts): Middleware {
  const { config, budget, hints, clock } = parts
  // cockatiel is loaded with the first `[retry]` table, not with every Portico.
  const { ExponentialBackoff, decorrelatedJitterGenerator } =
    require('cockatiel') as typeof import('cockatiel')
  const factory = new ExponentialBackoff({
    initialDelay: config.initial_backoff_ms,
    maxDelay: config.max_backoff_ms,
    generator: decorrelatedJitterGenerator,
  })
  /** Whether this attempt's failure may be retried: it never left, or the call may repeat. */
  const retryable = (error: unknown, call: Call, repeatable: boolean) =>
    wasNotSent(error) || (repeatable && errorVerdict(error, call.signal) === 'failure')

  // Not an async function: every call passes here, and almost all succeed at once.
  return (call, next) => {
    budget.deposit()
    const repeatable = hints.repeatable(call)
    // A call that may be retried is judged at its stream's first message: a tool that hangs
    // times out inside a stream whose head came at once (SDK servers), and is retried.
    const attempt = repeatable && config.max_retries > 0 ? answeredAtFirstMessage(next) : next
    // Attempts run on the call itself: a failed one already ended (it threw, or answered 5xx
    // and released its slot), so nothing of it needs cancelling.
    return callNext(attempt, call).then(
      (reply) =>
        !repeatable || reply.status < 500 || config.max_retries === 0
          ? reply
          : again(call, attempt, { reply }, repeatable),
      (error: unknown) => {
        if (config.max_retries === 0 || !retryable(error, call, repeatable)) throw error
        return again(call, attempt, { error }, repeatable)
      },
    )
  }

  async function again(
    call: Call,
    next: Handler,
    first: Last,
    repeatable: boolean,
  ): Promise<Reply> {
    let last = first
    let backoff: IBackoff<unknown> | undefined
    for (let attempt = 0; ; attempt++) {
      if (!mayRetry(call, attempt)) {
        if (last.reply !== undefined) return last.reply
        throw last.error
      }
      if (last.reply !== undefined) discard(last.reply)
      backoff = backoff === undefined ? factory.next() : backoff.next(undefined)
      call.notes.retries = attempt + 1
      await sleep(clock, backoff.duration, call.signal)
      try {
        const reply = await next(call)
        if (!repeatable || reply.status < 500) return reply
        last = { reply }
      } catch (error) {
        if (!retryable(error, call, repeatable)) throw error
        last = { error }
      }
    }
  }

  function mayRetry(call: Call, attempt: number): boolean {
    return attempt < config.max_retries && !call.signal.aborted && budget.withdraw()
  }
}

/** Waits `ms` on the clock, or rejects when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal: SignalLike): Promise<void> {
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

function abortError(signal: SignalLike): PorticoError {
  return signal.reason instanceof PorticoError ? signal.reason : new PorticoError('cancelled')
}
