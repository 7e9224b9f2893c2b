/**
 * The `[auth]` and `[security]` tables. `[auth]` takes mcp-proxy's keys (`type = "bearer" |
 * "jwt" | "oauth"`, `tokens`, `scoped_tokens`, `issuer`, `audience`, `jwks_uri`, `roles`,
 * `role_mapping`, `token_validation`, `required_scopes`) and mcpr's (`authorization_servers`,
 * `scopes_supported`, `resource`, …) in one table, so files of both tools carry over. Every key
 * here is enforced: a configuration that asks for authentication must never run open, so
 * anything Portico could not enforce is a config error, never a warning (`portico check`).
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import { durationSchema } from './duration-schema.ts'
import { isHeaderName } from './operate.ts'
import { WHOLE_FILE_ONLY } from './validate.ts'

const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^/]+/i.test(value) && URL.canParse(value), {
    message: 'expected an absolute http:// or https:// URL',
  })
  // Issuers, key sets and endpoints are fetched without credentials, and their URLs are logged:
  // a password in one would do nothing but leak.
  .refine(
    (value) =>
      !URL.canParse(value) || (new URL(value).username === '' && new URL(value).password === ''),
    { message: 'a URL with credentials (user:password@) is refused: it is fetched without them' },
  )

/**
 * A credential. Emptiness is checked by `authProblems` at the secret's own path, so an unset
 * `${VAR}` (reported by the loader at that path) is one problem, not a cascade.
 */
const secret = z.string()

/** Visible ASCII: what a header carries between `Bearer ` and its end. */
const BEARER_TOKEN = /^[\x21-\x7e]+$/

/** Whether a key or token can be sent as `Authorization: Bearer <it>` at all. */
export function presentable(token: string): boolean {
  return BEARER_TOKEN.test(token)
}

/**
 * A role's pattern is a glob (`*` any run, `?` one character, else literal: util/glob.ts).
 * mcp-proxy's `re:` regular expressions (its backend filters' syntax, which Portico's backend
 * filters take too) would match nothing here, read as literal names: refused, so a rule never
 * silently matches nothing.
 */
const NOT_A_REGEX = {
  message:
    'role patterns are globs (* and ?); re: regular expressions are for backend filters only: list the names, with * and ?',
}
/** Resource URIs and URI templates (which hold `{…}` and, for IPv6 hosts, `[…]`). */
const uriPattern = z
  .string()
  .min(1)
  .refine((value) => !value.startsWith('re:'), NOT_A_REGEX)
/** Tool and prompt names: glob classes and alternatives would be read as literal characters. */
const namePattern = uriPattern.refine((value) => !/[[\]{}]/.test(value), {
  message:
    'role patterns are globs with * and ? only ([…] classes and {…,…} alternatives are not read): list each name',
})

/**
 * An allow list. Empty, it is refused: mcp-proxy read an empty list as "everything allowed",
 * a reader may take it for "nothing", and access rules must not be a guess. Absent (undefined
 * here too), it allows everything.
 */
const allowList = (pattern: z.ZodType<string>) =>
  z
    .array(pattern)
    .min(1, {
      message:
        'an empty allow list is refused (mcp-proxy read it as allowing everything): leave the key out to allow everything, or put "*" in the deny list to allow nothing',
    })
    .optional()
const denyList = (pattern: z.ZodType<string>) => z.array(pattern).default([])
const allowNames = allowList(namePattern)
const denyNames = denyList(namePattern)
const allowUris = allowList(uriPattern)
const denyUris = denyList(uriPattern)

/** HTTP header names (RFC 9110 tokens), lower-cased. */
const headerName = z
  .string()
  .refine(isHeaderName, 'expected an HTTP header name')
  .transform((name) => name.toLowerCase())

/** An address or CIDR block (`10.0.0.0/8`, `::1`, `2001:db8::/32`). */
const cidr = z.string().refine((value) => parseCidr(value) !== undefined, {
  message: 'expected an IP address or a CIDR block such as "10.0.0.0/8"',
})

/** Address, prefix length and family of a CIDR block; undefined when it is not one. */
export function parseCidr(
  value: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', bits, extra] = value.trim().split('/')
  if (extra !== undefined) return undefined
  const version = isIP(address)
  if (version === 0) return undefined
  const max = version === 4 ? 32 : 128
  const prefix = bits === undefined ? max : Number(bits)
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (bits !== undefined && !/^\d+$/.test(bits))
  ) {
    return undefined
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}

