/**
 * The gateway's MCP endpoint (Streamable HTTP, both eras): POST decodes once, resolves the
 * client session (legacy) or serves statelessly (2026-07-28), answers client responses and
 * notifications with 202, and dispatches requests. A reply starts as JSON and switches to SSE
 * the moment the backend sends something related (progress, a sampling request), so plain
 * calls stay cheap and streaming calls stream. GET opens the session's stream; DELETE ends it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { readBody } from '../edge/body.ts'
import { headerValue } from '../edge/headers.ts'
import { sendError } from '../edge/respond.ts'
import { PorticoError, toPorticoError } from '../errors.ts'
import {
  type Decoded,
  decodeBody,
  isObject,
  type JsonObject,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/types.ts'
import { META_CLIENT_CAPABILITIES } from '../protocol/classify.ts'
import { applyPolicies, buildCalls } from '../transparent/calls.ts'
import type { ProxyContext } from '../transparent/context.ts'
import { abortOnClose } from '../transparent/mcp-post.ts'
import { dispatch, type Handled, modernResult, type RequestScope } from './dispatch.ts'
import type { Gateway } from './gateway.ts'
import { type CallRecord, recordCall } from './record.ts'
import { ClientSession } from './sessions.ts'

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}

export function handleGateway(
  context: ProxyContext,
  gateway: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> | undefined {
  switch (req.method) {
    case 'POST':
      return handlePost(context, gateway, req, res)
    case 'GET':
      return handleStream(gateway, req, res)
    case 'DELETE': {
      const id = headerValue(req.headers, 'mcp-session-id')
      if (id !== undefined && gateway.sessions.delete(id)) res.writeHead(200).end()
      else sendError(res, new PorticoError('session_not_found'))
      return undefined
    }
    default:
      res.writeHead(405, { allow: 'GET, POST, DELETE' }).end()
      return undefined
  }
}

function handleStream(gateway: Gateway, req: IncomingMessage, res: ServerResponse): undefined {
  const id = headerValue(req.headers, 'mcp-session-id')
  if (id === undefined) {
    // Stateless (2026-07-28) clients have no standalone stream.
    res.writeHead(405, { allow: 'POST' }).end()
    return undefined
  }
  const session = gateway.sessions.get(id)
  if (!session) {
    sendError(res, new PorticoError('session_not_found'))
    return undefined
  }
  res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session.key })
  res.flushHeaders()
  session.attachStream(res)
  return undefined
}

async function handlePost(
  context: ProxyContext,
  gateway: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const startedAt = performance.now()
  const ts = Date.now()
  const abort = abortOnClose(req, res)
  let decoded: Decoded
  let bytesIn: number
  try {
    const body = await readBody(req, context.config.max_request_body_size)
    bytesIn = body.length
    decoded = decodeBody(body)
  } catch (error) {
    sendError(res, error)
    return
  }
  const calls = buildCalls(decoded, req, abort.signal)
  const ids = calls.map((c) => c.id)
  let session: ClientSession | undefined
  try {
    session = resolveSession(gateway, decoded, calls, headerValue(req.headers, 'mcp-session-id'))
    await applyPolicies(context.policies, calls)
  } catch (error) {
    sendError(res, error, ids, decoded.batch)
    return
  }
  const userAgent = headerValue(req.headers, 'user-agent')
  const exchange: Exchange = {
    context,
    gateway,
    session,
    res,
    signal: abort.signal,
    base: {
      proxy: context.proxy,
      ts,
      startedAt,
      bytesIn: Math.round(bytesIn / calls.length),
      ...(session ? { sessionId: session.key } : {}),
      ...(userAgent ? { userAgent } : {}),
    },
  }
  const requests = calls.filter((c) => c.kind === 'request')
  if (requests.length === 0) res.writeHead(202).end()
  for (const call of calls) if (call.kind !== 'request') acceptMessage(exchange, call)
  if (requests.length === 0) return
  const canStream = (headerValue(req.headers, 'accept') ?? '').includes('text/event-stream')
  await answerRequests(exchange, requests, canStream, decoded.batch)
}

/** What every part of one POST shares. */
interface Exchange {
  context: ProxyContext
  gateway: Gateway
  session: ClientSession | undefined
  res: ServerResponse
  signal: AbortSignal
  /** The exchange-event fields common to every message of the body. */
  base: Omit<CallRecord, 'call' | 'httpStatus' | 'bytesOut'>
}

