/**
 * The concurrency limit of one upstream (`[backends.concurrency]`, mcpr's
 * `max_concurrent_upstream`): at most `max_concurrent` attempts in flight; the next ones wait
 * in a bounded queue (`max_queue`) for at most `queue_timeout`, and are then refused with
 * `rate_limited` (429, `Retry-After`) saying which bound was hit. A slot is held until the
 * answer is completely written (a streamed answer ends after `next` resolved) or the attempt
 * fails (or answers 5xx, which a retry may drop); the time spent waiting is noted on the call (`queuedMs`) for the record.
 * Only requests are counted (notifications and a client's responses pass). A hedge (an extra
 * attempt hedging sends) takes a free slot or is not sent: it never waits in the queue.
 */
import type { ConcurrencyConfig } from '../config/protect.ts'
import { PorticoError } from '../errors.ts'
import { type Call, isListenStream } from '../pipeline/call.ts'
import { callNext, type Handler, type Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import type { SignalLike } from '../pipeline/signal.ts'
import type { Clock } from '../util/clock.ts'
import { notReached } from './outcome.ts'
import { retryAfter } from './token-bucket.ts'

interface Waiter {
  grant(): void
  timer: unknown
}

export class ConcurrencyLimiter {
  readonly #name: string
  readonly #config: ConcurrencyConfig
  readonly #clock: Clock
  readonly #queue: Waiter[] = []
  #active = 0

  constructor(name: string, config: ConcurrencyConfig, clock: Clock) {
    this.#name = name
    this.#config = config
    this.#clock = clock
  }

  get active(): number {
    return this.#active
  }

  get queued(): number {
    return this.#queue.length
  }

  /** Takes a free slot at once, or returns false. */
  tryAcquire(): boolean {
    if (this.#active >= this.#config.max_concurrent) return false
    this.#active++
    return true
  }

  /** Waits for a slot, bounded in queue length and time; rejects when refused or aborted. */
  wait(signal: SignalLike): Promise<void> {
    const { max_queue, queue_timeout } = this.#config
    if (this.#queue.length >= max_queue) {
      return Promise.reject(
        this.#refusal(
          `${this.#config.max_concurrent} calls in flight and ${max_queue} waiting`,
          'queue_full',
        ),
      )
    }
    return new Promise<void>((resolve, reject) => {
      const leave = () => {
        const index = this.#queue.indexOf(waiter)
        if (index !== -1) this.#queue.splice(index, 1)
        this.#clock.clearTimeout(waiter.timer)
        signal.removeEventListener('abort', onAbort)
      }
      const onAbort = () => {
        leave()
        reject(this.#abandoned(signal))
      }
      const waiter: Waiter = {
        grant: () => {
          leave()
          resolve()
        },
        timer: this.#clock.setTimeout(() => {
          leave()
          reject(
            this.#refusal(
              `waited ${queue_timeout} ms for one of its ${this.#config.max_concurrent} slots`,
              'queue_timeout',
            ),
          )
        }, queue_timeout),
      }
      this.#queue.push(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Why a hedge was not sent: no slot free. Marked as never having reached the upstream, so it
   * says nothing of the upstream's health; the call's other attempts go on.
   */
  noSlotForHedge(): PorticoError {
    return notReached(
      this.#refusal(
        `${this.#config.max_concurrent} calls in flight: no hedge sent`,
        'hedge_no_slot',
      ),
    )
  }

  /** Frees a slot, handing it straight to the longest waiter. */
  release(): void {
    const next = this.#queue[0]
    if (next !== undefined) next.grant()
    else this.#active--
  }

  /**
   * Why a waiter left before its turn: the client went, or the call's deadline passed. The
   * latter is still the client's 504, but one the upstream had no part in (see notReached).
   */
  #abandoned(signal: SignalLike): PorticoError {
    const reason = signal.reason
    if (!(reason instanceof PorticoError)) return new PorticoError('cancelled')
    if (reason.reason !== 'upstream_timeout') return reason
    return notReached(
      new PorticoError('upstream_timeout', {
        message: `The call's deadline passed while it waited for one of the ${this.#config.max_concurrent} slots of ${this.#name}`,
        data: { upstream: this.#name, reason: 'queue_timeout' },
      }),
    )
  }

  #refusal(detail: string, reason: string): PorticoError {
    return new PorticoError('rate_limited', {
      message: `${this.#name} is at its concurrency limit: ${detail}`,
      headers: { 'retry-after': retryAfter(1000) },
      data: { upstream: this.#name, reason },
    })
  }
}

export function concurrencyLimit(limiter: ConcurrencyLimiter, clock: Clock): Middleware {
  return (call, next) => {
    // Only requests take a slot. A notification or a client's response is short, and often
    // what a request holding a slot waits for: a cancel of that request, the answer to its
    // sampling or elicitation. Queued behind it, each waited out queue_timeout and was refused.
    if (call.kind !== 'request' || isListenStream(call)) return next(call)
    if (limiter.tryAcquire()) return new Slot(limiter, call).run(next)
    // A hedge waiting in the queue would take a place a client's call could wait in, and be
    // refused its turn as `queue_full`: another client's call was, while one call hedged.
    if (call.hedge !== undefined) return Promise.reject(limiter.noSlotForHedge())
    const start = clock.now()
    return limiter.wait(call.signal).then(() => {
      call.notes.queuedMs = (call.notes.queuedMs ?? 0) + Math.round(clock.now() - start)
      return new Slot(limiter, call).run(next)
    })
  }
}

/**
 * A slot held by one attempt, released once: when its answer is completely written, or at once
 * when it fails. An object rather than an async function and closures: one per attempt
 * (bench/reports/2026-12-01-perf2.md, step 21).
 */
class Slot {
  readonly #limiter: ConcurrencyLimiter
  readonly #call: Call
  #held = true

  constructor(limiter: ConcurrencyLimiter, call: Call) {
    this.#limiter = limiter
    this.#call = call
  }

  run(next: Handler): Promise<Reply> {
    return callNext(next, this.#call).then(
      (reply) => {
        // A 5xx is short and may be dropped for a retry: its slot is not held for it.
        if (reply.status >= 500) this.#release()
        else this.#call.lifetime.onEnd(() => this.#release())
        return reply
      },
      (error: unknown) => {
        this.#release()
        throw error
      },
    )
  }

  #release(): void {
    if (!this.#held) return
    this.#held = false
    this.#limiter.release()
  }
}
