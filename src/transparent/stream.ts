/**
 * GET (the standalone server→client SSE stream, resumable with `Last-Event-ID`) and DELETE
 * (session end) on the MCP endpoint in transparent mode: forwarded with their headers and
 * query, the answer relayed (SSE event by event), recorded as one exchange each.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type ProxyContext, publicOrigin } from '../context.ts'
import { relayExchange } from '../edge/exchange.ts'
import type { RouteHandler } from '../edge/router.ts'
import { failRelay, relayAnswer } from '../edge/send.ts'
import { mapOriginHeaders } from '../forward/url-map.ts'
import { clientHeaders, headerValue, requestInfoOf, upstreamHeaders } from '../http/headers.ts'
import { replyOf } from './upstream.ts'

export interface StreamTarget {
  url: URL
  label: string
}

/** GET and DELETE on the MCP endpoint, forwarded to the upstream's endpoint. */
export function forwardStream(context: ProxyContext, upstream: StreamTarget): RouteHandler {
  return async function stream(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? 'GET'
    const sessionId = headerValue(req.headers, 'mcp-session-id')
    const options = relayExchange(context, req, res, {
      transport: 'streamable-http',
      kind: method === 'GET' ? 'stream' : 'http',
      ...(sessionId === undefined ? {} : { sessionId }),
    })
    const { recorder, signal } = options
    try {
      const { search } = requestInfoOf(req)
      const response = await context.http.send({
        url: search ? new URL(upstream.url.pathname + search, upstream.url) : upstream.url,
        method,
        headers: upstreamHeaders(req),
        signal,
        label: upstream.label,
      })
      recorder.upstreamStatus = response.status
      const headers = clientHeaders(response.headers)
      mapOriginHeaders(headers, upstream.url.origin, publicOrigin(context, req))
      const reply = replyOf(
        response,
        headers,
        context.config.max_response_body_size,
        upstream.label,
      )
      await relayAnswer(res, reply, options)
    } catch (error) {
      failRelay(res, error, { ...options, closeIsNormal: method === 'GET' })
    }
  }
}