/** Asymmetric JWS algorithms only: an HMAC secret would have to be shared with every client. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const

const scopedTokenSchema = z.strictObject({
  token: secret,
  /** Shown in logs and the store as the caller's subject (default `token-<n>`). */
  name: z.string().min(1).optional(),
  allow_tools: allowNames,
  deny_tools: denyNames,
})

/** Portico's named API keys: an identity, roles and optionally admin rights per key. */
const apiKeySchema = z.strictObject({
  name: z.string().min(1),
  key: secret,
  roles: z.array(z.string().min(1)).default([]),
  /** May call admin surfaces (the `portico__*` tools). */
  admin: z.boolean().default(false),
})

/** What a role or a URL-path profile allows and denies, by kind (names, or URIs). */
const listRules = {
  allow_tools: allowNames,
  deny_tools: denyNames,
  allow_resources: allowUris,
  deny_resources: denyUris,
  allow_prompts: allowNames,
  deny_prompts: denyNames,
}

export const roleSchema = z.strictObject({
  name: z.string().min(1),
  ...listRules,
  /** Holders of this role may use admin surfaces. */
  admin: z.boolean().default(false),
})

export type RoleConfig = z.output<typeof roleSchema>

/** A URL-path profile: `{mcp_path}/{name}` serves the same MCP endpoint, scoped by these lists. */
export const profileSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 of [A-Za-z0-9_-]'),
  ...listRules,
})

const roleMappingSchema = z.strictObject({
  /** The claim holding role names (`scope`: the space-separated scopes, checked in order). */
  claim: z.string().min(1),
  /** Claim value → role name. */
  mapping: z.record(z.string(), z.string()).default({}),
  /** Refuse every request of a principal whose claims map to no role. */
  default_deny: z.boolean().default(false),
})

const identitySchema = z
  .strictObject({
    /** The claim naming the caller (default `sub`). */
    subject_claim: z.string().min(1).default('sub'),
    /** The header carrying the verified subject to upstreams. */
    header: headerName.default('x-user-id'),
    /** More headers for upstreams: header name → claim name (`"x-user-email" = "email"`). */
    headers: z.record(headerName, z.string().min(1)).default({}),
  })
  .prefault({})

export const authSchema = z.strictObject({
  /** mcp-proxy's kind; without it, mcpr's `authorization_servers` make an OAuth resource server. */
  type: z.enum(['bearer', 'jwt', 'oauth']).optional(),
  tokens: z.array(secret).default([]),
  scoped_tokens: z.array(scopedTokenSchema).default([]),
  api_keys: z.array(apiKeySchema).default([]),
  issuer: httpUrl.optional(),
  /** The `aud` tokens must carry (default: `resource`, else the public MCP URL). */
  audience: z.string().min(1).optional(),
  jwks_uri: httpUrl.optional(),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
  /** Accepted clock difference for `exp` and `nbf`. */
  clock_tolerance: durationSchema.default(30_000),
  /** JWKS: least time between fetches (an unknown `kid` refetches after it: key rotation). */
  jwks_cooldown: durationSchema.default(30_000),
  /** JWKS: keys are refetched when older than this. */
  jwks_max_age: durationSchema.default(600_000),
  token_validation: z.enum(['jwt', 'introspection', 'both']).default('jwt'),
  client_id: z.string().min(1).optional(),
  client_secret: secret.optional(),
  introspection_endpoint: httpUrl.optional(),
  /** Introspection answers are kept for the token's life, at most this long. */
  introspection_cache_ttl: durationSchema.default(300_000),
  required_scopes: z.array(z.string().min(1)).default([]),
  authorization_servers: z.array(httpUrl).optional(),
  bearer_methods_supported: z
    .array(z.literal('header', { error: 'only "header" is supported (RFC 6750 §2.1)' }))
    .default(['header']),
  scopes_supported: z.array(z.string().min(1)).optional(),
  /** The protected resource's identifier (RFC 9728 `resource`): Portico's public MCP URL. */
  resource: httpUrl.optional(),
  resource_name: z.string().min(1).optional(),
  resource_documentation: httpUrl.optional(),
  roles: z.array(roleSchema).default([]),
  role_mapping: roleMappingSchema.optional(),
  /** Per-client scoping by URL path: `/mcp/{name}` sees only what its profile allows. */
  profiles: z.array(profileSchema).default([]),
  identity: identitySchema,
  /**
   * Transparent mode: send the client's `Authorization` on to the upstream. Off by default:
   * the MCP spec forbids token passthrough unless the upstream is the same logical resource.
   */
  forward_token: z.boolean().default(false),
})

