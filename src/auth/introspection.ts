/**
 * Opaque tokens checked by the authorization server (RFC 7662): POST `token=…` with the
 * resource server's client credentials (HTTP Basic), `active: true` required, the audience
 * must name this resource (a missing `aud` fails closed), the issuer must match when given.
 * Answers are cached by the token's SHA-256 for the token's life, at most `cacheTtlMs`, in a
 * bounded map; concurrent checks of one token share one request; refusals are cached briefly
 * so a client retrying a bad token cannot make Portico hammer the authorization server, and at
 * most 64 checks are in flight at once (more are refused, not queued), at most 16 of them for
 * one client address, so one client sending made-up tokens cannot take every slot.
 */
import { PorticoError } from '../errors.ts'
import { fetchText } from '../http/fetched.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { digest } from './api-keys.ts'
import { AuthFailure } from './challenge.ts'
import { sameIssuer } from './discovery.ts'
import type { Claims } from './identity.ts'
import { unknownResource } from './jwt.ts'

const MAX_ENTRIES = 10_000
/** Introspection requests in flight at once: a flood of made-up tokens waits on no more. */
const MAX_IN_FLIGHT = 64
/**
 * Of those, for one client address: a quarter, so a flood from one address leaves the others
 * room, while clients behind one proxy (whose address they share when no `trusted_proxies`
 * names it) still get 16 first checks at once (a token's later calls hit the cache).
 */
const MAX_IN_FLIGHT_PER_ADDRESS = 16
const REFUSAL_TTL_MS = 10_000
const MAX_REFUSALS = 2000
const TIMEOUT_MS = 5000
const MAX_BYTES = 64 * 1024

export interface IntrospectionOptions {
  endpoint: URL
  clientId: string
  clientSecret: string
  issuer: string | undefined
  /** Accepted `aud` values; known once Portico listens. */
  audience: () => readonly string[]
  cacheTtlMs: number
  clockToleranceMs: number
  /** The whole exchange with the endpoint, answer read included (default 5 s). */
  timeoutMs?: number
  now?: () => number
}

interface Entry {
  until: number
  claims?: Claims
  refusal?: string
}

export class Introspector {
  readonly #options: IntrospectionOptions
  readonly #cache = new BoundedMap<string, Entry>(MAX_ENTRIES)
  /**
   * Refusals apart, and fewer: a flood of made-up tokens fills this one, not the cache of the
   * valid tokens (whose eviction would send their holders' next calls to the server again).
   */
  readonly #refused = new BoundedMap<string, Entry>(MAX_REFUSALS)
  readonly #inFlight = new Map<string, Promise<Entry>>()
  /** Checks in flight per client address; an address leaves the map with its last check. */
  readonly #inFlightFrom = new Map<string, number>()
  readonly #authorization: string
  /** Requests sent to the authorization server (for tests and the admin tools). */
  requests = 0

  constructor(options: IntrospectionOptions) {
    this.#options = options
    const basic = `${encodeForm(options.clientId)}:${encodeForm(options.clientSecret)}`
    this.#authorization = `Basic ${Buffer.from(basic).toString('base64')}`
  }

