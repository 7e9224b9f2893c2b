/**
 * JWT access tokens checked locally: the signature against the issuer's JWKS (jose fetches it
 * once, caches it, and refetches when a token names an unknown `kid` so key rotation works, at
 * most once per cooldown so a flood of made-up kids cannot hammer the issuer; the check itself
 * runs in node:crypto, see jws.ts), an allowlist of asymmetric algorithms (no `none`, no HMAC:
 * a public key used as an HMAC secret verifies nothing), no `crit` extensions, then the claims:
 * `exp` (required), `nbf`, `iat` not in the future, the issuer, and the audience (RFC 8707:
 * this resource). Signature first, claims after, so an unsigned token learns nothing.
 */
import type { createRemoteJWKSet } from 'jose'
import { PorticoError } from '../errors.ts'
import { fetchWithin } from '../http/fetched.ts'
import { redactUrl } from '../util/redact.ts'
import { AuthFailure } from './challenge.ts'
import { sameIssuer } from './discovery.ts'
import { compactParts, keyObjectOf, parseObject, verifySignature } from './jws.ts'

/** A key set is a few keys: anything this large is not one. */
const MAX_JWKS_BYTES = 256 * 1024

export interface JwtOptions {
  jwksUri: URL
  issuer: string
  /** Accepted `aud` values (the token's must contain one); known once Portico listens. */
  audience: () => readonly string[]
  algorithms: readonly string[]
  clockToleranceMs: number
  cooldownMs: number
  maxAgeMs: number
  now?: () => number
}

export type JwtPayload = Record<string, unknown>

type KeySet = ReturnType<typeof createRemoteJWKSet>

export class JwtVerifier {
  /** Made with the first token: jose is loaded only by a Portico that verifies JWTs. */
  #jwks: Promise<KeySet> | undefined
  readonly #options: JwtOptions
  readonly #algorithms: ReadonlySet<string>
  /** Until when (performance.now) the key set counts as unreachable, and failures in a row. */
  #failingUntil = 0
  #failures = 0

  constructor(options: JwtOptions) {
    this.#options = options
    this.#algorithms = new Set(options.algorithms)
  }

  /**
   * Loads jose and fetches the key set before the first token (start-up), so no request waits
   * for either and a wrong `jwks_uri` shows at start. Returns why the key set could not be
   * fetched (its URL redacted), or undefined: Portico still starts, since tokens are refused
   * until the keys come (fail closed) and an issuer's outage must not keep Portico down; the
   * failure starts the backoff, as a token's failed fetch does.
   */
  async warm(): Promise<string | undefined> {
    const jwks = await this.#keySet()
    try {
      await jwks.reload()
      return undefined
    } catch (error) {
      this.#noteFailure()
      // The error may quote the URL (undici does): said once, redacted.
      const href = this.#options.jwksUri.href
      const shown = redactUrl(href)
      const reason = (error instanceof Error ? error.message : String(error)).replaceAll(
        href,
        shown,
      )
      return `the key set at ${shown} cannot be fetched (${reason}): tokens are refused with 502 until it can`
    }
  }

  #keySet(): Promise<KeySet> {
    this.#jwks ??= import('jose').then(({ createRemoteJWKSet, customFetch }) =>
      createRemoteJWKSet(this.#options.jwksUri, {
        cooldownDuration: this.#options.cooldownMs,
        cacheMaxAge: this.#options.maxAgeMs,
        timeoutDuration: 5000,
        // jose reads the whole answer with `json()`: an issuer must not fill Portico's memory.
        [customFetch]: fetchWithin(MAX_JWKS_BYTES),
      }),
    )
    return this.#jwks
  }

  /**
   * One more failed fetch: the next is not tried for 1 s, doubling up to a minute. Every token
   * that waited on the same fetch fails with it, at once: counted once, not once per waiter
   * (eight waiters made one failure a minute-long refusal of every new key).
   */
  #noteFailure(): void {
    if (performance.now() < this.#failingUntil) return
    this.#failures++
    this.#failingUntil = performance.now() + Math.min(60_000, 1000 * 2 ** (this.#failures - 1))
  }

  /** The verified payload; throws AuthFailure (or a PorticoError when the keys are unreachable). */
  async verify(token: string): Promise<JwtPayload> {
    const audience = this.#options.audience()
    if (audience.length === 0) throw unknownResource()
    const parts = compactParts(token)
    if (parts === undefined) throw new AuthFailure('invalid_token', 'malformed token')
    const { header } = parts
    const alg = header.alg
    if (typeof alg !== 'string' || !this.#algorithms.has(alg)) {
      throw new AuthFailure('invalid_token', 'token signing algorithm not allowed')
    }
    if (header.crit !== undefined || header.b64 !== undefined) {
      throw new AuthFailure('invalid_token', 'token uses unsupported JWS extensions')
    }
    let keys: unknown[]
    const jwks = await this.#keySet()
    // While the issuer's key set cannot be fetched, a token is answered from the keys last
    // fetched, however old (an issuer's outage longer than `jwks_max_age` refused every token),
    // and one they cannot answer is refused without another fetch: jose's cooldown only
    // counts from a successful one, so each made-up kid would have sent a request to the
    // failing issuer.
    if (performance.now() < this.#failingUntil) {
      const kept = await lastKeys(jwks, header)
      if (kept === undefined) throw keysUnavailable(undefined)
      keys = kept
    } else {
      try {
        keys = [await jwks(header as { alg: string }, undefined as never)]
        this.#failures = 0
      } catch (error) {
        const candidates = await candidateKeys(error)
        if (candidates === undefined) {
          const failure = jwtFailure(error)
          if (!(failure instanceof PorticoError)) throw failure
          this.#noteFailure()
          const kept = await lastKeys(jwks, header)
          if (kept === undefined) throw failure
          keys = kept
        } else keys = candidates
      }
    }
    if (!keys.some((key) => verifySignature(parts, alg, keyObjectOf(key)))) {
      throw new AuthFailure('invalid_token', 'token signature invalid')
    }
    const payload = parseObject(Buffer.from(parts.payload, 'base64url').toString('utf8'))
    if (payload === undefined) throw new AuthFailure('invalid_token', 'malformed token')
    checkClaims(payload, this.#options, audience)
    return payload
  }
}