export type AuthConfig = z.output<typeof authSchema>

export const securitySchema = z
  .strictObject({
    /** Largest `tools/call` arguments, in bytes of their JSON. */
    max_argument_size: z.number().int().positive().optional(),
    /**
     * The credential of admin surfaces (the `portico__*` tools, and the admin API, dashboard and
     * `/metrics` when `[admin] token` is unset): as long as `[admin] token` must be.
     */
    admin_token: secret.min(16, 'an admin token needs at least 16 characters').optional(),
    /** Validate `tools/call` arguments against the tool's `inputSchema` (ajv). */
    validate_arguments: z.boolean().default(false),
    /** Most messages in one JSON-RPC batch. */
    max_batch_size: z.number().int().positive().optional(),
    /** Withhold tools whose description or schema changed until an operator accepts them. */
    pin_tools: z.boolean().default(false),
    /** Where pinned tool definitions are kept (default: beside the store, `pins-<proxy>.json`). */
    pin_file: z.string().min(1).optional(),
    /** Client addresses allowed (CIDR or single address); empty allows all. */
    /**
     * Absent: every address. Empty, it is refused: it would read as "no address" but be no
     * rule at all (every address let in), and an address rule must not be a guess.
     */
    allow_ips: z
      .array(cidr)
      .min(1, {
        message:
          'an empty allow list is refused: it would let every address in; leave the key out for that, or list the addresses allowed',
      })
      .optional(),
    deny_ips: z.array(cidr).default([]),
    /** Proxies whose `X-Forwarded-For` is believed (CIDR); others' is ignored. */
    trusted_proxies: z.array(cidr).default([]),
    /**
     * `/healthz`, `/readyz` and `/version` answer every address, outside `allow_ips` and
     * `deny_ips` (which otherwise hold for them as for every path): for probes from addresses
     * the rules refuse (a kubelet on the node, a container's own HEALTHCHECK).
     */
    exempt_probes: z.boolean().default(false),
  })
  .optional()

export type SecurityConfig = z.output<typeof securitySchema>

/** What auth refinement needs to know about the rest of the config. */
export interface AuthContext {
  auth?: AuthConfig | undefined
  security?: SecurityConfig | undefined
  public_url?: string | undefined
  mcp_path?: string | undefined
  host: string
  backends?: Array<{ forward_auth: boolean; transport: string }> | undefined
  proxy: { admin_tools: boolean; tool_discovery?: boolean; tool_exposure?: string }
  /** `[admin] token`: the admin API's own secret, which no other credential may share. */
  admin?: { token?: string | undefined }
}

/** The kind of authentication a config asks for (mcpr's block alone is an OAuth resource). */
export function authKind(auth: AuthConfig): 'bearer' | 'jwt' | 'oauth' {
  if (auth.type !== undefined) return auth.type
  if (
    auth.issuer !== undefined ||
    auth.jwks_uri !== undefined ||
    (auth.authorization_servers ?? []).length > 0
  ) {
    return 'oauth'
  }
  return 'bearer'
}

type Problem = { path: PropertyKey[]; message: string; params?: typeof WHOLE_FILE_ONLY }