/** A client notification or answer to a server request: acted on and recorded (202). */
function acceptMessage(exchange: Exchange, call: Call): void {
  const { session } = exchange
  const backend =
    call.kind === 'response'
      ? answerServerRequest(session, call.message as JsonRpcResponse)
      : onNotification(session, call.message as JsonRpcNotification)
  recordCall(exchange.context.bus, {
    ...exchange.base,
    call,
    httpStatus: 202,
    bytesOut: 0,
    ...(backend ? { backend } : {}),
  })
}

async function answerRequests(
  exchange: Exchange,
  requests: readonly Call[],
  canStream: boolean,
  batch: boolean,
): Promise<void> {
  const { context, gateway, session, res } = exchange
  const reply = new Reply(res, {
    canStream,
    headers: session ? { 'mcp-session-id': session.key } : {},
    expected: requests.length,
    batch,
  })
  await Promise.all(
    requests.map(async (call) => {
      const { handled, response, reason } = await handleRequest(
        context,
        gateway,
        session,
        call,
        reply,
        exchange.signal,
      )
      recordCall(context.bus, {
        ...exchange.base,
        call,
        httpStatus: res.statusCode,
        bytesOut: reply.bytesOut,
        ...(handled.backend ? { backend: handled.backend } : {}),
        ...(handled.result ? { result: handled.result } : {}),
        ...(response.error ? { error: response.error } : {}),
        ...(reason ? { reason } : {}),
        ...(reply.firstByteAt
          ? { firstByteUs: Math.round((reply.firstByteAt - exchange.base.startedAt) * 1000) }
          : {}),
      })
    }),
  )
}

/** The session of a legacy request; a new one for `initialize`; none for stateless requests. */
function resolveSession(
  gateway: Gateway,
  decoded: Decoded,
  calls: readonly Call[],
  header: string | undefined,
): ClientSession | undefined {
  const init = decoded.messages.find((m) => 'method' in m && m.method === 'initialize')
  if (init) {
    if (decoded.messages.length > 1) {
      throw new PorticoError('invalid_request', { message: 'initialize must not be batched' })
    }
    const params = isObject((init as JsonRpcRequest).params) ? (init as JsonRpcRequest).params : {}
    const session = new ClientSession(
      params ?? {},
      (name) => gateway.backend(name)?.catalog,
      gateway.observe,
    )
    if (!gateway.sessions.add(session)) {
      throw new PorticoError('upstream_unavailable', { message: 'Too many sessions' })
    }
    return session
  }
  if (header !== undefined) {
    const session = gateway.sessions.get(header)
    if (!session) throw new PorticoError('session_not_found')
    return session
  }
  if (calls.some((c) => c.kind === 'request' && c.era === 'legacy' && c.method !== 'ping')) {
    throw new PorticoError('session_required')
  }
  return undefined
}

/** Routes a client's answer to a server request; returns the backend that asked. */
function answerServerRequest(
  session: ClientSession | undefined,
  message: JsonRpcResponse,
): string | undefined {
  if (!session) return undefined
  const outcome = message.error
    ? { error: message.error }
    : { result: isObject(message.result) ? message.result : {} }
  return session.answer(message.id, outcome)
}

function onNotification(
  session: ClientSession | undefined,
  message: JsonRpcNotification,
): string | undefined {
  if (message.method === 'notifications/cancelled' && isObject(message.params)) {
    session?.cancel(message.params.requestId)
  } else if (message.method === 'notifications/roots/list_changed' && session) {
    for (const connection of session.connections) connection.notify(message.method)
  }
  return undefined
}

