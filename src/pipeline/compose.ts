/**
 * The shape every policy shares: a `Handler` answers a call; a `Middleware` wraps the next
 * handler and may look at the call, refuse it (throw a PorticoError), answer it itself, time
 * it, retry it, or change what `next` returns. `compose` builds one handler from an ordered
 * list, the way Hono, undici's interceptors and tower do.
 */
import { PorticoError, toPorticoError } from '../errors.ts'
import type { Call } from './call.ts'
import { MessageReply, type Reply } from './reply.ts'

export type Handler = (call: Call) => Promise<Reply>
export type Middleware = (call: Call, next: Handler) => Promise<Reply>

/**
 * One handler running `middleware` in order, then `terminal`. A middleware may call `next`
 * any number of times (retries, hedging) or not at all (a cache hit, a refusal). A synchronous
 * throw becomes a rejected promise, so callers see one failure path.
 */
export function compose(middleware: readonly Middleware[], terminal: Handler): Handler {
  let handler = terminal
  for (let i = middleware.length - 1; i >= 0; i--) {
    const layer = middleware[i] as Middleware
    const next = handler
    handler = (call) => {
      try {
        return layer(call, next)
      } catch (error) {
        return Promise.reject(error)
      }
    }
  }
  return handler
}

/**
 * `next(call)` for a middleware written without `async`: a synchronous throw becomes a
 * rejected promise, as it would inside an async function.
 */
export function callNext(next: Handler, call: Call): Promise<Reply> {
  try {
    return next(call)
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * The chain as the edge runs it: it never rejects. A refusal or failure becomes the call's
 * JSON-RPC error answer with its id (its reason noted for the recorder); a failure that is not
 * a PorticoError is reported to `onInternal` (logged) and answered as an internal error.
 */
export function answering(
  handler: Handler,
  onInternal: (error: unknown, call: Call) => void = () => {},
): Handler {
  return (call) =>
    handler(call).then(undefined, (error: unknown) => {
      if (!(error instanceof PorticoError) && !call.signal.aborted) onInternal(error, call)
      return errorReply(call, error)
    })
}

/**
 * The error answer for a call, noting its reason. A call the client cancelled, or a client
 * that left (the call's signal aborted), is `cancelled`, whether the failure is not a
 * PorticoError or one raised because of that abort: the HTTP client reports its aborted request
 * as `upstream_unavailable`, with the signal's reason as its cause, and that must not be
 * recorded as the upstream's failure.
 */
export function errorReply(call: Call, error: unknown): MessageReply {
  const failure = wasCancelled(call, error) ? new PorticoError('cancelled') : toPorticoError(error)
  call.notes.reason ??= failure.reason
  return MessageReply.error(failure, call.id)
}

/** A client's cancel (transparent/client-cancels.ts) or departure is why the call failed. */
function wasCancelled(call: Call, error: unknown): boolean {
  if (call.notes.cancelled === true) return true
  const signal = call.signal
  return signal.aborted && (!(error instanceof PorticoError) || causedBy(error, signal.reason))
}

/** Whether `reason` is `error` or in its chain of causes (a few links: they are short). */
function causedBy(error: unknown, reason: unknown): boolean {
  let link: unknown = error
  for (let depth = 0; depth < 8 && typeof link === 'object' && link !== null; depth++) {
    if (link === reason) return true
    link = (link as { cause?: unknown }).cause
  }
  return false
}