/** Every cross-key rule of `[auth]` and `[security]`; mcp-proxy's rules included. */
export function authProblems(config: AuthContext): Problem[] {
  const problems: Problem[] = []
  const auth = config.auth
  const security = config.security
  problems.push(...securityProblems(security))
  if (
    security?.pin_tools &&
    (config.proxy.tool_discovery || config.proxy.tool_exposure === 'search')
  ) {
    // Pins judge tool definitions as listings pass the chain; the search tools read the
    // backends' lists themselves, so changed definitions would reach the model unchecked.
    problems.push({
      path: ['security', 'pin_tools'],
      message:
        'pin_tools does not cover the search tools (tool_discovery, tool_exposure = "search"), which show the backends\' definitions unchecked: use one or the other',
    })
  }
  if (security?.validate_arguments && config.proxy.tool_exposure === 'search') {
    // The guard learns each tool's inputSchema from the tools/list answers passing the chain;
    // in search mode those list Portico's tools only, so no backend call would ever be checked.
    problems.push({
      path: ['security', 'validate_arguments'],
      message:
        'validate_arguments cannot check the calls of tool_exposure = "search": its listings show no backend tool, so no inputSchema is ever learned (use tool_exposure = "direct", with tool_discovery if you want the search tools)',
    })
  }
  if (auth === undefined) {
    for (const [index, backend] of (config.backends ?? []).entries()) {
      if (backend.forward_auth) {
        problems.push({
          path: ['backends', index, 'forward_auth'],
          message: 'forward_auth needs [auth]: there is no verified client token to forward',
        })
      }
    }
    if (security?.admin_token !== undefined) {
      // Without [auth] nothing authenticates requests, so the token would protect nothing.
      problems.push({
        path: ['security', 'admin_token'],
        message:
          'admin_token needs [auth] (api_keys, tokens, jwt or oauth): without it every client is served, admin tools included',
      })
    }
    return problems
  }
  const kind = authKind(auth)
  problems.push(...tokenProblems(auth, security, config.admin?.token))
  if (auth.forward_token && (config.backends?.length ?? 0) > 0) {
    problems.push({
      path: ['auth', 'forward_token'],
      message:
        'forward_token applies to transparent mode; in gateway mode set forward_auth on a backend',
    })
  }
  if (kind === 'bearer') problems.push(...bearerOnly(auth))
  else problems.push(...oauthProblems(auth, kind, config), ...gatedKeyProblems(auth))
  problems.push(...roleProblems(auth))
  if (kind !== 'bearer' && adminExposed(config) && security?.admin_token === undefined) {
    if (!auth.roles.some((role) => role.admin)) {
      problems.push({
        path: ['security', 'admin_token'],
        message: `${kind} auth with the admin tools exposed needs [security] admin_token (or a role with admin = true, or [proxy] admin_tools = false)`,
      })
    }
  }
  return problems
}

/** `[security]` keys that would be set but do nothing. */
function securityProblems(security: SecurityConfig): Problem[] {
  if (security === undefined) return []
  const problems: Problem[] = []
  if (security.pin_file !== undefined && !security.pin_tools) {
    problems.push({ path: ['security', 'pin_file'], message: 'pin_file needs pin_tools = true' })
  }
  if (
    security.exempt_probes &&
    (security.allow_ips?.length ?? 0) + security.deny_ips.length === 0
  ) {
    problems.push({
      path: ['security', 'exempt_probes'],
      message: 'exempt_probes exempts the probes from allow_ips and deny_ips, and neither is set',
    })
  }
  return problems
}

function adminExposed(config: AuthContext): boolean {
  return (config.backends?.length ?? 0) > 0 && config.proxy.admin_tools
}

/** The least length of an API key (as of an admin token): shorter ones are guessed. */
export const MIN_KEY_LENGTH = 16
const TOO_SHORT = `is shorter than ${MIN_KEY_LENGTH} characters, easy to guess: use a longer one (e.g. openssl rand -hex 32)`

/**
 * mcp-proxy's `tokens` and `scoped_tokens` shorter than MIN_KEY_LENGTH: warned about, not
 * refused, so its files (whose documented example is `tokens = ["my-secret-token"]`) run as
 * written. Named by index, never by value.
 */
export function shortTokenWarnings(auth: AuthConfig | undefined): string[] {
  if (auth === undefined) return []
  const warnings: string[] = []
  auth.tokens.forEach((token, i) => {
    if (token !== '' && token.length < MIN_KEY_LENGTH)
      warnings.push(`auth.tokens[${i}] ${TOO_SHORT}`)
  })
  auth.scoped_tokens.forEach((scoped, i) => {
    if (scoped.token !== '' && scoped.token.length < MIN_KEY_LENGTH) {
      warnings.push(`auth.scoped_tokens[${i}] ${TOO_SHORT}`)
    }
  })
  return warnings
}

