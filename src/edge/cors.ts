/**
 * CORS for browser-based MCP clients (the MCP Inspector's direct mode, web apps using an SDK):
 * a page of an origin the Origin filter admits (localhost, `allowed_origins`) may call the MCP
 * endpoint and read its answers. Portico answers the preflight itself, in both modes, as mcpr
 * and the SDKs' example servers do; the headers a client must read (`Mcp-Session-Id`,
 * `WWW-Authenticate`, …) are exposed. Origins the filter refuses get no CORS headers: their
 * requests are refused with 403 before anything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { headerValue } from '../http/headers.ts'
import type { OriginCheck } from './origin.ts'

/** Headers of MCP answers a browser client reads. */
const EXPOSED = 'Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After'
/** Request headers allowed when a preflight names none (or too many to repeat). */
const ALLOWED_HEADERS =
  'Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name'
/** A preflight's `Access-Control-Request-Headers` longer than this is not repeated back. */
const MAX_REQUESTED_HEADERS = 2048
/** How long a browser may keep a preflight's answer (seconds). */
const PREFLIGHT_MAX_AGE = '600'

/**
 * Sets the CORS headers of an answer to an admitted Origin before the answer is written (an
 * upstream's own CORS headers, forwarded, replace these). A request without Origin (every
 * non-browser client) costs one header lookup.
 */
export function allowOrigin(req: IncomingMessage, res: ServerResponse, check: OriginCheck): void {
  const origin = headerValue(req.headers, 'origin')
  if (origin === undefined || !check(origin)) return
  res.setHeader('access-control-allow-origin', origin)
  res.setHeader('access-control-expose-headers', EXPOSED)
  res.setHeader('vary', 'Origin')
}

/** Answers a preflight the filters admitted: 204, the methods and the headers asked for. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  const requested = headerValue(req.headers, 'access-control-request-headers')
  const headers =
    requested !== undefined && requested.length <= MAX_REQUESTED_HEADERS && isTokenList(requested)
      ? requested
      : ALLOWED_HEADERS
  res.writeHead(204, {
    'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
    'access-control-allow-headers': headers,
    'access-control-max-age': PREFLIGHT_MAX_AGE,
    vary: 'Origin, Access-Control-Request-Headers',
  })
  res.end()
}

/** A comma-separated list of header names (nothing that could split or inject a header). */
function isTokenList(value: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/.test(value.trim())
}
