/**
 * The per-attempt health gate of one upstream: an ejected upstream or an open breaker refuses
 * the attempt at once; otherwise the attempt runs and its verdict (outcome.ts) feeds the
 * breaker's window and the ejection streak. Transitions are noted on the call, so the record
 * of the call that opened a breaker says so.
 */
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import type { CircuitBreaker } from './breaker.ts'
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
  return async (call, next) => {
    outlier?.check()
    const ticket = breaker === undefined ? 0 : breaker.admit()
    let reply: Reply
    try {
      reply = await next(call)
    } catch (error) {
      note(call, ticket, errorVerdict(error, call.signal))
      throw error
    }
    const verdict = replyVerdict(reply, internalErrors)
    note(call, ticket, typeof verdict === 'string' ? verdict : await verdict)
    return reply
  }
}
