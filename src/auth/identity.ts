/**
 * From verified claims (or a configured key) to an `Identity`: the subject, the OAuth client,
 * the scopes, the role (`role_mapping`, mcp-proxy's rules), admin rights, and the identity
 * headers upstreams receive (`x-user-id` and the configured claim headers). Built once per
 * verification: the filter attaches it, nothing on the hot path recomputes it.
 */
import type { AuthConfig } from '../config/auth.ts'
import type { Identity } from '../pipeline/identity.ts'
import { AuthFailure } from './challenge.ts'
import { issuerKey } from './discovery.ts'

export type Claims = Record<string, unknown>

/**
 * Header values are visible ASCII; anything else is percent-encoded (RFC 3986) so it fits. A
 * value that holds a `%`, or a space at either end (which HTTP would drop), is encoded too, so
 * that no two values are sent alike: a server keying data on `x-user-id` must not see `ä` and
 * `%C3%A4`, or ` alice ` and `alice`, as one user.
 */
export function headerSafe(value: unknown): string {
  // An array of strings is its values joined with commas (as HTTP lists are), unless one holds
  // a comma: `["a,b"]` and `["a","b"]` would read alike, so such an array is sent as JSON.
  const text =
    typeof value === 'string'
      ? value
      : Array.isArray(value) && value.every((v) => typeof v === 'string' && !v.includes(','))
        ? value.join(',')
        : JSON.stringify(value)
  return /^(?! )[\x20-\x24\x26-\x7e]*$/.test(text) && !text.endsWith(' ')
    ? text
    : encodeURIComponent(text)
}

/** Scopes from `scope` (space-separated, RFC 8693) or `scp` (array or string). */
export function scopesOf(claims: Claims): string[] {
  const scope = claims.scope ?? claims.scp
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean)
  if (Array.isArray(scope)) return scope.filter((s): s is string => typeof s === 'string')
  return []
}

/** Claims holding a token's scopes (RFC 9068's `scope`, and `scp` as some servers write it). */
export const SCOPE_CLAIMS: ReadonlySet<string> = new Set(['scope', 'scp'])

export class IdentityBuilder {
  readonly #auth: AuthConfig
  readonly #adminRoles: ReadonlySet<string>

  constructor(auth: AuthConfig) {
    this.#auth = auth
    this.#adminRoles = new Set(auth.roles.filter((r) => r.admin).map((r) => r.name))
  }

  /** An identity from a verified token's claims. */
  fromClaims(claims: Claims, method: 'jwt' | 'introspection'): Identity {
    const subject = subjectOf(claims, this.#auth.identity.subject_claim)
    const clientId = stringClaim(claims.client_id) ?? stringClaim(claims.azp)
    const scopes = scopesOf(claims)
    const roles = this.#rolesOf(claims, scopes)
    // As the issuer check compares it (a trailing slash apart): one user, one key, either way.
    const issuer = issuerKey(stringClaim(claims.iss) ?? '')
    // A token without a subject (client credentials) is its client.
    const who = subject || (clientId === undefined ? '' : `client:${clientId}`)
    const identity: Identity = {
      subject: who,
      method,
      // A subject and a client each in their own space: a user whose subject is
      // `client:ci-bot` is not the client ci-bot (its sessions, budgets, parked calls).
      key: subject ? `${issuer}#s:${subject}` : `${issuer}#c:${clientId ?? ''}`,
      scopes,
      roles,
      admin: roles.some((r) => this.#adminRoles.has(r)),
      headers: this.#headers(who, claims),
      claims,
      ...(clientId === undefined ? {} : { clientId }),
      ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp } : {}),
    }
    return identity
  }

