/**
 * Hedging (`[backends.hedging]`), for the calls retries may repeat (hints.ts) and no others:
 * when the first attempt has not answered after `delay_ms`, another one is sent, up to
 * `max_hedges`. The first successful answer wins, not the first error (mcp-proxy lets an
 * error win); the losers are cancelled upstream (`notifications/cancelled`, or the HTTP request
 * aborted) and release what they hold. When every attempt failed, the last failure is the
 * answer. Hedges spend the retry budget when `[backends.retry]` is configured.
 */
import { randomBytes } from 'node:crypto'
import type { HedgingConfig } from '../config/protect.ts'
import { PorticoError } from '../errors.ts'
import {
  bigIdLiteral,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcResponse,
} from '../jsonrpc/message.ts'
import { type Call, withMessage } from '../pipeline/call.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import { mapAnswer, type Reply, StreamReply } from '../pipeline/reply.ts'
import type { Clock } from '../util/clock.ts'
import { type Deadline, DeadlineQueue } from '../util/deadlines.ts'
import { Attempt } from './attempt.ts'
import { untilFirstMessage } from './first-message.ts'
import type { ToolHints } from './hints.ts'
import { discard } from './outcome.ts'
import type { RetryBudget } from './retry.ts'

/**
 * Tells the upstream that the attempt sent as `sentAs` is given up, where dropping its request
 * is no cancellation: a transparent upstream's session (closing a request's stream is none
 * there, and the server runs it to its end). Gateway backends cancel their requests
 * themselves when an attempt's signal aborts.
 */
export type CancelUpstream = (attempt: Call, sentAs: JsonRpcId, why: string) => void

export interface HedgingParts {
  config: HedgingConfig
  hints: ToolHints
  clock: Clock
  budget?: RetryBudget | undefined
  cancelUpstream?: CancelUpstream | undefined
  /**
   * Whether the upstream answers every call on one shared stream (legacy HTTP+SSE), where
   * hedging is not done: a gateway backend's `transport = "sse"`. Undefined: the call's own
   * transport says it (transparent mode, whose upstream speaks what its client speaks).
   */
  sharedAnswerStream?: boolean | undefined
}

export function hedging(parts: HedgingParts): Middleware {
  // Every call waits the same delay before its next hedge: one queue, one timer (deadlines.ts).
  const delays = new DeadlineQueue(parts.config.delay_ms, parts.clock)
  // Not over legacy HTTP+SSE: its answers come back on one shared stream, matched by id.
  const shared = parts.sharedAnswerStream
  return (call, next) =>
    parts.hints.repeatable(call) && !(shared ?? call.transport === 'sse')
      ? new HedgedCall(parts, delays, call, next).start()
      : next(call)
}

/**
 * A hedge carries its own JSON-RPC id (a session must not see one id twice in flight); its
 * answer is given back the call's id. The id ends with a random part: a client may itself send
 * `7~hedge1` while its `7` is hedged, and the two answers then met under one id at the upstream
 * (one was lost, its call timed out after it ran). Gateway backends number requests themselves.
 */
function asHedge(call: Call, n: number): { call: Call; restore: (reply: Reply) => Promise<Reply> } {
  const message = call.message
  if (!('id' in message) || message.id === undefined || message.id === null) {
    return { call, restore: async (reply) => reply }
  }
  const id = message.id
  // A big-integer id as its literal: the internal marker must never reach an upstream.
  const hedgeId = `${bigIdLiteral(id) ?? String(id)}~hedge${n}~${randomBytes(6).toString('base64url')}`
  const hedge: Call = {
    ...withMessage(call, { ...message, id: hedgeId } as JsonRpcMessage),
    id: hedgeId,
    hedge: n,
  }
  // Matched by the hedge's own id: on an event stream, the event answering the hedge is the one
  // given back the caller's id (keyed by the caller's, it passed on with the hedge's).
  const restore = (reply: Reply) =>
    mapAnswer(hedge, reply, (response) => ({ ...response, id }) as JsonRpcResponse)
  return { call: hedge, restore }
}

/**
 * One hedged call: its attempts, the pending delay before the next hedge, and the latest
 * failure while others still run. A class rather than a closure per step: every repeatable
 * call goes through here, and most never launch a hedge.
 */
class HedgedCall {
  readonly #parts: HedgingParts
  readonly #delays: DeadlineQueue
  readonly #call: Call
  readonly #next: Handler
  /** Attempts still running: made with the first (an empty array grown by `push` reserves 17 slots). */
  #live: Attempt[] | undefined
  #launched = 0
  #settled = false
  #delay: Deadline | undefined
  /** The latest failure while others are still running: an answer or an error. */
  #failure: { reply: Reply } | { error: unknown } | undefined
  #resolve: (reply: Reply) => void = () => {}
  #reject: (error: unknown) => void = () => {}

  constructor(parts: HedgingParts, delays: DeadlineQueue, call: Call, next: Handler) {
    this.#parts = parts
    this.#delays = delays
    this.#call = call
    this.#next = next
  }

  start(): Promise<Reply> {
    const answer = new Promise<Reply>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    const { config, budget } = this.#parts
    this.#launch()
    if (config.delay_ms > 0) this.#schedule()
    else {
      // delay_ms = 0: every attempt at once.
      while (this.#launched <= config.max_hedges && (budget === undefined || budget.withdraw())) {
        this.#launch()
      }
    }
    return answer
  }

