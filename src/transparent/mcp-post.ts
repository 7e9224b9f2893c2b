/**
 * POST to the MCP endpoint (Streamable HTTP, both eras): decode once, classify, apply
 * policies, forward the original bytes, relay the answer (JSON or SSE) and record one event
 * per JSON-RPC message.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody } from '../edge/body.ts'
import { headerValue, upstreamHeaders } from '../edge/headers.ts'
import { sendError } from '../edge/respond.ts'
import { PorticoError, toPorticoError } from '../errors.ts'
import { type Decoded, decodeBody } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/types.ts'
import { applyPolicies, buildCalls } from './calls.ts'
import { type ProxyContext, publicOrigin } from './context.ts'
import { Recorder } from './recorder.ts'
import { clientHeaders, pipeCounting, relayJson, relaySse } from './relay.ts'
import { mapChallenge } from './url-map.ts'

export async function handleMcpPost(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
): Promise<void> {
  const abort = abortOnClose(req, res)
  let body: Buffer
  let decoded: Decoded
  try {
    body = await readBody(req, context.config.max_request_body_size)
    decoded = decodeBody(body)
  } catch (error) {
    sendError(res, error)
    recordRefusal(context, req, error)
    return
  }
  const calls = buildCalls(decoded, req, abort.signal)
  const recorder = new Recorder(context.bus, baseOf(context, req, body.length), calls)
  const ids = calls.map((c) => c.id)
  try {
    await applyPolicies(context.policies, calls)
    await forward(context, req, res, target, body, calls, recorder, abort.signal)
    recorder.finish(res.statusCode)
  } catch (error) {
    finishWithError(res, recorder, error, ids, decoded.batch, abort.signal)
  }
}

async function forward(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  body: Buffer,
  calls: Call[],
  recorder: Recorder,
  signal: AbortSignal,
): Promise<void> {
  const headers = upstreamHeaders(req)
  const response = await context.http.send({
    url: target,
    method: 'POST',
    headers,
    body,
    signal,
    label: context.upstreamLabel,
  })
  recorder.upstreamStatus = response.status
  const sessionId = headerValue(response.headers, 'mcp-session-id')
  if (sessionId !== undefined && recorder.sessionId === undefined) recorder.sessionId = sessionId
  const out = clientHeaders(response.headers)
  // The public origin is only needed to rewrite a challenge: skip computing it otherwise.
  if (out['www-authenticate'] !== undefined)
    mapChallenge(out, context.upstream.origin, publicOrigin(context, req))
  const type = headerValue(response.headers, 'content-type') ?? ''
  const options = {
    recorder,
    calls,
    rewriters: context.rewriters,
    bus: context.bus,
    proxy: context.proxy,
    maxBufferedBytes: context.config.max_response_body_size,
    signal,
  }
  if (type.startsWith('text/event-stream'))
    return relaySse(res, response.status, out, response.body, options)
  if (type.includes('json')) return relayJson(res, response.status, out, response.body, options)
  res.writeHead(response.status, out)
  if (response.status >= 400)
    recorder.fail('http_error', { errorMessage: `upstream answered HTTP ${response.status}` })
  return pipeCounting(res, response.body, recorder, signal)
}

function finishWithError(
  res: ServerResponse,
  recorder: Recorder,
  thrown: unknown,
  ids: ReadonlyArray<Call['id']>,
  batch: boolean,
  signal: AbortSignal,
): void {
  if (signal.aborted) {
    recorder.fail('cancelled', { reason: 'client_closed' })
    recorder.finish(499)
    return
  }
  const error = toPorticoError(thrown)
  if (res.headersSent) {
    // The upstream died mid-stream: end the client's stream cleanly, record what happened.
    recorder.fail('http_error', { reason: 'upstream_stream_ended', errorMessage: error.message })
    res.end()
    recorder.finish(res.statusCode)
    return
  }
  recorder.fail('error', {
    errorCode: error.code,
    errorMessage: error.message,
    reason: error.reason,
  })
  recorder.wrote(sendError(res, error, ids, batch))
  recorder.finish(error.status)
}

/** An AbortController fired when the client disconnects before the answer is complete. */
export function abortOnClose(req: IncomingMessage, res: ServerResponse): AbortController {
  const controller = new AbortController()
  res.on('close', () => {
    if (!res.writableFinished) controller.abort()
  })
  req.on('error', () => controller.abort())
  return controller
}

export function baseOf(context: ProxyContext, req: IncomingMessage, bytesIn: number) {
  const userAgent = headerValue(req.headers, 'user-agent')
  return {
    proxy: context.proxy,
    transport: 'streamable-http' as const,
    bytesIn,
    ...(userAgent ? { userAgent } : {}),
  }
}

/** Body-level refusals (bad JSON, too large) are recorded too, so the CLI can show them. */
function recordRefusal(context: ProxyContext, req: IncomingMessage, thrown: unknown): void {
  if (!context.bus.hasSinks) return
  const error = thrown instanceof PorticoError ? thrown : toPorticoError(thrown)
  context.bus.publish({
    type: 'exchange',
    ts: Date.now(),
    proxy: context.proxy,
    transport: 'streamable-http',
    era: 'legacy',
    kind: 'http',
    method: 'POST',
    path: req.url ?? '/',
    outcome: 'error',
    errorCode: error.code,
    errorMessage: error.message,
    reason: error.reason,
    httpStatus: error.status,
    durationUs: 0,
    bytesIn: Number(req.headers['content-length']) || 0,
    bytesOut: 0,
  })
}