/**
 * mcpr's `authorization_servers` other than the issuer (`issuer`, else the first): Portico
 * verifies the tokens of one issuer, so the others are not published in the protected resource metadata (a client
 * that picked one would get tokens that are always refused). Warned about, not refused: a
 * mcpr file runs as written, and nothing is weakened (their tokens are refused).
 */
export function extraServerWarnings(auth: AuthConfig | undefined): string[] {
  if (auth === undefined) return []
  const issuer = auth.issuer ?? auth.authorization_servers?.[0]
  const same = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
  const warnings: string[] = []
  auth.authorization_servers?.forEach((server, i) => {
    if (issuer === undefined || same(server, issuer)) return
    warnings.push(
      `auth.authorization_servers[${i}] (${server}) is not used: Portico accepts the tokens of one authorization server (the issuer, ${issuer}) and publishes only it in /.well-known/oauth-protected-resource`,
    )
  })
  return warnings
}

/**
 * `forward_auth` beside `[auth] type = "bearer"`: the only credentials are Portico's own keys,
 * which never leave it, so the backend gets no Authorization. Warned about, not refused: it
 * sends nothing, as mcp-proxy does with the key, so nothing is weakened, and a mcp-proxy file
 * runs as written. (`bearer_token` beside it has its own warning.)
 */
export function forwardAuthWarnings(
  auth: AuthConfig | undefined,
  backends: ReadonlyArray<{ name: string; forward_auth: boolean; bearer_token?: unknown }> = [],
): string[] {
  if (auth === undefined || authKind(auth) !== 'bearer') return []
  return backends
    .filter((backend) => backend.forward_auth && backend.bearer_token === undefined)
    .map(
      (backend) =>
        `backend "${backend.name}": forward_auth forwards tokens an authorization server issued ([auth] type = "jwt" or "oauth"); with type = "bearer" the clients present Portico's own keys, which are never forwarded, so the backend gets no Authorization (set bearer_token or headers for its own credential)`,
    )
}

/** The principal the admin token authenticates (auth/api-keys.ts): its `x-user-id`. */
export const ADMIN_PRINCIPAL = 'admin'

/** Tokens: at least one for bearer, no duplicate anywhere, no allow + deny on one token. */
function tokenProblems(
  auth: AuthConfig,
  security: SecurityConfig,
  adminToken: string | undefined,
): Problem[] {
  const problems: Problem[] = []
  const seen = new Map<string, string>()
  const note = (token: string, where: string, path: PropertyKey[]) => {
    if (token === '') {
      problems.push({ path, message: 'expected a non-empty secret' })
      return
    }
    if (!presentable(token)) {
      // It could never be presented: every request with it would be refused as malformed.
      problems.push({
        path,
        message:
          'cannot be sent as a bearer token: use visible ASCII only, without spaces (letters, digits, punctuation)',
      })
      return
    }
    const previous = seen.get(token)
    if (previous !== undefined) {
      problems.push({ path, message: `duplicate token (also ${previous})` })
    } else seen.set(token, where)
  }
  for (const [i, token] of auth.tokens.entries())
    note(token, `auth.tokens[${i}]`, ['auth', 'tokens', i])
  auth.scoped_tokens.forEach((scoped, i) => {
    note(scoped.token, `auth.scoped_tokens[${i}]`, ['auth', 'scoped_tokens', i, 'token'])
    if (scoped.allow_tools !== undefined && scoped.deny_tools.length > 0) {
      problems.push({
        path: ['auth', 'scoped_tokens', i, 'deny_tools'],
        message: 'allow_tools and deny_tools are mutually exclusive on one token',
      })
    }
  })
  for (const [i, key] of auth.api_keys.entries()) {
    note(key.key, `auth.api_keys[${i}]`, ['auth', 'api_keys', i, 'key'])
    if (key.key !== '' && key.key.length < MIN_KEY_LENGTH) {
      // Portico's own layout: a short key is refused (mcp-proxy's `tokens` only warn, below).
      problems.push({
        path: ['auth', 'api_keys', i, 'key'],
        message: `the key of "${key.name}" ${TOO_SHORT}`,
      })
    }
  }
  if (security?.admin_token !== undefined) {
    note(security.admin_token, 'security.admin_token', ['security', 'admin_token'])
  }
  // The admin API's token: a client's key that opened it would give that client the config.
  // The same secret as [security] admin_token is one admin credential (adminTokenOf).
  if (adminToken !== undefined && adminToken !== security?.admin_token) {
    note(adminToken, 'admin.token', ['admin', 'token'])
  }
  // One name, one principal: sessions, caches and rate limits are keyed by it, so two
  // credentials under one name (a key named like a token's synthetic `token-0`) would share them.
  const names = new Set<string>(auth.tokens.map((_token, i) => `token-${i}`))
  auth.scoped_tokens.forEach((scoped, i) => {
    const name = scoped.name ?? `scoped-token-${i}`
    if (names.has(name)) {
      problems.push({ path: ['auth', 'scoped_tokens', i, 'name'], message: 'duplicate name' })
    }
    names.add(name)
  })
  // The admin token's caller is `admin` (its x-user-id upstream): a key of that name would reach
  // the upstream as the operator.
  const admin = security?.admin_token !== undefined
  auth.api_keys.forEach((key, i) => {
    if (admin && key.name === ADMIN_PRINCIPAL) {
      problems.push({
        path: ['auth', 'api_keys', i, 'name'],
        message: `"${ADMIN_PRINCIPAL}" names the caller of [security] admin_token (its x-user-id): choose another name`,
      })
    } else if (names.has(key.name)) {
      problems.push({ path: ['auth', 'api_keys', i, 'name'], message: 'duplicate key name' })
    }
    names.add(key.name)
  })
  return problems
}

