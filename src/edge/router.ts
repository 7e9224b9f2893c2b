/**
 * The route table of the HTTP listener: operations endpoints, the MCP endpoint (exact path;
 * POST, GET, DELETE), the legacy HTTP+SSE endpoints, then everything else. Every request that
 * can reach an upstream passes its route's HTTP filters first, and no failure escapes a
 * request: a handler that throws answers 500 (or ends the answer) and Portico keeps serving.
 * The handlers themselves come from the mode (transparent or gateway), wired by createPortico.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ProxyContext } from '../context.ts'
import { PorticoError } from '../errors.ts'
import { isCorsPreflight } from '../http/headers.ts'
import { isPlainPath } from '../http/plain-path.ts'
import type { Transport } from '../observe/event.ts'
import type { Call } from '../pipeline/call.ts'
import { errorReply } from '../pipeline/compose.ts'
import { allowOrigin, answerPreflight } from './cors.ts'
import { pathOf, refuse, refuseReadingId } from './exchange.ts'
import { type HttpFilter, runFilters, wellFormedHost } from './filters.ts'
import { servePost } from './mcp-post.ts'
import { originCheck } from './origin.ts'
import { sendError, sendJson } from './send.ts'

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void

export interface Routes {
  /**
   * The MCP endpoint, by method; other methods get 405. CORS preflights are answered by the
   * router (cors.ts); `options` serves any other OPTIONS.
   */
  mcp: {
    post: RouteHandler
    get: RouteHandler
    delete: RouteHandler
    options?: RouteHandler
  }
  /** Legacy HTTP+SSE (transparent mode): the stream at `sse_path`, POSTs to announced paths. */
  legacy?: {
    stream: RouteHandler
    post: RouteHandler
    isMessagePath(pathname: string): boolean
  }
  /** Everything else (widget assets, the upstream's other paths); 404 when absent. */
  other?: RouteHandler
}

export interface Filters {
  /** Filters of the MCP and legacy endpoints (Origin, later authentication). */
  mcp: readonly HttpFilter[]
  /** Filters of every other path that reaches an upstream or the widgets folder. */
  other: readonly HttpFilter[]
}

