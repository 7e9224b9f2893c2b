/**
 * The per-attempt health gate of one upstream: an ejected upstream or an open breaker refuses
 * the attempt at once; otherwise the attempt runs and its verdict (outcome.ts) feeds the
 * breaker's window and the ejection streak. Transitions are noted on the call, so the record
 * of the call that opened a breaker says so.
 */
import type { Call } from '../pipeline/call.ts'
import { callNext, type Middleware } from '../pipeline/compose.ts'
import type { CircuitBreaker } from './breaker.ts'
import { callAtFirstMessage } from './first-message.ts'
import { errorVerdict, replyVerdict, type Verdict } from './outcome.ts'
import type { OutlierDetector } from './outlier.ts'

export interface HealthParts {
  breaker?: CircuitBreaker | undefined
  outlier?: OutlierDetector | undefined
  /** JSON-RPC internal errors count as failures (`count_internal_errors`). */
  internalErrors: boolean
}

export function upstreamHealth(parts: HealthParts): Middleware {
  const { breaker, outlier, internalErrors } = parts
  const note = (call: Call, ticket: number, verdict: Verdict) => {
    const changed = breaker?.record(ticket, verdict)
    if (changed !== undefined) call.notes.breaker = changed
    if (outlier?.record(verdict)) call.notes.breaker = 'ejected'
  }
  // Not an async function: one per attempt, and its frame was most of this layer's garbage.
  return (call, next) => {
    // Only requests are attempts the upstream answers: a client's notification (or its
    // response to a server request) is accepted with 202 whatever the upstream's state, so it
    // says nothing of its health. Counted, a client sending them between its calls kept a
    // failing upstream's breaker closed (and closed an open one's probes, and reset the
    // ejection streak); refused while open, a `notifications/cancelled` could not pass.
    if (call.kind !== 'request') return callNext(next, call)
    let ticket: number
    try {
      outlier?.check()
      ticket = breaker === undefined ? 0 : breaker.admit()
    } catch (refusal) {
      return Promise.reject(refusal)
    }
    // An event stream's head says little (an SDK server sends it at once, and a tool that
    // hangs times out inside the stream): the attempt is judged at its first message.
    return callAtFirstMessage(next, call).then(
      (reply) => {
        const verdict = replyVerdict(reply, internalErrors)
        if (typeof verdict === 'string') {
          note(call, ticket, verdict)
          return reply
        }
        return verdict.then((late) => {
          note(call, ticket, late)
          return reply
        })
      },
      (error: unknown) => {
        note(call, ticket, errorVerdict(error, call.signal))
        throw error
      },
    )
  }
}