function bearerOnly(auth: AuthConfig): Problem[] {
  const keys = auth.tokens.length + auth.scoped_tokens.length + auth.api_keys.length
  const mcprTable =
    auth.authorization_servers !== undefined ||
    auth.resource !== undefined ||
    auth.scopes_supported !== undefined ||
    auth.resource_documentation !== undefined
  if (auth.type === undefined && keys === 0 && mcprTable) {
    // mcpr's protected-resource table with no authorization server (mcpr ignored such a
    // block): read as bearer auth, it was refused for keys and a mode the file never named.
    return [
      {
        path: ['auth', 'authorization_servers'],
        message:
          "mcpr's [auth] table needs authorization_servers to name the authorization server (mcpr ignored the block when it was empty; Portico refuses an [auth] that would check nothing): list it, or remove [auth]",
      },
    ]
  }
  const problems: Problem[] = []
  if (auth.tokens.length + auth.scoped_tokens.length + auth.api_keys.length === 0) {
    problems.push({
      path: ['auth', 'tokens'],
      message: 'bearer auth needs at least one valid token (tokens, scoped_tokens or api_keys)',
      // Missing from the whole file: not again once a later pass set another key aside.
      params: WHOLE_FILE_ONLY,
    })
  }
  const oauthOnly = [
    'issuer',
    'jwks_uri',
    'client_id',
    'client_secret',
    'introspection_endpoint',
    'audience',
    'resource',
    'resource_name',
    'resource_documentation',
    'scopes_supported',
  ] as const
  for (const key of oauthOnly) {
    if (auth[key] !== undefined) {
      problems.push({
        path: ['auth', key],
        message: `${key} is not used by type = "bearer" (set type = "jwt" or "oauth")`,
      })
    }
  }
  if ((auth.authorization_servers ?? []).length > 0) {
    problems.push({
      path: ['auth', 'authorization_servers'],
      message: 'authorization_servers is not used by type = "bearer" (set type = "oauth")',
    })
  }
  if (auth.required_scopes.length > 0) {
    problems.push({
      path: ['auth', 'required_scopes'],
      message: 'required_scopes needs tokens with scopes (type = "jwt" or "oauth")',
    })
  }
  if (auth.forward_token) {
    problems.push({
      path: ['auth', 'forward_token'],
      message:
        'forward_token passes on tokens an authorization server issued (type = "jwt" or "oauth"); API keys and bearer tokens are Portico\'s own and are never forwarded',
    })
  }
  if (auth.role_mapping !== undefined) {
    problems.push({
      path: ['auth', 'role_mapping'],
      message:
        'role_mapping reads token claims (type = "jwt" or "oauth"); give api_keys roles instead',
    })
  }
  return problems
}