export interface Operations {
  /** False while draining: `/healthz` and `/readyz` answer 503 so balancers stop sending. */
  isServing(): boolean
  /** Whether the upstream(s) can be reached. */
  isReady(detailed: boolean): Promise<{ ready: boolean; detail?: Record<string, unknown> }>
  /**
   * Whether the client is on this machine, so `/readyz` may show it pids and error texts: a
   * loopback peer relaying no one, or a loopback address trusted proxies vouch for.
   */
  isLocal(req: IncomingMessage): boolean
  /** The probes' HTTP filters: the client address rules, as for every path (or none). */
  filters: readonly HttpFilter[]
  version: string
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void

export interface RouterExtras {
  /**
   * Paths served without credentials (the OAuth protected resource metadata), behind the
   * client address rules only (`publicFilters`), as every path is.
   */
  publicRoutes?: ReadonlyMap<string, RouteHandler>
  publicFilters?: readonly HttpFilter[]
  /** More paths served as the MCP endpoint (URL-path profiles, `/mcp/{name}`). */
  mcpPaths?: ReadonlySet<string>
  /** Route groups served beside MCP (the admin API, `/metrics`), each with its own filters. */
  mounts?: readonly Mount[]
}

/**
 * A route group served beside MCP (the admin API, `/metrics`): an exact path, or every path
 * under a prefix ending in `/`, with its own HTTP filters (admin token, Origin).
 */
export interface Mount {
  path: string
  filters: readonly HttpFilter[]
  handler: RouteHandler
  /**
   * How the mount's filters' refusals are written (a 401, a 403), in the shape its own errors
   * take (the admin API's `{ok, message}`); JSON-RPC's error object by default.
   */
  sendRefusal?: (res: ServerResponse, error: PorticoError) => number
}

function notPlain(): PorticoError {
  return new PorticoError('invalid_request', {
    message: 'Bad Request: the path has a "." or ".." segment or a backslash',
  })
}

export function mountOf(mounts: readonly Mount[], pathname: string): Mount | undefined {
  for (const mount of mounts) {
    if (pathname === mount.path) return mount
    if (mount.path.endsWith('/') && pathname.startsWith(mount.path)) return mount
    if (mount.path.endsWith('/') && pathname === mount.path.slice(0, -1)) return mount
  }
  return undefined
}

export function createRouter(
  context: ProxyContext,
  routes: Routes,
  filters: Filters,
  ops: Operations,
  extras: RouterExtras = {},
): RequestHandler {
  const publicRoutes = extras.publicRoutes ?? new Map<string, RouteHandler>()
  const publicFilters = extras.publicFilters ?? []
  const moreMcpPaths = extras.mcpPaths ?? new Set<string>()
  const mounts = extras.mounts ?? []
  const { mcp_path: mcpPath, sse_path: ssePath } = context.config
  const allow = routes.mcp.options ? 'GET, POST, DELETE, OPTIONS' : 'GET, POST, DELETE'
  const corsOrigin = originCheck(context.config.allowed_origins)

  /** Routes one request; synchronous until a filter or handler has something to wait for. */
  function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    const pathname = pathOf(req)
    const isMcp = pathname === mcpPath || (moreMcpPaths.size > 0 && moreMcpPaths.has(pathname))
    if (isMcp && ops.isServing()) {
      allowOrigin(req, res, corsOrigin)
      if (isCorsPreflight(req)) {
        return guarded(filters.mcp, 'streamable-http', answerPreflight, req, res)
      }
      const handler = mcpHandler(req.method)
      if (handler === undefined) {
        const error = new PorticoError('method_not_allowed', { headers: { allow } })
        return refuse(context, req, res, error, 'streamable-http')
      }
      return guarded(filters.mcp, 'streamable-http', handler, req, res)
    }
    if (isMcp && req.method === 'POST') return refuseWhileDraining(req, res)
    if (PROBES.has(pathname)) return serveProbe(context, pathname, req, res, ops)
    // The admin API and /metrics keep answering while draining (operators watch the drain).
    const mount = mounts.length === 0 ? undefined : mountOf(mounts, pathname)
    // A mount's refusals come in its own shape (the admin API's `{ok, message}`), these too.
    const send = mount?.sendRefusal
    if (!isPlainPath(pathname)) return refuse(context, req, res, notPlain(), 'http', send)
    if (mount !== undefined) {
      if (refusedHost(context, req, res, send)) return
      return guardedMount(context, mount, req, res)
    }
    if (!ops.isServing()) {
      // Draining: the listener stays open for health probes; new work goes elsewhere.
      const error = new PorticoError('shutting_down', { headers: { connection: 'close' } })
      return refuse(context, req, res, error, 'http')
    }
    const open = publicRoutes.get(pathname)
    if (open !== undefined) {
      if (refusedHost(context, req, res)) return
      // `allow_ips` / `deny_ips` hold here too: the metadata names the issuer.
      if (publicFilters.length === 0) return open(req, res)
      return guardedBy(context, publicFilters, 'http', open, req, res)
    }
    const legacy = routes.legacy
    if (legacy !== undefined && (pathname === ssePath || legacy.isMessagePath(pathname))) {
      allowOrigin(req, res, corsOrigin)
      if (isCorsPreflight(req)) return guarded(filters.mcp, 'sse', answerPreflight, req, res)
      if (pathname === ssePath && req.method === 'GET') {
        return guarded(filters.mcp, 'sse', legacy.stream, req, res)
      }
      if (req.method === 'POST' && legacy.isMessagePath(pathname)) {
        return guarded(filters.mcp, 'sse', legacy.post, req, res)
      }
    }
    if (routes.other === undefined) {
      // Named, for a client still pointed at another path: mcp-proxy's code served MCP at `/`.
      const message = `Not Found: the MCP endpoint is ${mcpPath} (mcp_path)`
      return refuse(context, req, res, new PorticoError('not_found', { message }), 'http')
    }
    return guarded(filters.other, 'http', routes.other, req, res)
  }

  /**
   * Draining: a POST's calls are read and each answered `shutting_down` (503, the connection
   * closed), so a client matches the refusal to its request id and retries elsewhere.
   */
  function refuseWhileDraining(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const error = new PorticoError('shutting_down', { headers: { connection: 'close' } })
    const handle = (call: Call) => Promise.resolve(errorReply(call, error))
    return servePost(context, req, res, handle, { transport: 'streamable-http' })
  }

  function mcpHandler(method: string | undefined): RouteHandler | undefined {
    switch (method) {
      case 'POST':
        return routes.mcp.post
      case 'GET':
        return routes.mcp.get
      case 'DELETE':
        return routes.mcp.delete
      case 'OPTIONS':
        return routes.mcp.options
      default:
        return undefined
    }
  }

