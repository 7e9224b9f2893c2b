/**
 * The legacy HTTP+SSE transport (2024-11-05). GET on the SSE path opens the upstream stream;
 * its `endpoint` event is rewritten to point at Portico, and POSTs to that endpoint are
 * forwarded and correlated with the responses that come back on the stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody } from '../edge/body.ts'
import { upstreamHeaders } from '../edge/headers.ts'
import { sendError } from '../edge/respond.ts'
import { toPorticoError } from '../errors.ts'
import { decodeBody } from '../jsonrpc/message.ts'
import { applyPolicies, buildCalls } from './calls.ts'
import type { ProxyContext } from './context.ts'
import { abortOnClose, baseOf } from './mcp-post.ts'
import { handleMcpStream } from './mcp-stream.ts'
import { Recorder } from './recorder.ts'
import { clientHeaders, pipeCounting } from './relay.ts'

/** The upstream SSE URL: the configured upstream when it ends in the SSE path, else origin + path. */
export function legacySseTarget(context: ProxyContext): URL {
  const { upstream } = context
  if (upstream.pathname.endsWith(context.config.sse_path)) return upstream
  return new URL(context.config.sse_path, upstream.origin)
}

export function handleLegacyStream(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = legacySseTarget(context)
  let sessionId: string | undefined
  return handleMcpStream(context, req, res, target, {
    transport: 'sse',
    relay: {
      parseAll: true,
      rewriteEndpoint(data) {
        const endpoint = new URL(data, target)
        sessionId =
          endpoint.searchParams.get('sessionId') ??
          endpoint.searchParams.get('session_id') ??
          undefined
        if (endpoint.origin !== target.origin) return data
        if (sessionId !== undefined) context.legacy.open(sessionId, endpoint.pathname)
        else context.legacy.messagePaths.add(endpoint.pathname)
        // Same path on Portico: relative to whatever origin the client reached us at.
        return endpoint.pathname + endpoint.search
      },
      onMessage(summary, bytes) {
        if (sessionId !== undefined) context.legacy.deliver(sessionId, summary, bytes)
      },
      rewriters: context.rewriters,
      callOf: (summary) =>
        sessionId === undefined ? undefined : context.legacy.callOf(sessionId, summary.id),
    },
    onEnd() {
      if (sessionId !== undefined) context.legacy.close(sessionId)
    },
  })
}

/** POST to a legacy messages endpoint: forward, answer as the upstream does (202), correlate. */
export async function handleLegacyPost(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const abort = abortOnClose(req, res)
  const url = new URL(req.url ?? '/', context.upstream.origin)
  const sessionId =
    url.searchParams.get('sessionId') ?? url.searchParams.get('session_id') ?? undefined
  let body: Buffer
  let calls: ReturnType<typeof buildCalls>
  try {
    body = await readBody(req, context.config.max_request_body_size)
    calls = buildCalls(decodeBody(body), req, abort.signal, sessionId)
    await applyPolicies(context.policies, calls)
    for (const call of calls) if (call.kind === 'request') context.legacy.expect(sessionId, call)
  } catch (error) {
    sendError(res, error)
    return
  }
  const recorder = new Recorder(
    context.bus,
    { ...baseOf(context, req, body.length), transport: 'sse' },
    calls,
  )
  try {
    const headers = upstreamHeaders(req)
    const response = await context.http.send({
      url,
      method: 'POST',
      headers,
      body,
      signal: abort.signal,
      label: context.upstreamLabel,
    })
    recorder.upstreamStatus = response.status
    res.writeHead(response.status, clientHeaders(response.headers))
    await pipeCounting(res, response.body, recorder, abort.signal)
    if (response.status >= 300) {
      recorder.fail('http_error', { errorMessage: `upstream answered HTTP ${response.status}` })
      recorder.finish(response.status)
      return
    }
    const waiting = calls.filter(
      (call) => call.id !== undefined && context.legacy.await(sessionId, call.id, recorder),
    )
    if (waiting.length === 0) recorder.finish(response.status)
  } catch (error) {
    const failure = toPorticoError(error)
    recorder.fail('error', {
      errorCode: failure.code,
      errorMessage: failure.message,
      reason: failure.reason,
    })
    if (!res.headersSent)
      recorder.wrote(
        sendError(
          res,
          failure,
          calls.map((c) => c.id),
        ),
      )
    else res.destroy()
    recorder.finish(failure.status)
  }
}