async function handleRequest(
  context: ProxyContext,
  gateway: Gateway,
  session: ClientSession | undefined,
  call: Call,
  reply: Reply,
  clientGone: AbortSignal,
): Promise<{ handled: Handled; response: JsonRpcResponse; reason?: string }> {
  const request = call.message as JsonRpcRequest
  const controller = new AbortController()
  const onGone = () => controller.abort()
  clientGone.addEventListener('abort', onGone, { once: true })
  const untrack = session?.trackCall(request.id, controller)
  const scope: RequestScope = {
    gateway,
    session,
    ref: session ?? gateway.session,
    write: (message) => reply.write(message),
    signal: controller.signal,
    proxyName: context.proxy,
  }
  const meta = isObject(request.params) ? request.params._meta : undefined
  const capabilities = isObject(meta) ? meta[META_CLIENT_CAPABILITIES] : undefined
  if (!session && isObject(capabilities)) scope.clientCapabilities = capabilities
  let handled: Handled
  let reason: string | undefined
  try {
    handled = await dispatch(scope, request)
  } catch (thrown) {
    const error = toPorticoError(thrown)
    if (error.reason === 'internal_error') {
      context.logger.error('gateway request failed', {
        method: request.method,
        error: String(thrown),
      })
    }
    reason = controller.signal.aborted ? 'cancelled' : error.reason
    handled = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.data ? { data: error.data } : {}),
      },
    }
  } finally {
    clientGone.removeEventListener('abort', onGone)
    untrack?.()
  }
  if (call.era === 'modern' && handled.result) {
    handled.result = modernResult(scope, request.method, handled.result)
  }
  if (request.method === 'initialize' && handled.error && session) {
    gateway.sessions.delete(session.key)
  }
  let response: JsonRpcResponse = handled.error
    ? { jsonrpc: '2.0', id: request.id, error: handled.error }
    : { jsonrpc: '2.0', id: request.id, result: handled.result ?? {} }
  for (const rewriter of context.rewriters) {
    if (rewriter.appliesTo(call)) response = rewriter.rewrite(call, response) ?? response
  }
  reply.respond(response as unknown as JsonObject)
  reason ??= handled.reason
  return { handled, response, ...(reason ? { reason } : {}) }
}

/**
 * One POST's answer: JSON while nothing but the responses is sent; switched to an SSE stream
 * the first time a related message (progress, log, server request) must go out first.
 */
class Reply {
  readonly #res: ServerResponse
  readonly #canStream: boolean
  readonly #headers: Record<string, string>
  readonly #expected: number
  readonly #batch: boolean
  readonly #collected: JsonObject[] = []
  #streaming = false
  #answered = 0
  bytesOut = 0
  firstByteAt: number | undefined

  constructor(
    res: ServerResponse,
    options: {
      canStream: boolean
      headers: Record<string, string>
      expected: number
      batch: boolean
    },
  ) {
    this.#res = res
    this.#canStream = options.canStream
    this.#headers = options.headers
    this.#expected = options.expected
    this.#batch = options.batch
  }

  /** Writes a related message; false when this reply cannot stream (JSON-only client). */
  write(message: JsonObject): boolean {
    if (this.#res.writableEnded || this.#res.destroyed) return false
    if (!this.#streaming) {
      if (!this.#canStream || this.#answered === this.#expected) return false
      this.#streaming = true
      this.#res.writeHead(200, { ...SSE_HEADERS, ...this.#headers })
    }
    this.#send(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
    return true
  }

  respond(message: JsonObject): void {
    this.#answered++
    if (this.#streaming) {
      this.write(message)
      if (this.#answered === this.#expected) this.#res.end()
      return
    }
    this.#collected.push(message)
    if (this.#answered < this.#expected || this.#res.destroyed) return
    const body = JSON.stringify(this.#batch ? this.#collected : this.#collected[0])
    const length = Buffer.byteLength(body)
    this.#res.writeHead(200, {
      ...this.#headers,
      'content-type': 'application/json',
      'content-length': length,
    })
    this.firstByteAt ??= performance.now()
    this.bytesOut += length
    this.#res.end(body) // headers and body in one write
  }

  #send(text: string): void {
    this.firstByteAt ??= performance.now()
    this.bytesOut += Buffer.byteLength(text)
    this.#res.write(text)
  }
}
