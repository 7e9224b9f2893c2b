/**
 * What an attempt's ending says about the upstream, shared by the breaker, outlier detection,
 * retries and hedging so they agree: a transport failure, a 5xx answer or a timeout is the
 * upstream's failure; a client error, a cancellation, Portico's own refusal (rate limit, open
 * breaker) and an `isError` tool result are not. JSON-RPC internal errors count only when the
 * breaker is told to (`count_internal_errors`).
 */
import { PorticoError } from '../errors.ts'
import { MessageReply, type Reply, StreamReply } from '../pipeline/reply.ts'
import type { SignalLike } from '../pipeline/signal.ts'

export type Verdict = 'ok' | 'failure' | 'cancelled' | 'refused'

/** Reasons that mean the upstream failed (not the client, not Portico's own policy). */
const FAILURES: ReadonlySet<string> = new Set([
  'backend_failed',
  'upstream_unavailable',
  'upstream_timeout',
  'upstream_bad_response',
  'upstream_stream_ended',
  'response_too_large',
  'internal_error',
])

/** Errors Portico raised before an attempt reached the upstream, whatever their reason. */
const NOT_REACHED = new WeakSet<object>()

/**
 * Marks `error` as raised on Portico's side of an attempt (the call's deadline passed while it
 * waited in the concurrency queue): the upstream was never asked, so it says nothing of its
 * health, although its reason (`upstream_timeout`) is what the client must see.
 */
export function notReached<T extends object>(error: T): T {
  NOT_REACHED.add(error)
  return error
}

/**
 * The verdict on a thrown error. An attempt whose signal was aborted is cancelled (the client
 * left, a hedge lost), unless the abort was the call's deadline: that is a timeout.
 */
export function errorVerdict(error: unknown, signal: SignalLike): Verdict {
  if (typeof error === 'object' && error !== null && NOT_REACHED.has(error)) return 'refused'
  if (signal.aborted) {
    const reason: unknown = signal.reason
    if (!(reason instanceof PorticoError) || reason.reason !== 'upstream_timeout')
      return 'cancelled'
  }
  if (!(error instanceof PorticoError)) return 'failure'
  if (error.reason === 'cancelled') return 'cancelled'
  return FAILURES.has(error.reason) ? 'failure' : 'refused'
}

/** The verdict on an answer: a 5xx is a failure; so is -32603 when `internalErrors` is set. */
export function replyVerdict(reply: Reply, internalErrors: boolean): Verdict | Promise<Verdict> {
  if (reply.status >= 500) return 'failure'
  if (!internalErrors || !(reply instanceof MessageReply)) return 'ok'
  return reply.json().then(
    (response) => (response?.error?.code === -32603 ? 'failure' : 'ok'),
    () => 'ok',
  )
}

/** Lets go of an answer nobody will read (a hedge that lost, an attempt about to be retried). */
export function discard(reply: Reply): void {
  if (reply instanceof MessageReply) {
    const body = reply.body()
    if ('rest' in body) body.rest.destroy()
    return
  }
  if (reply instanceof StreamReply) {
    void reply.events[Symbol.asyncIterator]()
      .return?.()
      ?.catch(() => {})
    return
  }
  if (reply.kind === 'http') reply.body.destroy()
}
