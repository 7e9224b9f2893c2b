/**
 * Reading the client's credential: `Authorization: Bearer <token>` (RFC 6750 §2.1, the only
 * method MCP allows; tokens in the query string are never read). A header that is present but
 * not a Bearer token68 is malformed and refused, rather than treated as "no token".
 */
import type { IncomingHttpHeaders } from 'node:http'
import { AuthFailure } from './challenge.ts'

/** RFC 6750 b64token. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

/** Longest credential read; anything longer is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024

/** The bearer token, or undefined when the request carries no Authorization header. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization
  if (value === undefined) return undefined
  const space = value.indexOf(' ')
  const scheme = space === -1 ? value : value.slice(0, space)
  if (space === -1 || scheme.toLowerCase() !== 'bearer') {
    throw new AuthFailure('invalid_request', 'the Authorization header must be "Bearer <token>"')
  }
  const token = value.slice(space + 1).trim()
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !TOKEN68.test(token)) {
    throw new AuthFailure('invalid_request', 'malformed bearer token')
  }
  return token
}
