/**
 * Who a call comes from, for per-client rate limits and the private entries of the response
 * cache: the principal authentication verified (`[auth]`: it also removes the client's
 * `Authorization` before forwarding, so the header cannot be the key then), else the
 * credential presented (hashed), else the network address. Two callers with different
 * credentials never share a key.
 */
import { createHash } from 'node:crypto'
import type { Call } from '../pipeline/call.ts'

/** Request headers → the identity hashed from them (every copy of a call shares them). */
const HASHED = new WeakMap<object, string>()

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
  const credential = call.headers.authorization
  if (typeof credential === 'string' && credential !== '') {
    let key = HASHED.get(call.headers)
    if (key === undefined) {
      key = `cred:${createHash('sha256').update(credential).digest('base64url').slice(0, 22)}`
      HASHED.set(call.headers, key)
    }
    return key
  }
  return `addr:${call.request.clientAddress ?? 'unknown'}`
}
