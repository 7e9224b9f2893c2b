/**
 * HTTP-level filters: what every request passes before it reaches a handler, JSON-RPC or not
 * (POST, GET streams, DELETE, the legacy SSE stream, widget assets). A filter refuses by
 * throwing a PorticoError, whose status and headers (`WWW-Authenticate`, `Retry-After`) the
 * router sends and records. The Origin guard today; authentication joins here.
 */
import type { IncomingMessage } from 'node:http'
import { PorticoError } from '../errors.ts'
import { headerValue } from '../http/headers.ts'
import { type HostRules, hostCheck, isWellFormedHost } from './host.ts'
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

/**
 * Refuses requests from browser pages of foreign origins (DNS rebinding, CSRF). With
 * `unsafeOnly`, only methods that can change state are checked: widget assets are fetched
 * cross-origin by the hosts' sandboxed iframes, a POST to the upstream's other paths is not.
 */
export function originFilter(
  allowed: readonly string[],
  options: { unsafeOnly?: boolean } = {},
): HttpFilter {
  const check: OriginCheck = originCheck(allowed)
  const unsafeOnly = options.unsafeOnly === true
  return function origin(req) {
    if (unsafeOnly && SAFE_METHODS.has(req.method ?? 'GET')) return
    if (!check(headerValue(req.headers, 'origin'))) throw new PorticoError('forbidden_origin')
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Refuses a malformed Host header (400): what every listener checks on every path, whether or
 * not it checks names (`hostFilter` for the MCP and other paths; the router for probes, mounts
 * and the admin listener).
 */
export function wellFormedHost(req: IncomingMessage): void {
  const value = req.headers.host
  if (value !== undefined && !isWellFormedHost(value)) {
    throw new PorticoError('invalid_request', {
      message: 'Bad Request: the Host header is not host[:port]',
    })
  }
  if (value !== undefined && hostCount(req.rawHeaders) > 1) {
    // Node keeps the first and drops the rest: a name check would judge one Host while
    // whatever reads another (a proxy before Portico, the upstream) may use that one.
    throw new PorticoError('invalid_request', {
      message: 'Bad Request: more than one Host header (RFC 9112 §3.2)',
    })
  }
}

/** How many Host fields a request carries (its raw headers: names at even positions). */
function hostCount(raw: readonly string[]): number {
  let count = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') count++
  }
  return count
}

/**
 * Refuses a malformed Host header (400), and one that is not one of the listener's names
 * (DNS rebinding; 403).
 */
export function hostFilter(rules: HostRules): HttpFilter {
  const check = hostCheck(rules)
  return function host(req) {
    wellFormedHost(req)
    if (check !== undefined && !check(req.headers.host)) throw new PorticoError('forbidden_host')
  }
}
