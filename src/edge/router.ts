/**
 * The route table of the HTTP listener. Operations endpoints first, then the MCP endpoint
 * (POST/GET/DELETE), the legacy SSE endpoints, and everything else forwarded as-is.
 * Origin validation guards the MCP endpoints only: widget assets are legitimately fetched
 * cross-origin by the hosts' sandboxed iframes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PorticoError } from '../errors.ts'
import { handleGateway } from '../gateway/endpoint.ts'
import type { ProxyContext } from '../transparent/context.ts'
import { handleLegacyPost, handleLegacyStream } from '../transparent/legacy-sse.ts'
import { handleMcpPost } from '../transparent/mcp-post.ts'
import { handleMcpStream } from '../transparent/mcp-stream.ts'
import { handleRaw } from '../transparent/raw.ts'
import { isWidgetsFolder, type StaticWidgets, staticWidgets } from '../widgets/static.ts'
import { headerValue } from './headers.ts'
import { sendError, sendJson } from './respond.ts'

export interface Operations {
  /** False while draining: `/healthz` and `/readyz` answer 503 so balancers stop sending. */
  isServing(): boolean
  /** Whether the upstream(s) can be reached. */
  isReady(): Promise<{ ready: boolean; detail?: Record<string, unknown> }>
  version: string
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void

export function createRouter(context: ProxyContext, ops: Operations): RequestHandler {
  const { mcp_path: mcpPath, sse_path: ssePath, widgets } = context.config
  const widgetFiles = isWidgetsFolder(widgets) ? staticWidgets(context, widgets) : undefined
  return function route(req, res) {
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const pathname = query === -1 ? url : url.slice(0, query)
    if (pathname === mcpPath && context.gateway) {
      if (!guardOrigin(context, req, res)) return
      return void handleGateway(context, context.gateway, req, res)
    }
    if (pathname === mcpPath) return void mcpEndpoint(context, req, res, url.slice(pathname.length))
    if (pathname === '/healthz' || pathname === '/readyz' || pathname === '/version') {
      return void operations(pathname, res, ops)
    }
    if (context.gateway && !context.config.widgets) {
      return void sendError(res, new PorticoError('not_found'))
    }
    if (pathname === ssePath && req.method === 'GET') {
      if (!guardOrigin(context, req, res)) return
      return void handleLegacyStream(context, req, res)
    }
    if (req.method === 'POST' && context.legacy.messagePaths.has(pathname)) {
      if (!guardOrigin(context, req, res)) return
      return void handleLegacyPost(context, req, res)
    }
    const target = new URL(url, context.rawTarget)
    if (widgetFiles === undefined) return void handleRaw(context, req, res, target)
    return void widgetsFolder(context, widgetFiles, req, res, target)
  }
}

function mcpEndpoint(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  search: string,
): Promise<void> | undefined {
  if (!guardOrigin(context, req, res)) return undefined
  const target = search
    ? new URL(context.upstream.pathname + search, context.upstream)
    : context.upstream
  switch (req.method) {
    case 'POST':
      return handleMcpPost(context, req, res, target)
    case 'GET':
    case 'DELETE':
      return handleMcpStream(context, req, res, target)
    default:
      // OPTIONS preflights and anything else go to the upstream endpoint unchanged.
      return handleRaw(context, req, res, target)
  }
}

/** A file of the widgets folder, else the request goes on to the upstream's origin. */
async function widgetsFolder(
  context: ProxyContext,
  files: StaticWidgets,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
): Promise<void> {
  try {
    if (await files(req, res)) return
  } catch (error) {
    sendError(res, error)
    return
  }
  await handleRaw(context, req, res, target)
}

function guardOrigin(context: ProxyContext, req: IncomingMessage, res: ServerResponse): boolean {
  if (context.originAllowed(headerValue(req.headers, 'origin'))) return true
  sendError(res, new PorticoError('forbidden_origin'))
  req.resume()
  return false
}

async function operations(pathname: string, res: ServerResponse, ops: Operations): Promise<void> {
  if (pathname === '/version') return sendJson(res, 200, { name: 'portico', version: ops.version })
  if (!ops.isServing()) return sendJson(res, 503, { status: 'draining' })
  if (pathname === '/healthz') return sendJson(res, 200, { status: 'ok' })
  const { ready, detail } = await ops.isReady()
  sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', ...detail })
}
