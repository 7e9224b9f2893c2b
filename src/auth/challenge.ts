/**
 * How an authentication failure is told to the client: RFC 6750 error codes in a
 * `WWW-Authenticate: Bearer` challenge that names the protected resource metadata (RFC 9728)
 * and the scopes needed, as the MCP authorization spec requires (401 for a missing or invalid
 * token, 403 `insufficient_scope`). The failure's description is public: it says why (expired,
 * wrong audience) and never echoes the token.
 */
import { PorticoError } from '../errors.ts'

export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

/** A refused credential; the filter turns it into a 401/403 with the challenge. */
export class AuthFailure extends Error {
  readonly error: BearerError | undefined
  /** Scopes the request needs (insufficient_scope). */
  readonly scopes: readonly string[] | undefined

  constructor(error: BearerError | undefined, description: string, scopes?: readonly string[]) {
    super(description)
    this.name = 'AuthFailure'
    this.error = error
    this.scopes = scopes
  }
}

export interface ChallengeParams {
  /** URL of the protected resource metadata (OAuth kinds only). */
  resourceMetadata?: string
  /** Scopes to ask for (`scopes_supported` or `required_scopes`). */
  scopes?: readonly string[]
}

/** `Bearer resource_metadata="…", scope="…"[, error="…", error_description="…"]`. */
export function challenge(params: ChallengeParams, failure?: AuthFailure): string {
  const parts: string[] = []
  if (params.resourceMetadata !== undefined) {
    parts.push(`resource_metadata="${quoted(params.resourceMetadata)}"`)
  }
  const scopes = failure?.scopes ?? params.scopes
  if (scopes !== undefined && scopes.length > 0) parts.push(`scope="${quoted(scopes.join(' '))}"`)
  if (failure?.error !== undefined) {
    parts.push(`error="${failure.error}"`)
    parts.push(`error_description="${quoted(failure.message)}"`)
  }
  if (parts.length === 0) parts.push('realm="portico"')
  return `Bearer ${parts.join(', ')}`
}

/** The refusal of a request: 401, or 403 for insufficient scope, with the challenge. */
export function refusal(params: ChallengeParams, failure: AuthFailure): PorticoError {
  const forbidden = failure.error === 'insufficient_scope'
  return new PorticoError(forbidden ? 'forbidden' : 'unauthorized', {
    message: `${forbidden ? 'Forbidden' : 'Unauthorized'}: ${failure.message}`,
    headers: { 'www-authenticate': challenge(params, failure) },
  })
}

/**
 * A quoted-string value: visible ASCII and spaces only, no quotes or backslashes. A character
 * past Latin-1 (a tool named `写入`, a subject `山田`) cannot be sent in a header at all: Node
 * threw writing the 403, and the client got a 502 blaming the upstream instead.
 */
function quoted(text: string): string {
  let out = ''
  for (const c of text) {
    const code = c.charCodeAt(0)
    out += c === '"' || c === '\\' ? ' ' : code < 0x20 || code > 0x7e ? '?' : c
  }
  return out
}
