/**
 * Builds Portico's security from the config, once: the HTTP filters (client address rules,
 * authentication), the global middleware (session ownership, authorization, argument checks,
 * tool pinning), the protected resource metadata route, and what must happen at startup
 * (issuer discovery) and once the listener knows its URL (the default audience). With neither
 * `[auth]` nor `[security]` nothing is built, so a Portico without auth pays nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ADMIN_NAMESPACE, OPEN_PORTICO_TOOLS } from '../config/gateway.ts'
import type { Config } from '../config/schema.ts'
import { StartupError } from '../errors.ts'
import type { Logger } from '../observe/logger.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { ArgumentGuard } from './arguments.ts'
import { Authenticator, PRM_PATH } from './authenticator.ts'
import { authorize, profilePath, rolesListFilter } from './authorize.ts'
import { authFilter, type RequestFilter } from './filter.ts'
import { IpPolicy } from './ip.ts'
import { pinFileOf, ToolPins } from './pins.ts'
import { type GatewayNames, Policy } from './policy.ts'
import { SessionOwners } from './sessions.ts'
import { taskOwnership } from './tasks.ts'

export type PublicRoute = (req: IncomingMessage, res: ServerResponse) => void

export interface Security {
  /** Filters of the MCP endpoint and of every other path (same list: auth covers both). */
  filters: RequestFilter[]
  /**
   * The client address rules alone (`allow_ips`, `deny_ips`), for the admin API, the dashboard
   * and `/metrics`, which have their own credential instead of `[auth]`.
   */
  addressFilters: RequestFilter[]
  /**
   * The filters of the probes (`/healthz`, `/readyz`, `/version`): the client address rules,
   * unless `exempt_probes`.
   */
  probeFilters: RequestFilter[]
  /** Whether a request's client is on this machine, as far as trusted proxies vouch (ip.ts). */
  isLocal: (req: IncomingMessage) => boolean
  /** Global middleware, outermost first, run before user middleware. */
  middleware: Middleware[]
  /** Routes served without filters: the protected resource metadata. */
  routes: Map<string, PublicRoute>
  /** URL-path profiles served as the MCP endpoint (`/mcp/{name}`). */
  mcpPaths: Set<string>
  authenticator: Authenticator | undefined
  /**
   * The roles' list filter for answers that come outside a call's chain (a GET stream's
   * replay, the legacy SSE stream); the chain filters its own calls' lists.
   */
  listFilter?: ResponseRewriter
  /** Startup work that must succeed before serving (issuer discovery). */
  ready(): Promise<void>
  /** The listener's URL, the default resource identifier when none is configured. */
  listening(mcpUrl: string): void
}

export function securityFromConfig(
  config: Config,
  logger: Logger,
  proxy: string,
  names?: GatewayNames,
): Security | undefined {
  const { auth, security } = config
  if (auth === undefined && security === undefined) return undefined
  const filters: RequestFilter[] = []
  const middleware: Middleware[] = []
  const routes = new Map<string, PublicRoute>()
  const mcpPaths = new Set<string>()
  const ip = new IpPolicy({
    allow: security?.allow_ips ?? [],
    deny: security?.deny_ips ?? [],
    trustedProxies: security?.trusted_proxies ?? [],
  })
  const addressFilters: RequestFilter[] = []
  if (
    security !== undefined &&
    (security.allow_ips !== undefined || security.deny_ips.length > 0)
  ) {
    addressFilters.push((req) => ip.check(req))
  } else if (security !== undefined && security.trusted_proxies.length > 0) {
    // No rules to judge by, but the proxies still say who the client is (ip.ts attaches it).
    addressFilters.push((req) => ip.vouch(req))
  }
  filters.push(...addressFilters)
  let authenticator: Authenticator | undefined
  let listFilter: ResponseRewriter | undefined
  if (auth !== undefined) {
    authenticator = new Authenticator(config, auth)
    const sessions = new SessionOwners()
    filters.push(
      authFilter({
        authenticator,
        sessions,
        forwardToken: auth.forward_token,
        clientAddress: (req) => ip.clientAddress(req),
      }),
    )
    const gateway = (config.backends?.length ?? 0) > 0
    const adminPrefix =
      gateway && config.proxy.admin_tools
        ? `${ADMIN_NAMESPACE}${config.proxy.separator}`
        : undefined
    const policy = new Policy(auth, adminPrefix, OPEN_PORTICO_TOOLS)
    policy.itemNames = names?.itemNames
    policy.resourceNames = names?.resourceNames
    policy.canonicalUri = names?.canonicalUri
    const stepUp = authenticator.stepUpChallenge.bind(authenticator)
    middleware.push(sessions.middleware(), authorize(policy, config.mcp_path, stepUp))
    // Transparent mode relays tasks/*; the gateway answers them itself (not relayed).
    if (!gateway) middleware.push(taskOwnership(policy, config.mcp_path))
    listFilter = rolesListFilter(policy, config.mcp_path)
    for (const profile of auth.profiles) mcpPaths.add(profilePath(config.mcp_path, profile.name))
    if (authenticator.isOAuth) {
      addMetadataRoutes(routes, authenticator, [config.mcp_path, ...mcpPaths])
    }
  }
  if (security?.max_argument_size !== undefined || security?.validate_arguments) {
    const guard = new ArgumentGuard({
      maxArgumentSize: security.max_argument_size,
      validate: security.validate_arguments,
      logger,
    })
    middleware.push(guard.middleware())
  }
  if (security?.pin_tools) {
    middleware.push(new ToolPins(pinFileOf(config, proxy), logger).middleware())
  }
  const found = authenticator
  return {
    filters,
    addressFilters,
    probeFilters: security?.exempt_probes ? [] : addressFilters,
    isLocal: (req) => ip.isLocal(req),
    middleware,
    routes,
    mcpPaths,
    authenticator,
    ...(listFilter === undefined ? {} : { listFilter }),
    ready: async () => {
      let problems: readonly string[] = []
      try {
        problems = (await found?.ready()) ?? []
      } catch (error) {
        // The issuer could not be discovered: a start-up failure to explain, not a crash.
        throw new StartupError(`[auth] ${error instanceof Error ? error.message : String(error)}`)
      }
      for (const problem of problems) logger.error(`[auth] ${problem}`)
    },
    listening: (url) => found?.setListenUrl(url),
  }
}

/** RFC 9728 metadata at the root well-known path and its path-inserted forms. */
function addMetadataRoutes(
  routes: Map<string, PublicRoute>,
  authenticator: Authenticator,
  endpoints: readonly string[],
): void {
  const serve: PublicRoute = (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const body = JSON.stringify(authenticator.metadata())
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'public, max-age=300',
      'access-control-allow-origin': '*',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  routes.set(PRM_PATH, serve)
  for (const endpoint of endpoints) routes.set(`${PRM_PATH}${endpoint}`, serve)
  const configured = authenticator.resource()
  if (configured !== undefined) {
    const path = new URL(configured).pathname.replace(/\/+$/, '')
    if (path !== '') routes.set(`${PRM_PATH}${path}`, serve)
  }
}
