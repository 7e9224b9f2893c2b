/**
 * Who is calling: the identity an authentication filter verified for one HTTP request, carried
 * to every call of that request (`Call.identity`), to the recorder and to upstreams. It lives
 * here, below the edge and the modes, so the filter that sets it (src/auth/), the edge that
 * reads it into calls, and the gateway that sends it to backends share one type without
 * importing each other. The client's credential is kept apart from the identity (a WeakMap),
 * so logging or serializing an identity can never print a token.
 */
import type { IncomingMessage } from 'node:http'

export interface Identity {
  /** The caller: the token's subject claim, or the API key's name. */
  readonly subject: string
  /** The OAuth client the token was issued to (`client_id` / `azp`), when known. */
  readonly clientId?: string
  /** How the identity was verified. */
  readonly method: 'api_key' | 'jwt' | 'introspection' | 'admin_token'
  /** Stable key of the principal (method, issuer, subject): what sessions are bound to. */
  readonly key: string
  readonly scopes: readonly string[]
  /** Roles from `role_mapping` or the API key; empty when none applies. */
  readonly roles: readonly string[]
  /** May use admin surfaces (the `portico__*` tools). */
  readonly admin: boolean
  /** Verified identity headers for upstreams (`x-user-id` and configured claim headers). */
  readonly headers: Readonly<Record<string, string>>
  /** The verified claims (JWT payload or introspection answer); never the token itself. */
  readonly claims: Readonly<Record<string, unknown>>
  /** Unix seconds after which the credential is no longer valid, when it says. */
  readonly expiresAt?: number
}

const BY_REQUEST = new WeakMap<IncomingMessage, Identity>()
const CREDENTIALS = new WeakMap<Identity, string>()

/** Attaches a verified identity (and the credential it came from) to a request. */
export function attachIdentity(
  req: IncomingMessage,
  identity: Identity,
  credential?: string,
): void {
  BY_REQUEST.set(req, identity)
  if (credential !== undefined) CREDENTIALS.set(identity, credential)
}

/** The identity verified for a request, if any filter verified one. */
export function identityOf(req: IncomingMessage): Identity | undefined {
  return BY_REQUEST.get(req)
}

/**
 * The raw credential behind an identity, for `forward_auth` only, when it may leave Portico:
 * a token an authorization server issued (a JWT, an introspected token), which upstreams can
 * verify themselves. Portico's own credentials (API keys, the admin token) never do: a backend
 * holding the admin token could reconfigure Portico. Never log or record it.
 */
export function credentialOf(identity: Identity): string | undefined {
  return isForwardable(identity) ? CREDENTIALS.get(identity) : undefined
}

/** Whether the credential behind an identity may be passed on (see `credentialOf`). */
export function isForwardable(identity: Identity): boolean {
  return identity.method === 'jwt' || identity.method === 'introspection'
}
