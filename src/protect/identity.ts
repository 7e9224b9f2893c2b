/**
 * Who a call comes from, for per-client rate limits and the private entries of the response
 * cache: the principal authentication verified (`[auth]`: it also removes the client's
 * `Authorization` before forwarding, so the header cannot be the key then), else the
 * credentials presented (hashed together), else the network address. Two callers with
 * different credentials never share a key. Without `[auth]` the credentials are every header
 * an upstream may know its users by: `Authorization`, `Cookie`, `X-API-Key` and any header
 * named like a key, token, secret or password (an upstream reading `X-API-Key` saw two users
 * where the cache saw one address, and served one user's answers to the other), and the query
 * parameters named so (`/mcp?api_key=…`, which transparent mode passes on).
 */
import { createHash } from 'node:crypto'
import type { Call } from '../pipeline/call.ts'
import type { Identity } from '../pipeline/identity.ts'

/** Request headers → the identity hashed from them (every copy of a call shares them). */
const HASHED = new WeakMap<object, string | null>()

/**
 * The last call's identity: the rate limits (per client), the cache and coalescing ask for the
 * same call's one after the other, and a key built anew is a new string to hash each time.
 */
let lastRequest: object | undefined
let lastHeaders: object | undefined
let lastVerified: unknown
let lastIdentity = ''

export function clientIdentity(call: Call): string {
  if (
    lastRequest === call.request &&
    lastHeaders === call.headers &&
    lastVerified === call.identity
  ) {
    return lastIdentity
  }
  lastIdentity = identityOf(call)
  lastRequest = call.request
  lastHeaders = call.headers
  lastVerified = call.identity
  return lastIdentity
}

function identityOf(call: Call): string {
  if (call.identity !== undefined) return `id:${call.identity.key}`
  return credentialsHashed(call) ?? `addr:${call.request.clientAddress ?? 'unknown'}`
}

function credentialsHashed(call: Call): string | null {
  let key = HASHED.get(call.headers)
  if (key === undefined) {
    key = credentialsOf(call.headers, call.request.search)
    HASHED.set(call.headers, key)
  }
  return key
}

/** A verified identity → what its identity headers say, hashed (built once per identity). */
const TOLD = new WeakMap<Identity, string>()

/**
 * Whom an upstream's answer was made for, for the cache and coalescing: finer than
 * `clientIdentity` when `[auth]` verified the caller. One principal (one `sub`) may hold tokens
 * that tell the upstream different things: the claim headers Portico sends (`groups`, a
 * tenant), and with `forward_token` the token itself. Two such tokens share rate limits (one
 * principal) but never an answer: one app acting for a user with a narrow token got what the
 * user's admin app had been answered.
 */
export function answerIdentity(call: Call): string {
  const identity = call.identity
  if (identity === undefined) return withQuery(call, clientIdentity(call))
  let told = TOLD.get(identity)
  if (told === undefined) {
    const hash = createHash('sha256')
    for (const name of Object.keys(identity.headers).sort()) {
      hash.update(`${name}\u0000${identity.headers[name]}\u0000`)
    }
    told = `id:${identity.key}\u0000${hash.digest('base64url').slice(0, 22)}`
    TOLD.set(identity, told)
  }
  // Credentials still on the request reach the upstream too (`forward_token`, a cookie).
  const credentials = credentialsHashed(call)
  return withQuery(call, credentials === null ? told : `${told}\u0000${credentials}`)
}

/**
 * `who` and the request's query, which transparent mode passes on to the upstream: any of its
 * parameters (a tenant, a key named like nothing secret) may change what the upstream answers.
 */
function withQuery(call: Call, who: string): string {
  const query = call.request.search
  if (query === '' || query === '?') return who
  return `${who}\u0000q:${createHash('sha256').update(query).digest('base64url').slice(0, 22)}`
}

/** Header names that carry a credential (see the module's comment). */
const CREDENTIAL =
  /^(?:authorization|proxy-authorization|cookie)$|api-?key|token|secret|passw|credential/i

/**
 * The credentials among `headers` and the query's parameters, hashed with their names; null
 * when there are none.
 */
function credentialsOf(
  headers: Record<string, string | string[] | undefined>,
  search: string,
): string | null {
  let hash: ReturnType<typeof createHash> | undefined
  for (const name of Object.keys(headers).sort()) {
    const value = headers[name]
    if (value === undefined || value === '' || !CREDENTIAL.test(name)) continue
    hash ??= createHash('sha256')
    hash.update(`${name}\u0000${Array.isArray(value) ? value.join('\u0000') : value}\u0000`)
  }
  if (search.length > 1) {
    for (const [name, value] of new URLSearchParams(search)) {
      if (value === '' || !CREDENTIAL.test(name)) continue
      hash ??= createHash('sha256')
      hash.update(`?${name}\u0000${value}\u0000`)
    }
  }
  return hash === undefined ? null : `cred:${hash.digest('base64url').slice(0, 22)}`
}
