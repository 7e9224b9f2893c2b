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
import { PorticoError } from '../errors.ts'
import { mapOriginHeaders } from '../forward/url-map.ts'
import {
  clientHeaders,
  contentTypeOf,
  headerValue,
  readUpstreamHeaders,
  requestInfoOf,
} from '../http/headers.ts'
import type { JsonRpcMessage, JsonRpcResponse } from '../jsonrpc/message.ts'
import { rewriteStreamAnswers } from '../middleware/rewrite.ts'
import { buildCalls, type Call, type CallSource } from '../pipeline/call.ts'
import { identityOf } from '../pipeline/identity.ts'
import { type Reply, StreamReply } from '../pipeline/reply.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { CallController } from '../pipeline/signal.ts'
import { forgettingUpdatedResources } from '../protect/cache.ts'
import type { UpstreamResponse } from '../upstream/http-client.ts'
import { printable } from '../util/format.ts'
import { replyOf } from './upstream.ts'

export interface StreamTarget {
  url: URL
  label: string
  /** `request_timeout` now (a reload may change it). */
  timeoutMs: () => number
  /** `max_response_body_size` now (a reload may change it: one read at start was kept). */
  maxMessageBytes: () => number
  /** The upstream said a resource changed: its cached reads go. */
  resourceUpdated: (uri: string) => void
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
        headers: readUpstreamHeaders(req),
        signal,
        label: upstream.label,
        // A JSON (or any other) answer is due whole within request_timeout, as a POST's is;
        // an event stream (the GET stream) may stay quiet. A DELETE or GET whose body stalled
        // held the client and the upstream connection for ever.
        timeoutMs: upstream.timeoutMs(),
        wholeMessageDeadline: true,
        idleEventStreams: true,
      })
      recorder.upstreamStatus = response.status
      const rewriters = context.rewriters ?? []
      if (method === 'GET') refuseUncheckedStream(response, rewriters, upstream.label)
      const headers = clientHeaders(response.headers)
      mapOriginHeaders(headers, upstream.url.origin, publicOrigin(context, req))
      const reply = replyOf(response, headers, upstream.maxMessageBytes(), upstream.label)
      await relayAnswer(res, relayed(reply, rewriters, req, upstream), options)
    } catch (error) {
      failRelay(res, error, { ...options, closeIsNormal: method === 'GET' })
    }
  }
}

/**
 * Refuses a GET stream's success that is not an event stream while answers on it are rewritten
 * (widget CSP, the roles' list filter): clients read a GET body as SSE whatever its type, so
 * passed on unread its answers reached them as the server wrote them. It cannot be checked, so
 * it is not passed on (502), as any other answer that cannot be read.
 */
export function refuseUncheckedStream(
  response: UpstreamResponse,
  rewriters: readonly ResponseRewriter[],
  label: string,
): void {
  if (rewriters.length === 0 || response.status < 200 || response.status > 299) return
  // No body, nothing to check (a 204, or an empty 200 some servers give a GET).
  if (response.status === 204 || response.headers['content-length'] === '0') return
  const type = contentTypeOf(response.headers)
  if (type.startsWith('text/event-stream')) return
  response.body.destroy()
  throw new PorticoError('upstream_bad_response', {
    message: `Upstream ${label} answered a GET stream with ${printable(type.slice(0, 60)) || 'no content type'}, not text/event-stream: its messages cannot be checked`,
    data: { upstream: label },
  })
}

/**
 * What a GET stream relays: the upstream's events, resource updates dropping cached reads as
 * they go by, answers (a resumed call's) rewritten as the chain would have.
 */
function relayed(
  reply: Reply,
  rewriters: readonly ResponseRewriter[],
  req: IncomingMessage,
  upstream: StreamTarget,
): Reply {
  if (!(reply instanceof StreamReply)) return reply
  const watched = forgettingUpdatedResources(reply, upstream.resourceUpdated)
  return rewriters.length > 0
    ? rewriteStreamAnswers(watched, rewriters, answeredCall(req))
    : watched
}

/**
 * The call an answer on a GET stream belongs to (a resumed call's), rebuilt from the GET's
 * request and the method its result shows: what the rewriters read of it.
 */
export function answeredCall(req: IncomingMessage) {
  const source: CallSource = {
    headers: req.headers,
    request: requestInfoOf(req),
    // Never run: the rewriters read the call, they do not send it.
    signal: new CallController().signal,
    transport: 'streamable-http',
    identity: identityOf(req),
  }
  return (response: JsonRpcResponse, method: string): Call => {
    const message = { jsonrpc: '2.0', id: response.id, method } as JsonRpcMessage
    const [call] = buildCalls({ messages: [message], kinds: ['request'], batch: false }, source)
    return call as Call
  }
}