  /**
   * An identity for a configured key: an API key, a (scoped) token or the admin token. Its
   * principal is its name, or `principal` for a key without one (what sessions, limits and
   * per-user processes are bound to).
   */
  fromKey(
    subject: string,
    method: 'api_key' | 'admin_token',
    roles: readonly string[],
    admin: boolean,
    principal = subject,
  ): Identity {
    return {
      subject,
      method,
      key: `${method}#${principal}`,
      scopes: [],
      roles,
      admin: admin || roles.some((r) => this.#adminRoles.has(r)),
      headers: this.#headers(subject, {}),
      claims: {},
    }
  }

  /**
   * The roles of a principal: one for each value that maps, read as mcp-proxy reads them (for
   * `scope`, each scope; for another claim, the whole value, then each space-separated part;
   * arrays: each element). mcp-proxy took the first that maps, so the order an authorization
   * server wrote the scopes in decided what a token may do; scopes are a set (RFC 6749 §3.3),
   * and a token is granted what each of them grants (one role allowing is enough: policy.ts).
   */
  #rolesOf(claims: Claims, scopes: readonly string[]): string[] {
    const mapping = this.#auth.role_mapping
    if (mapping === undefined) return []
    const table = mapping.mapping
    // `scope` and `scp` are one claim spelled two ways (scopesOf reads either).
    const candidates = SCOPE_CLAIMS.has(mapping.claim)
      ? scopes
      : claimCandidates(claimAt(claims, mapping.claim))
    const roles = new Set<string>()
    for (const candidate of candidates) {
      const role = Object.hasOwn(table, candidate) ? table[candidate] : undefined
      if (role !== undefined) roles.add(role)
    }
    return [...roles]
  }

  #headers(subject: string, claims: Claims): Record<string, string> {
    const identity = this.#auth.identity
    const headers: Record<string, string> = { [identity.header]: headerSafe(subject) }
    for (const [header, claim] of Object.entries(identity.headers)) {
      const value = claimAt(claims, claim)
      if (value !== undefined && value !== null) headers[header] = headerSafe(value)
    }
    return headers
  }

  /** Header names Portico sets for upstreams: client-sent copies of them are removed. */
  identityHeaderNames(): string[] {
    return [this.#auth.identity.header, ...Object.keys(this.#auth.identity.headers)]
  }
}

/**
 * The principal a token names by its subject claim (a dotted path reads nested claims, as
 * `role_mapping` does), or '' for a token that names none: a client's own token (client
 * credentials), which is its client. Any other token is refused rather than read as its
 * client: every user signed in through one app would be one principal (one session owner,
 * one per-user process, one budget), so a user's token that lacks the configured claim, or
 * whose subject is not a string or an integer, is refused.
 */
function subjectOf(claims: Claims, subjectClaim: string): string {
  const raw = claimAt(claims, subjectClaim)
  if (typeof raw === 'string' && raw !== '') return raw
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return String(raw)
  if (typeof raw === 'number' && Number.isInteger(raw)) {
    // Read as a double it has lost digits: two users' ids would be one.
    throw new AuthFailure(
      'invalid_token',
      `${subjectClaim} is a number past 2^53, which cannot be read exactly (issue it as a string)`,
    )
  }
  if (raw !== undefined && raw !== null) {
    throw new AuthFailure(
      'invalid_token',
      `the token's ${subjectClaim} claim is not a string or an integer, so it names no user`,
    )
  }
  // `sub` present (a user's token, or one issued for a client as its own subject) but not the
  // configured claim: its users cannot be told apart.
  if (subjectClaim !== 'sub' && ownClaim(claims, 'sub') !== undefined) {
    throw new AuthFailure(
      'invalid_token',
      `the token has no ${subjectClaim} claim ([auth.identity] subject_claim), so its user cannot be told apart from others`,
    )
  }
  return ''
}

/**
 * A claim the token carries, by a configured name: never one of Object's own properties (a
 * `role_mapping` claim named `constructor` read a function for every token without it).
 */
function ownClaim(claims: Claims, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined
}

/**
 * The claim a role mapping names: a top-level claim of that name, else a dotted path into
 * nested claims (`realm_access.roles`, where Keycloak puts realm roles). Read only as a
 * top-level name, such a path found nothing, and the caller went unrestricted.
 */
function claimAt(claims: Claims, path: string): unknown {
  if (Object.hasOwn(claims, path) || !path.includes('.')) return ownClaim(claims, path)
  let value: unknown = claims
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    value = ownClaim(value as Claims, part)
  }
  return value
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

function claimCandidates(value: unknown): string[] {
  if (value === undefined || value === null) return []
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))
  const whole = typeof value === 'string' ? value : JSON.stringify(value)
  return [whole, ...whole.split(' ').filter((part) => part && part !== whole)]
}