  function guarded(
    list: readonly HttpFilter[],
    transport: Transport,
    handler: RouteHandler,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> | void {
    return guardedBy(context, list, transport, handler, req, res)
  }

  return protect(context, dispatch)
}

/**
 * A listener that serves only mounts (the admin API on `admin_bind`) and the probes, which
 * mcpr served on that listener (its Docker HEALTHCHECK and Kubernetes probes ask it); anything
 * else is 404.
 */
export function createMountRouter(
  context: ProxyContext,
  mounts: readonly Mount[],
  ops: Operations,
): RequestHandler {
  return protect(context, (req, res) => {
    const pathname = pathOf(req)
    if (PROBES.has(pathname) || pathname === MCPR_READY) {
      return serveProbe(context, pathname, req, res, ops)
    }
    // The admin API's own shape (`{ok, message}`) for what its listener refuses: it serves
    // nothing else but the probes.
    const mount = mountOf(mounts, pathname)
    const send = (mount ?? mounts[0])?.sendRefusal
    if (refusedHost(context, req, res, send)) return
    if (!isPlainPath(pathname)) return refuse(context, req, res, notPlain(), 'http', send)
    if (mount === undefined) {
      return refuse(context, req, res, new PorticoError('not_found'), 'http', send)
    }
    return guardedMount(context, mount, req, res)
  })
}

/** The probes every listener serves. */
const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/version'])
/**
 * mcpr's name of the readiness probe, on the admin listener only: on the main listener the path
 * is the upstream's.
 */
const MCPR_READY = '/ready'

/** A probe behind the client address rules (unless `exempt_probes`). */
function serveProbe(
  context: ProxyContext,
  pathname: string,
  req: IncomingMessage,
  res: ServerResponse,
  ops: Operations,
): Promise<void> | void {
  if (refusedHost(context, req, res)) return
  const probe = (q: IncomingMessage, s: ServerResponse) => operations(pathname, q, s, ops)
  if (ops.filters.length === 0) return probe(req, res)
  return guardedBy(context, ops.filters, 'http', probe, req, res)
}

/** A mount behind its filters, refused in its own error shape when it has one. */
function guardedMount(
  context: ProxyContext,
  mount: Mount,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> | void {
  const send = mount.sendRefusal
  if (send === undefined) return guardedBy(context, mount.filters, 'http', mount.handler, req, res)
  const refused = (error: unknown) => refuse(context, req, res, error, 'http', send)
  let pending: Promise<void> | void
  try {
    pending = runFilters(mount.filters, req)
  } catch (error) {
    return refused(error)
  }
  if (pending === undefined) return mount.handler(req, res)
  return pending.then(() => mount.handler(req, res), refused)
}

/**
 * Answers 400 to a malformed Host on a route whose filters do not begin with `hostFilter`
 * (probes, mounts, public routes, the admin listener): the same check as every other path,
 * so no path of any listener takes a Host that is not `host[:port]`.
 */
function refusedHost(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  send?: (res: ServerResponse, error: PorticoError) => number,
): boolean {
  try {
    wellFormedHost(req)
    return false
  } catch (error) {
    refuse(context, req, res, error, 'http', send)
    return true
  }
}

function guardedBy(
  context: ProxyContext,
  list: readonly HttpFilter[],
  transport: Transport,
  handler: RouteHandler,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> | void {
  let pending: Promise<void> | void
  try {
    pending = runFilters(list, req)
  } catch (error) {
    return refuseReadingId(context, req, res, error, transport)
  }
  if (pending === undefined) return handler(req, res)
  return pending.then(
    () => handler(req, res),
    (error: unknown) => refuseReadingId(context, req, res, error, transport),
  )
}

/** The last line of defence: no input may take the process down or leave a client hanging. */
function protect(
  context: ProxyContext,
  dispatch: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
): RequestHandler {
  function failed(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    context.logger.error('request failed', { path: pathOf(req), error: String(error) })
    if (res.headersSent) res.destroy()
    else sendError(res, new PorticoError('internal_error', { cause: error }))
  }
  return function route(req, res) {
    try {
      const pending = dispatch(req, res)
      if (pending !== undefined) pending.catch((error: unknown) => failed(req, res, error))
    } catch (error) {
      failed(req, res, error)
    }
  }
}

async function operations(
  pathname: string,
  req: IncomingMessage,
  res: ServerResponse,
  ops: Operations,
): Promise<void> {
  if (pathname === '/version') return sendJson(res, 200, { name: 'portico', version: ops.version })
  if (!ops.isServing()) return sendJson(res, 503, { status: 'draining' })
  if (pathname === '/healthz') return sendJson(res, 200, { status: 'ok' })
  // `/readyz`, or mcpr's `/ready` (same answer: mcpr's shape, with Portico's details added).
  const { ready, detail } = await ops.isReady(ops.isLocal(req))
  sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', ...detail })
}
