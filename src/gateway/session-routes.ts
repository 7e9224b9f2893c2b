/**
 * GET and DELETE on the gateway's MCP endpoint: GET opens a session's standalone SSE stream
 * (list changes, resource updates, server requests unrelated to a call), DELETE ends the
 * session. Both are recorded like every exchange. Stateless (2026-07-28) clients have no
 * session and no standalone stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ProxyContext } from '../context.ts'
import { markListening, refuse, relayExchange } from '../edge/exchange.ts'
import type { RouteHandler } from '../edge/router.ts'
import { PorticoError } from '../errors.ts'
import { headerValue } from '../http/headers.ts'
import type { Gateway } from './gateway.ts'
import { versionHeaderRefusal } from './version-header.ts'

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}

export function gatewayStream(context: ProxyContext, gateway: Gateway): RouteHandler {
  return function openStream(req: IncomingMessage, res: ServerResponse) {
    const id = headerValue(req.headers, 'mcp-session-id')
    if (id === undefined) {
      const error = new PorticoError('method_not_allowed', {
        message: 'Method Not Allowed: a stateless client has no standalone stream',
        headers: { allow: 'POST' },
      })
      return refuse(context, req, res, error, 'streamable-http')
    }
    const session = gateway.sessions.get(id)
    if (!session)
      return refuse(context, req, res, new PorticoError('session_not_found'), 'streamable-http')
    const refusal = versionHeaderRefusal(req.headers)
    if (refusal) return refuse(context, req, res, refusal, 'streamable-http')
    const { recorder } = relayExchange(context, req, res, {
      transport: 'streamable-http',
      kind: 'stream',
      sessionId: session.key,
    })
    res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session.key })
    res.flushHeaders()
    markListening(res)
    res.once('close', () => recorder.finish(200))
    session.attachStream(res, (bytes) => recorder.wrote(bytes))
  }
}

export function gatewayDelete(context: ProxyContext, gateway: Gateway): RouteHandler {
  return function endSession(req: IncomingMessage, res: ServerResponse) {
    const id = headerValue(req.headers, 'mcp-session-id')
    if (id === undefined)
      return refuse(context, req, res, new PorticoError('session_required'), 'streamable-http')
    const refusal = gateway.sessions.get(id) && versionHeaderRefusal(req.headers)
    if (refusal) return refuse(context, req, res, refusal, 'streamable-http')
    if (!gateway.sessions.delete(id)) {
      return refuse(context, req, res, new PorticoError('session_not_found'), 'streamable-http')
    }
    const { recorder } = relayExchange(context, req, res, {
      transport: 'streamable-http',
      kind: 'http',
      sessionId: id,
    })
    res.writeHead(200).end()
    recorder.finish(200)
  }
}
