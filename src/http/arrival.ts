/**
 * When each request arrived (`performance.now()`), stamped as the listener hands it over: a
 * recorded duration starts there, as nginx's `$request_time` does, so it holds the time the
 * filters took (a token introspected, a key set fetched) and the body's reading, not only the
 * handler's. Held beside the request, not on it: no property added to Node's objects.
 */
import type { IncomingMessage } from 'node:http'

const ARRIVALS = new WeakMap<IncomingMessage, number>()

export function markArrival(req: IncomingMessage): void {
  ARRIVALS.set(req, performance.now())
}

/** The request's arrival, when the listener stamped it (a library embedder's may not). */
export function arrivalOf(req: IncomingMessage): number | undefined {
  return ARRIVALS.get(req)
}