  #launch(): void {
    const call = this.#call
    const trial = new Attempt(call)
    if (this.#live === undefined) this.#live = [trial]
    else this.#live.push(trial)
    this.#launched++
    let sent: Promise<Reply>
    if (this.#launched > 1) {
      call.notes.hedges = this.#launched - 1
      if (this.#launched === 2 && this.#parts.cancelUpstream !== undefined) this.#watchCancel()
      const hedge = asHedge(trial.call, this.#launched - 1)
      trial.sentAs = hedge.call.id
      sent = this.#next(hedge.call).then(hedge.restore)
    } else {
      trial.sentAs = trial.call.id
      sent = this.#next(trial.call)
    }
    sent.then(
      (reply) =>
        reply instanceof StreamReply
          ? untilFirstMessage(reply).then(
              (started) => this.#answered(trial, started),
              (error: unknown) => this.#threw(trial, error),
            )
          : this.#answered(trial, reply),
      (error: unknown) => this.#threw(trial, error),
    )
  }

  #answered(trial: Attempt, reply: Reply): void {
    if (this.#settled) {
      discard(reply)
      this.#lost(trial)
      return
    }
    if (this.#running > 1 && (reply.status >= 500 || !this.#holdsTheClient(trial))) {
      this.#failed(trial, { reply })
      return
    }
    this.#finish()
    this.#forget(trial)
    for (const other of this.#live ?? []) this.#lost(other)
    this.#live = undefined
    const failure = this.#failure
    if (failure !== undefined && 'reply' in failure) discard(failure.reply)
    trial.keep(this.#call)
    this.#resolve(reply)
  }

  /**
   * Whether the client's answers went to this attempt, or to none: another attempt's request to
   * the client was refused ("another attempt is being relayed"), and its backend's answer, an
   * `isError` result made of that refusal, must not win over the attempt the client answers.
   */
  #holdsTheClient(trial: Attempt): boolean {
    const askedBy = this.#call.notes.askedBy
    return askedBy === undefined || askedBy === trial.sentAs
  }

  #threw(trial: Attempt, error: unknown): void {
    // A hedge the concurrency limit had no slot for was never sent: not counted as one.
    if (isUnsentHedge(error) && (this.#call.notes.hedges ?? 0) > 0) {
      this.#call.notes.hedges = (this.#call.notes.hedges ?? 1) - 1
    }
    if (this.#settled) this.#lost(trial)
    else this.#failed(trial, { error })
  }

  /** An attempt another one beat: dropped, and cancelled upstream, the call's own too. */
  #lost(trial: Attempt): void {
    const why = 'another attempt answered first'
    trial.drop(why)
    this.#cancelUpstream(trial, why)
  }

  /**
   * The call given up (the client cancelled it, or left): its hedges are cancelled upstream,
   * each under the id it went out with, which no client can name (the call's own id is the
   * client's to cancel, as it did, or to resume).
   */
  #watchCancel(): void {
    const call = this.#call
    call.signal.addEventListener(
      'abort',
      () => {
        for (const trial of this.#live ?? []) {
          if (trial.sentAs !== call.id) this.#cancelUpstream(trial, 'the call was cancelled')
        }
      },
      { once: true },
    )
  }

  /** Tells the upstream `trial` is given up, once, where its dropped request alone is not. */
  #cancelUpstream(trial: Attempt, why: string): void {
    const cancel = this.#parts.cancelUpstream
    if (cancel === undefined || trial.sentAs === undefined || trial.cancelledUpstream) return
    trial.cancelledUpstream = true
    cancel(trial.call, trial.sentAs, why)
  }

  #failed(trial: Attempt, outcome: { reply: Reply } | { error: unknown }): void {
    this.#forget(trial)
    const failure = this.#failure
    if (failure !== undefined && 'reply' in failure) discard(failure.reply)
    this.#failure = outcome
    if (this.#running > 0 && !this.#settled) return
    trial.drop('failed')
    this.#finish()
    if ('reply' in outcome) this.#resolve(outcome.reply)
    else this.#reject(outcome.error)
  }

  #forget(trial: Attempt): void {
    const index = this.#live?.indexOf(trial) ?? -1
    if (index !== -1) this.#live?.splice(index, 1)
  }

  get #running(): number {
    return this.#live?.length ?? 0
  }

  #finish(): void {
    this.#settled = true
    this.#delay?.cancel()
  }

  #schedule(): void {
    if (this.#launched > this.#parts.config.max_hedges) return
    this.#delay = this.#delays.add(() => this.#hedge())
  }

  /** The delay passed without an answer: one more attempt, if the budget allows. */
  #hedge(): void {
    this.#delay = undefined
    // An attempt asked the client something: another would only have its requests refused. An
    // attempt that related anything (a gateway backend's progress) is answering: as a streamed
    // answer's first message does, that ends the hedging.
    const { notes } = this.#call
    if (this.#settled || this.#call.signal.aborted || notes.askedClient === true) return
    if (notes.related === true) return
    const budget = this.#parts.budget
    if (budget !== undefined && !budget.withdraw()) return
    this.#launch()
    this.#schedule()
  }
}

/** The refusal of a hedge that found no free concurrency slot (protect/concurrency.ts). */
function isUnsentHedge(error: unknown): boolean {
  return error instanceof PorticoError && error.data?.reason === 'hedge_no_slot'
}
