/**
 * Transparent mode: one upstream MCP server, MCP not terminated. POSTs run through the chain
 * to the Streamable HTTP (or legacy HTTP+SSE) forward; GET and DELETE are relayed; everything
 * else goes to the widgets (a dev server or a folder) or to the upstream's own origin, and
 * never anywhere else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Config } from '../config/schema.ts'
import { labelOf, type ProxyContext, publicOriginOf } from '../context.ts'
import { refuse, refuseReadingId } from '../edge/exchange.ts'
import { servePost } from '../edge/mcp-post.ts'
import type { Mode, Readiness } from '../edge/mode.ts'
import { modeReload, type ReloadSource } from '../edge/reload.ts'
import type { RouteHandler } from '../edge/router.ts'
import { PorticoError } from '../errors.ts'
import { forwardRaw, targetOf } from '../forward/raw.ts'
import { isUpstreamAuthPath, routeKey } from '../http/route-key.ts'
import type { StatusBoard } from '../observe/status.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import { StreamReply } from '../pipeline/reply.ts'
import { forgettingUpdatedResources } from '../protect/cache.ts'
import { OutlierGroup } from '../protect/outlier.ts'
import { topLevelProtect, UpstreamProtection } from '../protect/policies.ts'
import { upstreamChain } from '../upstream/chain.ts'
import { type Clock, systemClock } from '../util/clock.ts'
import { isWidgetsFolder, staticWidgets } from '../widgets/static.ts'
import { ClientCancels } from './client-cancels.ts'
import { type LegacyLimits, LegacyTransport, legacySseTarget } from './legacy-sse.ts'
import { readUnlessMcp } from './other-mcp.ts'
import { type BuiltUpstream, ReloadableUpstream } from './reload.ts'
import { forwardStream } from './stream.ts'
import { cancelOnSession, transparentUpstream } from './upstream.ts'

export function transparentMode(
  context: ProxyContext,
  upstreamUrl: string,
  upstreamMiddleware: readonly Middleware[] = [],
  clock: Clock = systemClock,
  reload?: ReloadSource,
): Mode {
  const { config } = context
  const url = new URL(upstreamUrl)
  const label = labelOf(url)
  // One legacy transport for the process: its sessions outlive reloads, its bounds follow them.
  const legacy = new LegacyTransport(context, {
    stream: legacySseTarget(url, config.sse_path),
    label,
    ...limitsOf(config),
    resourceUpdated: (uri) => upstream.resourceUpdated(uri),
  })
  // One ejection group for the process, so that a reload can keep the upstream's statistics.
  const group = new OutlierGroup(clock)
  const upstream = new ReloadableUpstream(
    config,
    (next, previous) => {
      legacy.retune(limitsOf(next))
      const parts = { url, label, legacy, upstreamMiddleware, clock, group }
      return upstreamOf(context, next, parts, previous)
    },
    context.logger,
    context.status,
  )
  context.status.add(upstream.status())
  const rawTarget = rawTargetOf(config.widgets, url)
  // The MCP endpoints of Portico and of the upstream, as a router reads a path.
  const mcpRoutes = new Set(
    [
      config.mcp_path,
      config.sse_path,
      url.pathname,
      legacySseTarget(url, config.sse_path).pathname,
    ].map(routeKey),
  )
  const probe = withBreaker(readinessProbe(context, url, label), context.status)
  const closers: Array<() => void> = []
  // Requests on sessions, for the cancels that name them (why: ./client-cancels.ts).
  const cancels = new ClientCancels()
  return {
    terminal: cancels.handler(upstream.handle),
    runningConfig: () => upstream.config,
    // The same reload as gateway mode's (edge/reload.ts); what it applies: ./reload.ts.
    ...modeReload(upstream, reload, context.logger, (closer) => closers.push(closer)),
    routes(handle: Handler) {
      const stream = forwardStream(context, {
        url,
        label,
        timeoutMs: () => upstream.config.request_timeout,
        maxMessageBytes: () => upstream.config.max_response_body_size,
        resourceUpdated: (uri) => upstream.resourceUpdated(uri),
      })
      return {
        mcp: {
          post: (req, res) =>
            servePost(context, req, res, handle, { transport: 'streamable-http' }),
          get: stream,
          delete: stream,
          // CORS preflights are answered by the router; any other OPTIONS goes to the upstream.
          options: (req, res) =>
            forwardRaw(context, req, res, endpointUrl(url, req), {
              timeoutMs: upstream.config.request_timeout,
            }),
        },
        legacy: {
          stream: config.workers > 1 ? legacyRefused(context) : legacy.stream,
          post: legacy.post(handle),
          isMessagePath: (path) => legacy.isMessagePath(path),
        },
        other: otherTraffic(
          context,
          { other: rawTarget, auth: new URL(url.origin) },
          () => upstream.config,
          (pathname) => {
            const key = routeKey(pathname)
            return (
              mcpRoutes.has(key) || legacy.isMessagePath(pathname) || legacy.isMessageRoute(key)
            )
          },
        ),
      }
    },
    readiness: probe,
    close: async () => {
      for (const closer of closers.splice(0)) closer()
      upstream.close()
    },
  }
}

/** The deadline of one attempt and the bound on one answer, as a config sets them. */
function limitsOf(config: Config): LegacyLimits {
  return {
    timeoutMs: config.timeout?.attemptMs ?? config.request_timeout,
    maxMessageBytes: config.max_response_body_size,
  }
}

