/**
 * One request's authentication: read the bearer token, try the configured static keys (API
 * keys, mcp-proxy tokens, the admin token), then the token validation of the configured kind
 * (JWT with jose, RFC 7662 introspection, or both), then the global gates (`required_scopes`,
 * `default_deny`). It also knows what Portico is as an OAuth resource: its identifier (RFC 8707
 * audience), its protected resource metadata (RFC 9728) and the challenge a 401 carries.
 * Static keys answer synchronously, so API-key requests never wait on a promise.
 */
import type { AuthConfig } from '../config/auth.ts'
import { authKind, isWildcardHost } from '../config/auth.ts'
import type { Config } from '../config/schema.ts'
import { PorticoError } from '../errors.ts'
import type { Identity } from '../pipeline/identity.ts'
import { StaticKeys } from './api-keys.ts'
import { AuthFailure, type ChallengeParams, challenge, refusal } from './challenge.ts'
import { bearerToken } from './credentials.ts'
import { discover } from './discovery.ts'
import { type Claims, IdentityBuilder, SCOPE_CLAIMS } from './identity.ts'
import { Introspector } from './introspection.ts'
import { JwtVerifier } from './jwt.ts'

export const PRM_PATH = '/.well-known/oauth-protected-resource'

/** A verified request: who, and the token it presented (kept for `forward_auth` only). */
export interface Verified {
  identity: Identity
  token: string
}

interface Validators {
  jwt?: JwtVerifier
  introspection?: Introspector
}

export class Authenticator {
  readonly kind: 'bearer' | 'jwt' | 'oauth'
  readonly builder: IdentityBuilder
  readonly #auth: AuthConfig
  readonly #config: Config
  /** Replaced whole by a reload that changes only the keys (portico.ts keysReload). */
  #keys: StaticKeys
  #listenUrl: string | undefined
  /** What building the validators found wrong without failing (see `ready`). */
  readonly #startProblems: string[] = []
  #validators: Validators | undefined
  #pending: Promise<Validators> | undefined
  #failedAt = 0

  constructor(config: Config, auth: AuthConfig) {
    this.#config = config
    this.#auth = auth
    this.kind = authKind(auth)
    this.builder = new IdentityBuilder(auth)
    this.#keys = new StaticKeys(auth, config.security?.admin_token, this.builder)
  }

  /**
   * Builds the static keys `next` configures (the rest of its `[auth]` is the running one's:
   * a reload that changes more is refused); what it returns puts them in force, for the next
   * request on.
   */
  prepareKeys(next: Config): () => void {
    const keys = new StaticKeys(next.auth, next.security?.admin_token, this.builder)
    return () => {
      this.#keys = keys
    }
  }

  /**
   * Whether an identity admitted earlier still would be: not once its key was revoked (a
   * reload), nor once its token expired (`exp` past, by the clock tolerance a new request with
   * it is judged by).
   */
  stillAdmits(identity: Identity, now = Date.now()): boolean {
    return !this.hasExpired(identity, now) && this.#keys.admits(identity)
  }

  /** Whether the identity's token expired (`exp` past by more than the clock tolerance). */
  hasExpired(identity: Identity, now = Date.now()): boolean {
    const { expiresAt } = identity
    return expiresAt !== undefined && expiresAt * 1000 + this.#auth.clock_tolerance <= now
  }

  get isOAuth(): boolean {
    return this.kind !== 'bearer'
  }

  /** The URL clients reach Portico at, once it listens (the audience when nothing names one). */
  setListenUrl(url: string): void {
    if (!isWildcardHost(new URL(url).hostname.replace(/^\[|\]$/g, ''))) this.#listenUrl = url
  }

