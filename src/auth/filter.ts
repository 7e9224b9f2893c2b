/**
 * The authentication HTTP filter: every request that can reach an upstream (POST, GET streams,
 * DELETE, legacy SSE, widget assets) must carry a credential Portico verifies, or is refused
 * 401 with the challenge (403 for missing scopes). On success the identity is attached to the
 * request (calls read it), the session it presents is checked against its owner, and the
 * request's headers are made what upstreams may see: the client's `Authorization` removed (no
 * token passthrough unless `forward_token`), client-sent copies of the identity headers
 * removed, and the verified ones set. CORS preflights carry no credentials and are let through.
 */
import type { IncomingMessage } from 'node:http'
import { PorticoError } from '../errors.ts'
import { isCorsPreflight } from '../http/headers.ts'
import { attachIdentity, isForwardable } from '../pipeline/identity.ts'
import type { Authenticator, Verified } from './authenticator.ts'
import type { SessionOwners } from './sessions.ts'

/** The edge's filter shape (edge/filters.ts `HttpFilter`), declared here below the edge. */
export type RequestFilter = (req: IncomingMessage) => void | Promise<void>

export interface AuthFilterOptions {
  authenticator: Authenticator
  sessions: SessionOwners
  /** Keep the client's Authorization header on the request (transparent `forward_token`). */
  forwardToken: boolean
  /** The client's address, as far as trusted proxies vouch for it. */
  clientAddress: (req: IncomingMessage) => string
}

export function authFilter(options: AuthFilterOptions): RequestFilter {
  const { authenticator, sessions, forwardToken, clientAddress } = options
  const identityHeaders = authenticator.builder.identityHeaderNames()
  const identityNames = new Set(identityHeaders)
  const admit = (req: IncomingMessage, verified: Verified): void => {
    const { identity, token } = verified
    // Attached first, so a refused session is recorded with who presented it.
    attachIdentity(req, identity, token)
    sessions.check(req, identity)
    const headers = req.headers
    // Only a token an authorization server issued is passed on (pipeline/identity.ts).
    if (!forwardToken || !isForwardable(identity)) delete headers.authorization
    dropClientIdentity(headers, identityHeaders, identityNames)
    Object.assign(headers, identity.headers)
    // `Connection: x-user-id` would make the verified header hop-by-hop, dropped on the way to
    // the upstream: the client cannot name the headers Portico vouches for.
    if (headers.connection !== undefined) {
      headers.connection = withoutTokens(headers.connection, identityHeaders)
    }
  }
  return function authenticate(req): void | Promise<void> {
    if (isCorsPreflight(req)) {
      dropClientIdentity(req.headers, identityHeaders, identityNames)
      delete req.headers.authorization
      return undefined
    }
    let verified: Verified | Promise<Verified>
    try {
      verified = authenticator.authenticate(req.headers, clientAddress(req))
    } catch (error) {
      throw readableByBrowsers(req, error)
    }
    if (verified instanceof Promise) {
      return verified.then(
        (v) => admit(req, v),
        (error: unknown) => {
          throw readableByBrowsers(req, error)
        },
      )
    }
    admit(req, verified)
    return undefined
  }
}

/**
 * A refusal a browser-based client can read: its Origin passed the Origin filter already, so
 * the answer names it and exposes `WWW-Authenticate` (which starts the OAuth flow).
 */
function readableByBrowsers(req: IncomingMessage, error: unknown): unknown {
  const origin = req.headers.origin
  if (origin === undefined || !(error instanceof PorticoError)) return error
  return new PorticoError(error.reason, {
    message: error.message,
    ...(error.data === undefined ? {} : { data: error.data }),
    headers: {
      ...error.headers,
      'access-control-allow-origin': origin,
      'access-control-expose-headers': 'WWW-Authenticate',
      vary: 'Origin',
    },
  })
}

/** A `Connection` header's value without the tokens naming `names` (lower-case). */
function withoutTokens(value: string | string[], names: readonly string[]): string {
  const named = new Set(names.map((name) => name.toLowerCase()))
  const text = Array.isArray(value) ? value.join(',') : value
  return text
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '' && !named.has(token.toLowerCase()))
    .join(', ')
}

/**
 * Removes the client's own copies of the identity headers, `x_user_id` spellings included: a
 * WSGI server (gunicorn, Werkzeug) reads `x_user_id` as `HTTP_X_USER_ID` beside the verified
 * `x-user-id`, so a client could name itself (nginx drops such headers by default).
 */
function dropClientIdentity(
  headers: IncomingMessage['headers'],
  names: readonly string[],
  set: ReadonlySet<string>,
): void {
  for (const name of names) delete headers[name]
  for (const name in headers) {
    if (name.includes('_') && set.has(name.replace(/_/g, '-'))) delete headers[name]
  }
}