interface UpstreamParts {
  url: URL
  label: string
  legacy: LegacyTransport
  upstreamMiddleware: readonly Middleware[]
  clock: Clock
  group: OutlierGroup
}

/**
 * The upstream's per-upstream chain as `config` makes it: the top-level protection tables
 * (`[circuit_breaker]`, `[retry]`, …) over the Streamable HTTP forward, or the legacy one for
 * legacy calls. Built at start and again by each reload (./reload.ts), from the protection it
 * replaces: policies whose tables did not change keep their state (protect/policies.ts).
 */
function upstreamOf(
  context: ProxyContext,
  config: Config,
  parts: UpstreamParts,
  previous: UpstreamProtection | undefined,
): BuiltUpstream {
  const { url, label, legacy } = parts
  const limits = limitsOf(config)
  const streamable = transparentUpstream({
    http: context.http,
    url,
    label,
    maxMessageBytes: limits.maxMessageBytes,
    timeoutMs: limits.timeoutMs,
    publicOrigin: (call) => publicOriginOf(config, call.request),
  })
  const protection = new UpstreamProtection(label, topLevelProtect(config), {
    clock: parts.clock,
    logger: context.logger,
    coalesce: config.performance.coalesce_requests,
    group: parts.group,
    shared: context.shared,
    previous,
    cancelUpstream: (attempt, sentAs, why) => cancelOnSession(streamable, attempt, sentAs, why),
  })
  const send: Handler = (call) =>
    call.transport === 'sse' ? legacy.forward(call) : streamable(call)
  const handle = upstreamChain(
    {
      name: label,
      middleware: parts.upstreamMiddleware,
      protection: protection.middleware,
      attempt: context.attemptMiddleware ?? [],
    },
    protection.forgetsUpdatedResources ? forgettingUpdates(send, protection) : send,
  )
  return { handle, protection }
}

/**
 * The forward, with the resource updates its event-stream answers carry (a call's own stream,
 * a 2026-07-28 `subscriptions/listen`) dropping the cached reads: only while reads are cached
 * in this process. The GET and legacy streams are watched where they are relayed.
 */
function forgettingUpdates(send: Handler, protection: UpstreamProtection): Handler {
  const forget = (uri: string) => protection.resourceUpdated([uri])
  return (call) =>
    send(call).then((reply) =>
      reply instanceof StreamReply ? forgettingUpdatedResources(reply, forget) : reply,
    )
}

/**
 * With `workers` > 1 the legacy HTTP+SSE transport is not served: a session's stream and the
 * POSTs answered on it must meet in one process, and a POST's connection may reach another
 * worker. Its clients are told so, and where to go (Streamable HTTP keeps no such state here).
 */
function legacyRefused(context: ProxyContext): RouteHandler {
  const message = `Not Found: legacy HTTP+SSE is not served when Portico runs several workers (its sessions live in one process); use the Streamable HTTP endpoint ${context.config.mcp_path}`
  return (req, res) => refuse(context, req, res, new PorticoError('not_found', { message }), 'sse')
}

