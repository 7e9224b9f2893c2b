/**
 * GET (standalone server→client SSE stream, resumable with `Last-Event-ID`) and DELETE
 * (session end) on the MCP endpoint: forwarded with their headers, streamed, recorded as one
 * exchange each.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { headerValue, upstreamHeaders } from '../edge/headers.ts'
import { type ProxyContext, publicOrigin } from './context.ts'
import { endHttpExchange } from './http-failure.ts'
import { abortOnClose } from './mcp-post.ts'
import { Recorder } from './recorder.ts'
import { clientHeaders, pipeCounting, type RelayOptions, relaySse } from './relay.ts'
import { mapChallenge } from './url-map.ts'

export interface StreamOptions {
  transport: 'streamable-http' | 'sse'
  /** For legacy HTTP+SSE: rewrites the `endpoint` event and correlates later responses. */
  relay?: Pick<RelayOptions, 'rewriteEndpoint' | 'onMessage' | 'parseAll' | 'rewriters' | 'callOf'>
  onEnd?: () => void
}

/** Forwards a GET or DELETE and relays the answer; SSE answers are streamed event by event. */
export async function handleMcpStream(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  options: StreamOptions = { transport: 'streamable-http' },
): Promise<void> {
  const abort = abortOnClose(req, res)
  const method = req.method ?? 'GET'
  const userAgent = headerValue(req.headers, 'user-agent')
  const sessionId = headerValue(req.headers, 'mcp-session-id')
  const recorder = new Recorder(
    context.bus,
    {
      proxy: context.proxy,
      transport: options.transport,
      bytesIn: 0,
      ...(userAgent ? { userAgent } : {}),
      http: {
        method,
        kind: method === 'GET' ? 'stream' : 'http',
        path: req.url ?? '/',
        ...(sessionId ? { sessionId } : {}),
      },
    },
    [],
  )
  try {
    const headers = upstreamHeaders(req)
    const response = await context.http.send({
      url: target,
      method,
      headers,
      signal: abort.signal,
      label: context.upstreamLabel,
      body: method === 'GET' || method === 'DELETE' ? null : req,
    })
    recorder.upstreamStatus = response.status
    const out = mapChallenge(
      clientHeaders(response.headers),
      context.upstream.origin,
      publicOrigin(context, req),
    )
    const type = headerValue(response.headers, 'content-type') ?? ''
    if (type.startsWith('text/event-stream')) {
      await relaySse(res, response.status, out, response.body, {
        recorder,
        calls: [],
        rewriters: [],
        bus: context.bus,
        proxy: context.proxy,
        maxBufferedBytes: context.config.max_response_body_size,
        signal: abort.signal,
        ...options.relay,
      })
    } else {
      res.writeHead(response.status, out)
      await pipeCounting(res, response.body, recorder, abort.signal)
    }
    recorder.finish(response.status)
  } catch (error) {
    endHttpExchange(res, recorder, error, {
      signal: abort.signal,
      logger: context.logger,
      closeIsNormal: method === 'GET',
    })
  } finally {
    options.onEnd?.()
  }
}
