/**
 * A client's cancellation of a request, in transparent mode. On a session (MCP ≤ 2025-11-25) a
 * client cancels by POSTing `notifications/cancelled` that names the request's id; closing the
 * request's stream is no cancellation there. Portico forwards the notification like any other
 * message, but the request it names is still open through Portico: the upstream honours the
 * cancel by never answering it, and then either ends the request's stream (which read as the
 * upstream's failure: `upstream_stream_ended` recorded, and Portico's error event sent to a
 * client that had given the call up) or holds it open until the client leaves (the SDK's
 * server does, and the SDK's client keeps its POST open: one connection to the client and one
 * upstream held per cancelled call).
 *
 * So requests on a session are watched while they run (an entry in an OpenList, no hash table
 * churn), and a cancel that names one marks it cancelled (`notes.cancelled`: recorded as
 * `cancelled`, no error event) and, once the notification has been delivered upstream, lets go
 * of its upstream request. With `workers` > 1 the cancel may reach another worker than its
 * request: that request keeps the old behaviour.
 *
 * The legacy HTTP+SSE transport the same: its requests wait for their answers on the session's
 * stream, each until `request_timeout` (then an error event, recorded as the upstream's
 * timeout, a drain holding the stream open for it); a cancel ends the wait, and no answer is
 * written for it (legacy-sse.ts).
 */
import { PorticoError } from '../errors.ts'
import { exactIdMember, isObject, type JsonRpcId } from '../jsonrpc/message.ts'
import type { Call, CallNotes } from '../pipeline/call.ts'
import { callNext, type Handler } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import { CallController } from '../pipeline/signal.ts'
import { type OpenEntry, OpenList } from '../util/open-list.ts'

const CANCELLED = 'notifications/cancelled'

export class ClientCancels {
  readonly #open = new OpenList<Cancellable>()

  /** `next`, with the requests on a session watched and the cancels naming them applied. */
  handler(next: Handler): Handler {
    return (call) => {
      if (call.sessionId === undefined) return next(call)
      if (call.kind === 'request' && call.id !== undefined) {
        return new Cancellable(this.#open, call).run(next)
      }
      if (call.method === CANCELLED) return this.#cancel(call, next)
      return next(call)
    }
  }

  /** How many requests on sessions are in flight (for tests). */
  get size(): number {
    return this.#open.size
  }

  #cancel(call: Call, next: Handler): Promise<Reply> {
    const named = this.#named(call)
    if (named === undefined) return next(call)
    // Marked before the upstream hears of it, so that a stream it ends at once reads as the
    // cancel's outcome; let go only once the upstream knows it was a cancel (a closed stream
    // alone is none, on a session).
    named.notes.cancelled = true
    const delivered = callNext(next, call)
    // Refused on its way (a rate limit, an open breaker), the cancel never reached the upstream:
    // its request is left to end as it will (recorded cancelled if no answer comes).
    delivered.then(
      (reply) => {
        if (reply.status < 300) named.cancel()
      },
      () => {},
    )
    return delivered
  }

  #named(call: Call): Cancellable | undefined {
    const params = 'params' in call.message ? call.message.params : undefined
    if (!isObject(params)) return undefined
    const id = exactIdMember(params, 'requestId')
    if (typeof id !== 'string' && typeof id !== 'number') return undefined
    for (const open of this.#open.items()) {
      if (open.id === id && open.sessionId === call.sessionId) return open
    }
    return undefined
  }
}

/**
 * One request on a session, in flight until its answer is over (its lifetime's end). An object
 * told by the lifetime rather than a closure per call (see pipeline/lifetime.ts).
 */
class Cancellable {
  readonly sessionId: string | undefined
  readonly id: JsonRpcId | undefined
  readonly notes: CallNotes
  readonly #call: Call
  readonly #list: OpenList<Cancellable>
  readonly #entry: OpenEntry<Cancellable>
  readonly #controller: CallController

  constructor(list: OpenList<Cancellable>, call: Call) {
    this.sessionId = call.sessionId
    this.id = call.id
    this.notes = call.notes
    this.#call = call
    this.#list = list
    this.#entry = list.add(this)
    this.#controller = CallController.linkedTo(call.signal)
    call.lifetime.onEnd(this)
  }

  run(next: Handler): Promise<Reply> {
    // Let go before its answer started, the call fails with the abort: the chain's errorReply
    // reads that as the cancel it is (`notes.cancelled`), not as the upstream's failure.
    return callNext(next, { ...this.#call, signal: this.#controller.signal })
  }

  cancel(): void {
    this.#controller.abort(new PorticoError('cancelled'))
  }

  callEnded(): void {
    this.#list.unlink(this.#entry)
    this.#controller.unlink()
  }
}