/** Where non-MCP traffic goes: `widgets` when it is a URL, else the upstream's origin. */
function rawTargetOf(widgets: string | undefined, upstream: URL): URL {
  if (widgets && /^https?:\/\//i.test(widgets)) return new URL(new URL(widgets).origin)
  return new URL(upstream.origin)
}

function endpointUrl(upstream: URL, req: IncomingMessage): URL {
  const url = req.url ?? ''
  const query = url.indexOf('?')
  return query === -1 ? upstream : new URL(upstream.pathname + url.slice(query), upstream)
}

/** Widget files from the folder when configured (a miss goes on), then the target origin. */
function otherTraffic(
  context: ProxyContext,
  targets: { other: URL; auth: URL },
  running: () => Config,
  isMcpRoute: (pathname: string) => boolean,
): RouteHandler {
  const { widgets } = context.config
  const folder = isWidgetsFolder(widgets) ? staticWidgets(context, widgets) : undefined
  const widgetServer = targets.other.origin !== targets.auth.origin
  return async function other(req: IncomingMessage, res: ServerResponse) {
    let url = targetOf(req, targets.other)
    // The upstream's own OAuth is the upstream's, whatever serves the widgets.
    if (url !== undefined && widgetServer && isUpstreamAuthPath(url.pathname)) {
      url = targetOf(req, targets.auth)
    }
    if (url === undefined) {
      const error = new PorticoError('invalid_request', {
        message: 'Bad Request: invalid request target',
      })
      return refuse(context, req, res, error, 'http')
    }
    if (isMcpRoute(url.pathname)) {
      // `/MCP`, `/mcp/`, the upstream's own endpoint under another mcp_path: MCP only at the
      // exact paths Portico serves, through its filters, never around them.
      return refuseReadingId(context, req, res, new PorticoError('not_found'), 'http')
    }
    if (folder !== undefined && (await folder(req, res))) return
    const read = await readUnlessMcp(context, req, res)
    if (read.refused) return
    const timeoutMs = running().request_timeout
    await forwardRaw(context, req, res, url, {
      timeoutMs,
      ...(read.body ? { body: read.body } : {}),
    })
  }
}

/**
 * The upstream's readiness, not ready while its circuit breaker is open: every call is refused
 * at once then, as a gateway whose only backend's breaker is open says (`degraded`, not ready).
 * It answered ready while every call got 503.
 */
function withBreaker(
  probe: (detailed: boolean) => Promise<Readiness>,
  status: StatusBoard,
): (detailed: boolean) => Promise<Readiness> {
  return async (detailed) => {
    const readiness = await probe(detailed)
    const open = status.breakers().some((b) => b.backend === 'upstream' && b.state === 'open')
    if (!open) return readiness
    return {
      ready: false,
      detail: { ...readiness.detail, state: 'degraded', protect: { breaker: 'open' } },
    }
  }
}

/**
 * Upstream readiness, cached for a second so probes cannot hammer the upstream. A GET on the
 * MCP endpoint tells an MCP server (SSE, or 400/401/403/405/406: "not like that") from a wrong
 * path (404), a broken server (5xx) or something else answering (an HTML page): only the first
 * is ready.
 */
function readinessProbe(
  context: ProxyContext,
  url: URL,
  label: string,
): (detailed: boolean) => Promise<Readiness> {
  let last: { at: number; ready: boolean; problem?: string } | undefined
  return async (detailed) => {
    const now = Date.now()
    if (last === undefined || now - last.at >= 1000)
      last = { at: now, ...(await probe(context, url, label)) }
    // The upstream's address and error text are for the local admin only (`detailed`): the
    // upstream is often an internal host that a public client (through a tunnel, say) must
    // not learn of.
    if (!detailed) return { ready: last.ready, detail: {} }
    const detail: Record<string, unknown> = {
      upstream: label,
      checkedAt: new Date(last.at).toISOString(),
    }
    if (last.problem !== undefined) detail.problem = last.problem
    return { ready: last.ready, detail }
  }
}

const MCP_REFUSALS = new Set([400, 401, 403, 405, 406])

async function probe(
  context: ProxyContext,
  url: URL,
  label: string,
): Promise<{ ready: boolean; problem?: string }> {
  try {
    const response = await context.http.send({
      url,
      method: 'GET',
      headers: { accept: 'application/json, text/event-stream' },
      signal: AbortSignal.timeout(2000),
      label,
    })
    // Not read: an SSE answer never ends. The aborted read must not surface as an error.
    response.body.on('error', () => {})
    response.body.destroy()
    const type = String(response.headers['content-type'] ?? '')
    if (response.status === 200 && type.startsWith('text/event-stream')) return { ready: true }
    if (MCP_REFUSALS.has(response.status) || type.includes('json')) return { ready: true }
    return {
      ready: false,
      problem: `upstream answered HTTP ${response.status}${type ? ` (${type.split(';')[0]})` : ''}: not an MCP endpoint, or the wrong path`,
    }
  } catch (error) {
    return { ready: false, problem: error instanceof Error ? error.message : String(error) }
  }
}