function oauthProblems(auth: AuthConfig, kind: 'jwt' | 'oauth', config: AuthContext): Problem[] {
  const problems: Problem[] = []
  const issuer = auth.issuer ?? auth.authorization_servers?.[0]
  if (issuer === undefined) {
    problems.push({ path: ['auth', 'issuer'], message: `${kind} auth needs an issuer` })
  }
  if (kind === 'jwt' && auth.jwks_uri === undefined) {
    problems.push({ path: ['auth', 'jwks_uri'], message: 'jwt auth needs jwks_uri' })
  }
  if (kind === 'jwt' && auth.token_validation !== 'jwt') {
    problems.push({
      path: ['auth', 'token_validation'],
      message: 'token_validation applies to type = "oauth"',
    })
  }
  if (auth.client_secret === '') {
    problems.push({ path: ['auth', 'client_secret'], message: 'expected a non-empty secret' })
  }
  const introspects = kind === 'oauth' && auth.token_validation !== 'jwt'
  if (!introspects) {
    // Read only to introspect tokens: set without that, they would do nothing (fail closed).
    for (const key of ['introspection_endpoint', 'client_id', 'client_secret'] as const) {
      if (auth[key] === undefined) continue
      problems.push({
        path: ['auth', key],
        message: `${key} is only used to introspect tokens (type = "oauth" with token_validation = "introspection"); it would do nothing here`,
      })
    }
  }
  if (introspects && (auth.client_id === undefined || auth.client_secret === undefined)) {
    problems.push({
      path: ['auth', auth.client_id === undefined ? 'client_id' : 'client_secret'],
      message: `token_validation = "${auth.token_validation}" needs client_id and client_secret`,
    })
  }
  problems.push(...publicPathProblems(auth, config))
  const audience = auth.audience ?? auth.resource ?? config.public_url
  if (audience === undefined && isWildcardHost(config.host)) {
    problems.push({
      path: ['auth', 'audience'],
      message: `${kind} auth needs the audience tokens are issued for: set auth.audience, auth.resource or public_url (listening on ${config.host} names no URL)`,
    })
  }
  return problems
}

/**
 * The resource identifier tokens are issued for is `public_url`'s origin plus `mcp_path`: a
 * sub-path in `public_url` (a proxy serving Portico under `/tools/`) would be dropped from it, and
 * clients would ask the authorization server for tokens for the wrong URL. The origin alone, or
 * the MCP endpoint's own URL, say the same thing; any other path must be said in `auth.resource`.
 */
function publicPathProblems(auth: AuthConfig, config: AuthContext): Problem[] {
  if (auth.resource !== undefined || config.public_url === undefined) return []
  if (!URL.canParse(config.public_url)) return []
  const url = new URL(config.public_url)
  const mcpPath = config.mcp_path ?? '/mcp'
  const path = url.pathname.replace(/\/+$/, '')
  const endpoint = mcpPath.replace(/\/+$/, '')
  if (path === '' || path === endpoint) return []
  // `https://host/tools/mcp` is already the public MCP URL behind a prefix.
  const publicMcpUrl = `${url.origin}${path.endsWith(endpoint) ? path : `${path}${mcpPath}`}`
  return [
    {
      path: ['public_url'],
      message: `its path ${url.pathname} is not part of the resource identifier tokens are issued for (${url.origin}${mcpPath}); behind a proxy on a sub-path, set auth.resource to the public MCP URL (e.g. "${publicMcpUrl}")`,
    },
  ]
}

// A profile's lists; a role has the same lists (and more).
type ListRules = AuthConfig['profiles'][number]

/** A role or profile may allow or deny each kind of name, not both. */
function exclusiveLists(rules: ListRules, at: Problem['path'], what: string): Problem[] {
  const problems: Problem[] = []
  for (const kind of ['tools', 'resources', 'prompts'] as const) {
    if (rules[`allow_${kind}`] !== undefined && rules[`deny_${kind}`].length > 0) {
      problems.push({
        path: [...at, `deny_${kind}`],
        message: `allow_${kind} and deny_${kind} are mutually exclusive on one ${what}`,
      })
    }
  }
  return problems
}

