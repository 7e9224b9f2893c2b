/**
 * Gateway mode: many backends (stdio, Streamable HTTP, legacy SSE) behind one endpoint, MCP
 * terminated here. POSTs run through the chain to the gateway's terminal; GET opens a session's
 * stream and DELETE ends it; widget assets come from the widgets folder or dev server only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Config } from '../config/schema.ts'
import type { ProxyContext } from '../context.ts'
import { refuse } from '../edge/exchange.ts'
import { servePost } from '../edge/mcp-post.ts'
import type { Mode } from '../edge/mode.ts'
import { modeReload, type ReloadSource } from '../edge/reload.ts'
import type { RouteHandler } from '../edge/router.ts'
import { PorticoError } from '../errors.ts'
import { forwardRaw, targetOf } from '../forward/raw.ts'
import { type StatusSource, statusOfEach } from '../observe/status.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import type { Clock } from '../util/clock.ts'
import { isWidgetsFolder, staticWidgets } from '../widgets/static.ts'
import { Gateway } from './gateway.ts'
import { gatewayReadiness } from './health.ts'
import { gatewayTarget } from './reload.ts'
import { gatewayDelete, gatewayStream } from './session-routes.ts'
import { gatewayTerminal } from './terminal.ts'

export function gatewayMode(
  context: ProxyContext,
  reload?: ReloadSource,
  upstreamMiddleware: readonly Middleware[] = [],
  clock?: Clock,
): Mode & { gateway: Gateway } {
  const { config, bus, proxy, logger } = context
  const gateway = new Gateway(config, {
    logger,
    http: context.http,
    upstreamMiddleware,
    attemptMiddleware: context.attemptMiddleware ?? [],
    shared: context.shared,
    status: context.status,
    ...(clock === undefined ? {} : { clock }),
    observe: (notification) => {
      if (!bus.hasSinks) return
      bus.publish({ type: 'notification', ts: Date.now(), proxy, ...notification })
    },
  })
  context.status.add(backendsStatus(gateway))
  return {
    gateway,
    // The same reload serves file changes (`hot_reload`) and requests (SIGHUP, `reloadConfig`).
    ...modeReload(gatewayTarget(gateway), reload, logger, (closer) => gateway.onClose(closer)),
    terminal: gatewayTerminal(context, gateway),
    routes(handle: Handler) {
      gateway.reenter = handle
      return {
        mcp: {
          post: (req, res) =>
            servePost(context, req, res, handle, { transport: 'streamable-http' }),
          get: gatewayStream(context, gateway),
          delete: gatewayDelete(context, gateway),
        },
        ...(config.widgets === undefined
          ? {}
          : { other: widgetTraffic(context, config.widgets, () => gateway.config) }),
      }
    },
    readiness: (detailed) => gatewayReadiness(gateway, detailed),
    cut: (error) => gateway.cut(error),
    close: () => gateway.close(),
  }
}

/** Widget assets in gateway mode: the folder (a miss is 404) or the widgets dev server. */
function widgetTraffic(
  context: ProxyContext,
  widgets: string,
  running: () => Config,
): RouteHandler {
  if (isWidgetsFolder(widgets)) {
    const folder = staticWidgets(context, widgets)
    return async (req: IncomingMessage, res: ServerResponse) => {
      if (!(await folder(req, res)))
        refuse(context, req, res, new PorticoError('not_found'), 'http')
    }
  }
  const origin = new URL(new URL(widgets).origin)
  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = targetOf(req, origin)
    if (url === undefined) {
      const error = new PorticoError('invalid_request', {
        message: 'Bad Request: invalid request target',
      })
      return refuse(context, req, res, error, 'http')
    }
    await forwardRaw(context, req, res, url, { timeoutMs: running().request_timeout })
  }
}

/** The protection status of the backends present when asked (hot reload adds and removes them). */
function backendsStatus(gateway: Gateway): StatusSource {
  return statusOfEach(() => gateway.backends().map((b) => b.protection.statusSource(b.name)))
}