  /**
   * The token's claims when active and meant for this resource; throws otherwise. `address`
   * is the client's, for the share of checks in flight one client may hold.
   */
  async introspect(token: string, address = ''): Promise<Claims> {
    if (this.#options.audience().length === 0) throw unknownResource()
    const key = digest(token)
    const now = this.#now()
    let entry = this.#cache.get(key) ?? this.#refused.get(key)
    if (entry !== undefined && entry.until <= now) {
      this.#cache.delete(key)
      this.#refused.delete(key)
      entry = undefined
    }
    if (entry === undefined) {
      entry = await (this.#inFlight.get(key) ?? this.#start(key, token, address))
      if (entry.claims === undefined) this.#refused.set(key, entry)
      else this.#cache.set(key, entry)
    }
    if (entry.claims === undefined) throw new AuthFailure('invalid_token', entry.refusal ?? '')
    const exp = entry.claims.exp
    if (typeof exp === 'number' && exp * 1000 + this.#options.clockToleranceMs <= this.#now()) {
      throw new AuthFailure('invalid_token', 'token expired')
    }
    return entry.claims
  }

  /** One check sent to the authorization server, within the bounds of checks in flight. */
  #start(key: string, token: string, address: string): Promise<Entry> {
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      // As for one address below: the token may be good, and the client should come back.
      throw new PorticoError('rate_limited', {
        message: 'Cannot verify the token now: too many token checks in flight',
        headers: { 'retry-after': '1' },
      })
    }
    const fromAddress = this.#inFlightFrom.get(address) ?? 0
    if (fromAddress >= MAX_IN_FLIGHT_PER_ADDRESS) {
      // 429, not 401: the token may be good, and a client told it is invalid would drop it.
      throw new PorticoError('rate_limited', {
        message: 'Cannot verify the token now: too many token checks in flight from this address',
        headers: { 'retry-after': '1' },
      })
    }
    this.#inFlightFrom.set(address, fromAddress + 1)
    const pending = this.#check(token).finally(() => {
      this.#inFlight.delete(key)
      const left = (this.#inFlightFrom.get(address) ?? 1) - 1
      if (left === 0) this.#inFlightFrom.delete(address)
      else this.#inFlightFrom.set(address, left)
    })
    this.#inFlight.set(key, pending)
    return pending
  }

  async #check(token: string): Promise<Entry> {
    const claims = await this.#post(token)
    const now = this.#now()
    const refusal = this.#refusal(claims, now)
    if (refusal !== undefined) return { until: now + REFUSAL_TTL_MS, refusal }
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : Number.POSITIVE_INFINITY
    return { until: Math.min(exp, now + this.#options.cacheTtlMs), claims }
  }

  #refusal(claims: Claims, now: number): string | undefined {
    const options = this.#options
    if (claims.active !== true) return 'token inactive (revoked, expired or unknown)'
    const malformed = malformedClaim(claims)
    if (malformed !== undefined) return `token claims malformed (${malformed})`
    const exp = claims.exp
    if (typeof exp === 'number' && exp * 1000 + options.clockToleranceMs <= now) {
      return 'token expired'
    }
    const nbf = claims.nbf
    if (typeof nbf === 'number' && nbf * 1000 - options.clockToleranceMs > now) {
      return 'token not yet valid'
    }
    const aud = claims.aud
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
    const accepted = options.audience()
    if (!audiences.some((a) => typeof a === 'string' && accepted.includes(a))) {
      return 'token not issued for this resource (audience)'
    }
    if (
      options.issuer !== undefined &&
      typeof claims.iss === 'string' &&
      !sameIssuer(claims.iss, options.issuer)
    ) {
      return 'token from another issuer'
    }
    return undefined
  }

  async #post(token: string): Promise<Claims> {
    this.requests++
    let answer: { response: Response; text: string }
    try {
      answer = await fetchText(
        this.#options.endpoint,
        {
          method: 'POST',
          headers: {
            authorization: this.#authorization,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        },
        { maxBytes: MAX_BYTES, timeoutMs: this.#options.timeoutMs ?? TIMEOUT_MS },
      )
    } catch (error) {
      throw unavailable(error)
    }
    const { response, text } = answer
    if (!response.ok) {
      throw unavailable(new Error(`introspection answered HTTP ${response.status}`))
    }
    try {
      const value: unknown = JSON.parse(text)
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        return value as Claims
      }
    } catch {}
    throw unavailable(new Error('introspection answer is not a JSON object'))
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now()
  }
}

/**
 * The first registered claim present with the wrong type (RFC 7662 §2.2: the times are
 * integers, `iss` a string), or undefined. Such a claim is refused rather than read as absent:
 * a string `exp` would otherwise be cached as a token without an expiry, and a non-string
 * `iss` would skip the issuer check. `null` counts as absent (some servers write absent
 * members so).
 */
function malformedClaim(claims: Claims): string | undefined {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name]
    if (value !== undefined && value !== null && typeof value !== 'number') return name
  }
  const iss = claims.iss
  return iss !== undefined && iss !== null && typeof iss !== 'string' ? 'iss' : undefined
}

function unavailable(cause: unknown): PorticoError {
  return new PorticoError('upstream_unavailable', {
    message: 'Cannot verify the token now: the introspection endpoint is unavailable',
    cause,
  })
}

/** RFC 6749 §2.3.1: client credentials are form-encoded before Basic. */
function encodeForm(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}
