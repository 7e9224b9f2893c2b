/**
 * Hedging (`[backends.hedging]`), for the calls retries may repeat (hints.ts) and no others:
 * when the first attempt has not answered after `delay_ms`, another one is sent, up to
 * `max_hedges`. The first successful answer wins, not the first error (mcp-proxy lets an
 * error win); the losers are cancelled upstream (`notifications/cancelled`, or the HTTP request
 * aborted) and release what they hold. When every attempt failed, the last failure is the
 * answer. Hedges spend the retry budget when `[backends.retry]` is configured.
 */
import type { HedgingConfig } from '../config/protect.ts'
import type { JsonRpcMessage, JsonRpcResponse } from '../jsonrpc/message.ts'
import { type Call, withMessage } from '../pipeline/call.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import { mapAnswer, type Reply } from '../pipeline/reply.ts'
import type { Clock } from '../util/clock.ts'
import { type Deadline, DeadlineQueue } from '../util/deadlines.ts'
import { Attempt } from './attempt.ts'
import type { ToolHints } from './hints.ts'
import { discard } from './outcome.ts'
import type { RetryBudget } from './retry.ts'

export interface HedgingParts {
  config: HedgingConfig
  hints: ToolHints
  clock: Clock
  budget?: RetryBudget | undefined
}

export function hedging(parts: HedgingParts): Middleware {
  // Every call waits the same delay before its next hedge: one queue, one timer (deadlines.ts).
  const delays = new DeadlineQueue(parts.config.delay_ms, parts.clock)
  // Not over legacy HTTP+SSE: its answers come back on one shared stream, matched by id.
  return (call, next) =>
    parts.hints.repeatable(call) && call.transport !== 'sse'
      ? hedged(parts, delays, call, next)
      : next(call)
}

/**
 * A hedge carries its own JSON-RPC id (a session must not see one id twice in flight); its
 * answer is given back the call's id. Gateway backends number requests themselves anyway.
 */
function asHedge(call: Call, n: number): { call: Call; restore: (reply: Reply) => Promise<Reply> } {
  const message = call.message
  if (!('id' in message) || message.id === undefined || message.id === null) {
    return { call, restore: async (reply) => reply }
  }
  const id = message.id
  const hedge = withMessage(call, { ...message, id: `${String(id)}~hedge${n}` } as JsonRpcMessage)
  const restore = (reply: Reply) =>
    mapAnswer(hedge, reply, (response) => ({ ...response, id }) as JsonRpcResponse)
  return { call: { ...hedge, id: `${String(id)}~hedge${n}` }, restore }
}

function hedged(
  parts: HedgingParts,
  delays: DeadlineQueue,
  call: Call,
  next: Handler,
): Promise<Reply> {
  const { config, budget } = parts
  const live = new Set<Attempt>()
  let launched = 0
  let settled = false
  let delay: Deadline | undefined
  /** The latest failure while others are still running: an answer or an error. */
  let failure: { reply: Reply } | { error: unknown } | undefined
  return new Promise<Reply>((resolve, reject) => {
    const finish = () => {
      settled = true
      delay?.cancel()
    }
    const failed = (trial: Attempt, outcome: { reply: Reply } | { error: unknown }) => {
      live.delete(trial)
      if (failure !== undefined && 'reply' in failure) discard(failure.reply)
      failure = outcome
      if (live.size > 0 && !settled) return
      trial.drop('failed')
      finish()
      if ('reply' in outcome) resolve(outcome.reply)
      else reject(outcome.error)
    }
    const launch = () => {
      const trial = new Attempt(call)
      live.add(trial)
      launched++
      let sent: Promise<Reply>
      if (launched > 1) {
        call.notes.hedges = launched - 1
        const hedge = asHedge(trial.call, launched - 1)
        sent = next(hedge.call).then(hedge.restore)
      } else sent = next(trial.call)
      sent.then(
        (reply) => {
          if (settled) {
            discard(reply)
            trial.drop('another attempt answered first')
            return
          }
          if (reply.status >= 500 && live.size > 1) return failed(trial, { reply })
          if (settled) {
            discard(reply)
            trial.drop('another attempt answered first')
            return
          }
          finish()
          live.delete(trial)
          for (const other of live) other.drop('another attempt answered first')
          live.clear()
          if (failure !== undefined && 'reply' in failure) discard(failure.reply)
          trial.keep(call)
          resolve(reply)
        },
        (error: unknown) => {
          if (settled) return trial.drop('failed')
          failed(trial, { error })
        },
      )
    }
    const schedule = () => {
      if (launched > config.max_hedges) return
      delay = delays.add(() => {
        delay = undefined
        if (settled || call.signal.aborted) return
        if (budget !== undefined && !budget.withdraw()) return
        launch()
        schedule()
      })
    }
    launch()
    if (config.delay_ms > 0) return schedule()
    // delay_ms = 0: every attempt at once.
    while (launched <= config.max_hedges && (budget === undefined || budget.withdraw())) launch()
  })
}