/** The registered claims of a verified payload (RFC 7519 §4.1), with the clock tolerance. */
function checkClaims(payload: JwtPayload, options: JwtOptions, audience: readonly string[]): void {
  const now = (options.now?.() ?? Date.now()) / 1000
  const tolerance = options.clockToleranceMs / 1000
  const { exp, nbf, iat, iss, aud } = payload
  if (typeof exp !== 'number') throw new AuthFailure('invalid_token', 'token has no expiry (exp)')
  if (exp <= now - tolerance) throw new AuthFailure('invalid_token', 'token expired')
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + tolerance)) {
    throw new AuthFailure('invalid_token', 'token not yet valid')
  }
  if (iat !== undefined && (typeof iat !== 'number' || iat > now + tolerance)) {
    throw new AuthFailure('invalid_token', 'token issued in the future')
  }
  if (typeof iss !== 'string' || !sameIssuer(iss, options.issuer)) {
    throw new AuthFailure('invalid_token', 'token from another issuer')
  }
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (!audiences.some((value) => typeof value === 'string' && audience.includes(value))) {
    throw new AuthFailure('invalid_token', 'token not issued for this resource (audience)')
  }
}

/** At most this many keys are tried for a token that names none (each is one verification). */
const MAX_CANDIDATE_KEYS = 8

/**
 * The keys to try for a token without `kid` when the issuer publishes several of its type
 * (jose's "multiple matching keys", which lists them): some issuers sign without `kid` and
 * rotate with two keys published. Undefined for any other refusal. Bounded, so a key set of
 * a hundred keys cannot make one token a hundred verifications.
 */
async function candidateKeys(error: unknown): Promise<unknown[] | undefined> {
  const code = (error as { code?: unknown } | null)?.code
  const listed = (error as Partial<AsyncIterable<unknown>> | null)?.[Symbol.asyncIterator]
  if (code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || listed === undefined) return undefined
  const keys: unknown[] = []
  for await (const key of error as AsyncIterable<unknown>) {
    keys.push(key)
    if (keys.length === MAX_CANDIDATE_KEYS) break
  }
  return keys
}

/**
 * Says why jose's key selection refused a token, in words safe to show the client. Read from
 * jose's error codes (its documented `code` property), which needs no jose loaded to check.
 */
export function jwtFailure(error: unknown): AuthFailure | PorticoError {
  const code = (error as { code?: unknown } | null)?.code
  if (code === 'ERR_JWKS_NO_MATCHING_KEY') {
    return new AuthFailure('invalid_token', 'token signed with an unknown key')
  }
  if (code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') {
    return new AuthFailure('invalid_token', 'token names no single key (kid)')
  }
  if (code === 'ERR_JOSE_NOT_SUPPORTED' || code === 'ERR_JOSE_ALG_NOT_ALLOWED') {
    return new AuthFailure('invalid_token', 'token signing algorithm not allowed')
  }
  // The key set could not be fetched or read: not the client's fault, and never a pass.
  return keysUnavailable(error)
}

function keysUnavailable(cause: unknown): PorticoError {
  return new PorticoError('upstream_unavailable', {
    message: 'Cannot verify the token now: the issuer keys are unavailable',
    ...(cause === undefined ? {} : { cause }),
  })
}

/**
 * The keys last fetched that may have signed a token with this header (its `kid`, else every
 * key of its type, bounded), whatever their age; undefined when none may. For the issuer's
 * outages: keys it no longer publishes can only be learned once it answers again.
 */
async function lastKeys(
  jwks: KeySet,
  header: Record<string, unknown>,
): Promise<unknown[] | undefined> {
  const set = jwks.jwks()
  if (set === undefined || set.keys.length === 0) return undefined
  const { createLocalJWKSet } = await import('jose')
  try {
    return [await createLocalJWKSet(set)(header as { alg: string }, undefined as never)]
  } catch (error) {
    return candidateKeys(error)
  }
}

/** No audience to check against: refusing is the only safe answer. */
export function unknownResource(): PorticoError {
  return new PorticoError('internal_error', {
    message:
      'Cannot verify tokens: the resource identifier is unknown (set auth.resource or public_url)',
  })
}
