/**
 * JWT access tokens checked locally with jose: the signature against the issuer's JWKS (fetched
 * once, cached, refetched when a token names an unknown `kid` so key rotation works, at most
 * once per cooldown so a flood of made-up kids cannot hammer the issuer), an allowlist of
 * asymmetric algorithms (no `none`, no HMAC: a public key used as an HMAC secret verifies
 * nothing), the issuer, the audience (RFC 8707: this resource), `exp` (required) and `nbf`.
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose'
import { PorticoError } from '../errors.ts'
import { AuthFailure } from './challenge.ts'

export interface JwtOptions {
  jwksUri: URL
  issuer: string
  /** Accepted `aud` values (the token's must contain one); known once Portico listens. */
  audience: () => readonly string[]
  algorithms: readonly string[]
  clockToleranceMs: number
  cooldownMs: number
  maxAgeMs: number
}

export class JwtVerifier {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>
  readonly #options: JwtOptions

  constructor(options: JwtOptions) {
    this.#options = options
    this.#jwks = createRemoteJWKSet(options.jwksUri, {
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.maxAgeMs,
      timeoutDuration: 5000,
    })
  }

  /** The verified payload; throws AuthFailure (or a PorticoError when the keys are unreachable). */
  async verify(token: string): Promise<JWTPayload> {
    const options = this.#options
    const audience = options.audience()
    if (audience.length === 0) throw unknownResource()
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: options.issuer,
        audience: [...audience],
        algorithms: [...options.algorithms],
        clockTolerance: Math.round(options.clockToleranceMs / 1000),
        requiredClaims: ['exp'],
      })
      return payload
    } catch (error) {
      throw jwtFailure(error)
    }
  }
}

/** Says why a token was refused, in words safe to show the client. */
export function jwtFailure(error: unknown): AuthFailure | PorticoError {
  if (error instanceof errors.JWTExpired) return new AuthFailure('invalid_token', 'token expired')
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return new AuthFailure('invalid_token', 'token not yet valid')
      case 'iss':
        return new AuthFailure('invalid_token', 'token from another issuer')
      case 'aud':
        return new AuthFailure('invalid_token', 'token not issued for this resource (audience)')
      case 'iat':
        return new AuthFailure('invalid_token', 'token issued in the future')
      default:
        return new AuthFailure('invalid_token', `token claim "${error.claim}" is invalid`)
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new AuthFailure('invalid_token', 'token signing algorithm not allowed')
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new AuthFailure('invalid_token', 'token signed with an unknown key')
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new AuthFailure('invalid_token', 'token signature invalid')
  }
  if (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    // jose's base class itself: the key set's HTTP answer was not a key set.
    (error instanceof Error && error.constructor === errors.JOSEError) ||
    (error instanceof Error && !(error instanceof errors.JOSEError))
  ) {
    // The issuer's keys could not be fetched: not the client's fault, and never a pass.
    return new PorticoError('upstream_unavailable', {
      message: 'Cannot verify the token now: the issuer keys are unavailable',
      cause: error,
    })
  }
  return new AuthFailure('invalid_token', 'malformed token')
}

/** No audience to check against: refusing is the only safe answer. */
export function unknownResource(): PorticoError {
  return new PorticoError('internal_error', {
    message:
      'Cannot verify tokens: the resource identifier is unknown (set auth.resource or public_url)',
  })
}