  /** Portico's resource identifier: `resource`, else the public MCP URL, else the listen URL. */
  resource(): string | undefined {
    const { public_url: publicUrl, mcp_path: mcpPath } = this.#config
    if (this.#auth.resource !== undefined) return this.#auth.resource
    if (publicUrl !== undefined) return new URL(mcpPath, new URL(publicUrl).origin).href
    return this.#listenUrl
  }

  /** The `aud` values accepted: `audience` when configured, else the resource identifier. */
  audiences(): string[] {
    if (this.#auth.audience !== undefined) return [this.#auth.audience]
    const resource = this.resource()
    return resource === undefined ? [] : [resource]
  }

  issuer(): string | undefined {
    return this.#auth.issuer ?? this.#auth.authorization_servers?.[0]
  }

  /** The protected resource metadata URL (path-inserted form, RFC 9728 §3.1). */
  metadataUrl(): string | undefined {
    const resource = this.resource()
    if (resource === undefined || !this.isOAuth) return undefined
    const url = new URL(resource)
    const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
    return `${url.origin}${PRM_PATH}${path}`
  }

  /** The RFC 9728 document. */
  metadata(): Record<string, unknown> {
    const auth = this.#auth
    const issuer = this.issuer()
    // Only the server whose tokens are accepted: a client that picked another would be given
    // tokens that are always refused (config/auth.ts warns about the others).
    const servers = issuer === undefined ? [] : [issuer]
    const doc: Record<string, unknown> = {
      resource: this.resource(),
      authorization_servers: servers,
      bearer_methods_supported: auth.bearer_methods_supported,
    }
    const scopes =
      auth.scopes_supported ?? (auth.required_scopes.length ? auth.required_scopes : undefined)
    if (scopes !== undefined) doc.scopes_supported = scopes
    if (auth.resource_name !== undefined) doc.resource_name = auth.resource_name
    if (auth.resource_documentation !== undefined) {
      doc.resource_documentation = auth.resource_documentation
    }
    return doc
  }

  /** What every challenge carries: the metadata URL and the scopes to ask for. */
  challengeParams(): ChallengeParams {
    const params: ChallengeParams = {}
    const url = this.metadataUrl()
    if (url !== undefined) params.resourceMetadata = url
    const scopes = this.#auth.required_scopes.length
      ? this.#auth.required_scopes
      : this.#auth.scopes_supported
    if (scopes !== undefined && scopes.length > 0) params.scopes = scopes
    return params
  }

  /**
   * Discovers the issuer's endpoints (oauth) and builds the validators; rejects when it cannot.
   * Resolves with what start-up found wrong but can be served through (an issuer's key set not
   * fetched yet), for the log.
   */
  ready(): Promise<readonly string[]> {
    return this.#load().then(() => this.#startProblems.splice(0))
  }

  /**
   * The verified identity of a request; throws a PorticoError (401/403) when there is none.
   * `address` is the client's (a bound on the token checks one client keeps in flight).
   */
  authenticate(
    headers: { authorization?: string | undefined },
    address = '',
  ): Verified | Promise<Verified> {
    let token: string | undefined
    try {
      token = bearerToken(headers)
    } catch (error) {
      throw this.#refuse(error)
    }
    if (token === undefined) {
      throw this.#refuse(new AuthFailure(undefined, 'a bearer token is required'))
    }
    const known = this.#keys.lookup(token)
    if (known !== undefined) return { identity: known, token }
    if (!this.isOAuth) throw this.#refuse(new AuthFailure('invalid_token', 'unknown token'))
    const presented = token
    return this.#validate(presented, address)
      .then((identity) => ({ identity: this.#gate(identity), token: presented }))
      .catch((error: unknown) => {
        throw this.#refuse(error)
      })
  }

  async #validate(token: string, address: string): Promise<Identity> {
    const validators =
      this.#validators ??
      (await this.#load().catch((error: unknown) => {
        throw error instanceof PorticoError
          ? error
          : unavailable('the authorization server metadata is unavailable')
      }))
    const mode = this.kind === 'jwt' ? 'jwt' : this.#auth.token_validation
    if (mode === 'jwt' || (mode === 'both' && looksLikeJwt(token))) {
      try {
        return this.builder.fromClaims(await (validators.jwt as JwtVerifier).verify(token), 'jwt')
      } catch (error) {
        if (mode === 'jwt') throw error
      }
    }
    const claims: Claims = await (validators.introspection as Introspector).introspect(
      token,
      address,
    )
    return this.builder.fromClaims(claims, 'introspection')
  }

  /** Global gates after verification: required scopes (403 insufficient_scope), default_deny. */
  #gate(identity: Identity): Identity {
    const required = this.#auth.required_scopes
    const missing = required.filter((scope) => !identity.scopes.includes(scope))
    if (missing.length > 0) {
      throw new AuthFailure('insufficient_scope', `missing scope ${missing.join(' ')}`, required)
    }
    if (!identity.subject) throw new AuthFailure('invalid_token', 'token names no subject')
    const mapping = this.#auth.role_mapping
    if (mapping?.default_deny && identity.roles.length === 0 && !identity.admin) {
      // Roles read from the token's scopes: a client can get one by asking for those scopes
      // (MCP's step-up: 403 insufficient_scope naming them); an SDK client that asked for the
      // required scopes alone was refused with nothing to go on.
      if (SCOPE_CLAIMS.has(mapping.claim)) {
        const scopes = [...new Set([...required, ...Object.keys(mapping.mapping)])]
        throw new AuthFailure(
          'insufficient_scope',
          'the token carries no recognized role (default_deny): it needs one of the role scopes',
          scopes,
        )
      }
      throw new PorticoError('forbidden', {
        message: 'Forbidden: the token carries no recognized role (default_deny)',
      })
    }
    return identity
  }

  /**
   * The `WWW-Authenticate` challenge of a refusal that a wider token would pass (MCP's
   * step-up: 403 `insufficient_scope` naming the scopes to ask for), or undefined. Only for a
   * token whose roles come from its scopes: each scope whose role, added to the token's,
   * `allowsWith` says would allow the call is named, beside the scopes the token has and those
   * every request needs. Without it an SDK client, refused a tool its scopes do not reach, got a
   * bare 403 and could not ask its authorization server for more.
   */
  stepUpChallenge(
    identity: Identity,
    allowsWith: (roles: readonly string[]) => boolean,
    description: string,
  ): string | undefined {
    const mapping = this.#auth.role_mapping
    if (mapping === undefined || !SCOPE_CLAIMS.has(mapping.claim)) return undefined
    if (identity.method !== 'jwt' && identity.method !== 'introspection') return undefined
    const wanted = Object.entries(mapping.mapping)
      .filter(([, role]) => allowsWith([...identity.roles, role]))
      .map(([scope]) => scope)
    if (wanted.length === 0) return undefined
    const scopes = [...new Set([...this.#auth.required_scopes, ...identity.scopes, ...wanted])]
    const failure = new AuthFailure('insufficient_scope', description, scopes)
    return challenge(this.challengeParams(), failure)
  }

  #refuse(error: unknown): PorticoError {
    if (error instanceof AuthFailure) return refusal(this.challengeParams(), error)
    if (error instanceof PorticoError) return error
    return new PorticoError('internal_error', { cause: error })
  }

  /** Builds the validators once (discovery for oauth); a failure is retried after 5 s. */
  #load(): Promise<Validators> {
    if (this.#validators !== undefined) return Promise.resolve(this.#validators)
    if (this.#pending !== undefined) return this.#pending
    if (Date.now() - this.#failedAt < 5000 && this.#failedAt > 0) {
      return Promise.reject(unavailable('the authorization server metadata is unavailable'))
    }
    this.#pending = this.#build().then(
      (validators) => {
        this.#validators = validators
        this.#pending = undefined
        return validators
      },
      (error: unknown) => {
        this.#failedAt = Date.now()
        this.#pending = undefined
        throw error
      },
    )
    return this.#pending
  }

  async #build(): Promise<Validators> {
    const auth = this.#auth
    if (!this.isOAuth) return {}
    const issuer = this.issuer() as string
    const mode = this.kind === 'jwt' ? 'jwt' : auth.token_validation
    let jwksUri = auth.jwks_uri
    let introspectionEndpoint = auth.introspection_endpoint
    const needsJwks = mode !== 'introspection' && jwksUri === undefined
    const needsIntrospection = mode !== 'jwt' && introspectionEndpoint === undefined
    if (needsJwks || needsIntrospection) {
      const metadata = await discover(issuer)
      jwksUri ??= metadata.jwks_uri
      introspectionEndpoint ??= metadata.introspection_endpoint
    }
    const audience = () => this.audiences()
    const validators: Validators = {}
    if (mode !== 'introspection') {
      if (jwksUri === undefined) throw new Error(`the metadata of ${issuer} names no jwks_uri`)
      validators.jwt = new JwtVerifier({
        jwksUri: new URL(jwksUri),
        issuer,
        audience,
        algorithms: auth.algorithms,
        clockToleranceMs: auth.clock_tolerance,
        cooldownMs: auth.jwks_cooldown,
        maxAgeMs: auth.jwks_max_age,
      })
      const problem = await validators.jwt.warm()
      if (problem !== undefined) this.#startProblems.push(problem)
    }
    if (mode !== 'jwt') {
      if (introspectionEndpoint === undefined) {
        throw new Error(`the metadata of ${issuer} names no introspection_endpoint`)
      }
      validators.introspection = new Introspector({
        endpoint: new URL(introspectionEndpoint),
        clientId: auth.client_id as string,
        clientSecret: auth.client_secret as string,
        issuer,
        audience,
        cacheTtlMs: auth.introspection_cache_ttl,
        clockToleranceMs: auth.clock_tolerance,
      })
    }
    return validators
  }
}

function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.')
  return first > 0 && token.indexOf('.', first + 1) > first + 1 && token.split('.').length === 3
}

function unavailable(message: string): PorticoError {
  return new PorticoError('upstream_unavailable', {
    message: `Cannot verify the token now: ${message}`,
  })
}
