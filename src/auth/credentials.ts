/**
 * Reading the client's credential: `Authorization: Bearer <token>` (RFC 6750 §2.1, the only
 * method MCP allows; tokens in the query string are never read). A header that is present but
 * not a Bearer token is malformed and refused, rather than treated as "no token". The token may
 * be any visible ASCII, not only RFC 6750's b64token characters: mcp-proxy matched its static
 * tokens whatever they held (`p@ss:word!`), and a key is compared whole, by digest, never
 * parsed (a JWT is checked by its own parser).
 */
import type { IncomingHttpHeaders } from 'node:http'
import { presentable } from '../config/auth.ts'
import { AuthFailure } from './challenge.ts'

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
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !presentable(token)) {
    throw new AuthFailure('invalid_request', 'malformed bearer token')
  }
  return token
}
