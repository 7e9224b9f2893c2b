/**
 * HTTP-level filters: what every request passes before it reaches a handler, JSON-RPC or not
 * (POST, GET streams, DELETE, the legacy SSE stream, widget assets). A filter refuses by
 * throwing a PorticoError, whose status and headers (`WWW-Authenticate`, `Retry-After`) the
 * router sends and records. The Origin guard today; authentication joins here.
 */
import type { IncomingMessage } from 'node:http'
import { PorticoError } from '../errors.ts'
import { headerValue } from '../http/headers.ts'
import { type OriginCheck, originCheck } from './origin.ts'

export type HttpFilter = (req: IncomingMessage) => void | Promise<void>

/** Runs filters in order; stays synchronous while every filter is. */
export function runFilters(
  filters: readonly HttpFilter[],
  req: IncomingMessage,
): void | Promise<void> {
  for (let i = 0; i < filters.length; i++) {
    const pending = (filters[i] as HttpFilter)(req)
    if (pending !== undefined) return pending.then(() => runFilters(filters.slice(i + 1), req))
  }
  return undefined
}

/** Refuses requests from browser pages of foreign origins (DNS rebinding, CSRF). */
export function originFilter(allowed: readonly string[]): HttpFilter {
  const check: OriginCheck = originCheck(allowed)
  return function origin(req) {
    if (!check(headerValue(req.headers, 'origin'))) throw new PorticoError('forbidden_origin')
  }
}