function roleProblems(auth: AuthConfig): Problem[] {
  const problems: Problem[] = []
  const names = new Set<string>()
  auth.roles.forEach((role, i) => {
    if (names.has(role.name)) {
      problems.push({ path: ['auth', 'roles', i, 'name'], message: 'duplicate role name' })
    }
    names.add(role.name)
    problems.push(...exclusiveLists(role, ['auth', 'roles', i], 'role'))
  })
  const profiles = new Set<string>()
  auth.profiles.forEach((profile, i) => {
    if (profiles.has(profile.name)) {
      problems.push({ path: ['auth', 'profiles', i, 'name'], message: 'duplicate profile name' })
    }
    profiles.add(profile.name)
    problems.push(...exclusiveLists(profile, ['auth', 'profiles', i], 'profile'))
  })
  const known = (name: string) => names.has(name)
  for (const [value, role] of Object.entries(auth.role_mapping?.mapping ?? {})) {
    if (!known(role)) {
      problems.push({
        path: ['auth', 'role_mapping', 'mapping', value],
        message: `unknown role "${role}"`,
      })
    }
  }
  auth.api_keys.forEach((key, i) => {
    key.roles.forEach((role, j) => {
      if (!known(role)) {
        problems.push({
          path: ['auth', 'api_keys', i, 'roles', j],
          message: `unknown role "${role}"`,
        })
      }
    })
  })
  // A mapping that maps nothing gives no role either (unless default_deny: then it refuses all).
  const mapping = auth.role_mapping
  const assigned =
    (mapping !== undefined && (Object.keys(mapping.mapping).length > 0 || mapping.default_deny)) ||
    auth.api_keys.some((k) => k.roles.length > 0)
  if (auth.roles.length > 0 && !assigned) {
    // A caller with no role may use everything: roles nothing gives would restrict no one.
    problems.push({
      path: ['auth', 'roles'],
      message:
        'roles are defined, and nothing gives a caller one: without an [auth.role_mapping] that maps a value (tokens) or api_keys roles every caller would be unrestricted',
      params: WHOLE_FILE_ONLY,
    })
  }
  if (auth.role_mapping !== undefined && auth.roles.length === 0) {
    problems.push({
      path: ['auth', 'role_mapping'],
      message: 'role_mapping maps to [[auth.roles]], and none is defined',
    })
  }
  return problems
}

/**
 * The global gates, `required_scopes` and `role_mapping.default_deny`, judge what a token's
 * claims say. Portico's static keys (`tokens`, `scoped_tokens`, `api_keys`) carry no scopes, and
 * a key without a role reaches every tool (mcp-proxy's rule): accepted beside such a gate, the
 * key would pass it, so the gate would be asked for and not enforced. Refused at load, at the
 * key's line, naming the key by its index and name (never its secret). The admin token is the
 * operator's credential, exempt as admins are from `default_deny`.
 */
function gatedKeyProblems(auth: AuthConfig): Problem[] {
  const problems: Problem[] = []
  const scopes = auth.required_scopes
  if (scopes.length > 0) {
    const why = `required_scopes (${scopes.join(' ')}) holds for every request, and a static key carries no scopes, so it would pass unchecked: remove required_scopes or this key`
    for (const i of auth.tokens.keys()) {
      problems.push({ path: ['auth', 'tokens', i], message: why })
    }
    auth.scoped_tokens.forEach((_scoped, i) => {
      problems.push({
        path: ['auth', 'scoped_tokens', i, 'token'],
        message: why,
      })
    })
    auth.api_keys.forEach((key, i) => {
      problems.push({
        path: ['auth', 'api_keys', i, 'name'],
        message: `key "${key.name}": ${why}`,
      })
    })
  }
  if (auth.role_mapping?.default_deny) {
    const why =
      'a key without a role may use every tool, so under role_mapping.default_deny = true it would be let through unrestricted'
    for (const i of auth.tokens.keys()) {
      problems.push({
        path: ['auth', 'tokens', i],
        message: `${why}: use an api_keys entry with roles (or scoped_tokens) instead`,
      })
    }
    auth.api_keys.forEach((key, i) => {
      if (key.roles.length > 0 || key.admin) return
      problems.push({
        path: ['auth', 'api_keys', i, 'name'],
        message: `key "${key.name}" has no role; ${why}: give it roles (or admin = true)`,
      })
    })
  }
  return problems
}

/** A listening address that names no URL clients can use (any interface). */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === ''
}
