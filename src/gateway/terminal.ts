/**
 * The gateway's terminal step: where a call that passed the chain is served. Requests resolve
 * their client session (a new one for `initialize`, the `Mcp-Session-Id` one, or none for a
 * stateless 2026-07-28 request) and are dispatched; the answer is one JSON message until the
 * backend sends something related first (progress, a log, a sampling request), and then an SSE
 * stream, so plain calls stay cheap and streaming calls stream. Client notifications and
 * answers to server requests are acted on and accepted (202).
 */
import type { ProxyContext } from '../context.ts'
import { PorticoError, toPorticoError } from '../errors.ts'
import { type HeaderMap, headerValue } from '../http/headers.ts'
import {
  exactIdMember,
  isObject,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Handler } from '../pipeline/compose.ts'
import {
  accepted,
  errorObject,
  MessageReply,
  type Reply,
  StreamEvent,
  StreamReply,
} from '../pipeline/reply.ts'
import { CallController } from '../pipeline/signal.ts'
import {
  META_CLIENT_CAPABILITIES,
  META_LOG_LEVEL,
  META_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSION,
  missingStandardHeader,
} from '../protocol/classify.ts'
import { AsyncQueue } from '../util/async-queue.ts'
import { nestedDeeperThan } from '../util/json-depth.ts'
import { clientKeyOf } from './client-key.ts'
import {
  dispatch,
  type Handled,
  modernResult,
  type RequestScope,
  sessionResult,
} from './dispatch.ts'
import type { Gateway } from './gateway.ts'
import { logLevelRank, passesLogFloor } from './log-levels.ts'
import { ClientSession } from './sessions.ts'
import { unsupportedVersion, versionHeaderRefusal } from './version-header.ts'

/**
 * Events (and their bytes) a slow client may leave unread on one call's stream before the
 * oldest are dropped: a backend streaming progress faster than the client reads must not grow
 * Portico's memory. The call's answer itself is always kept.
 */
const MAX_QUEUED_EVENTS = 1000
const MAX_QUEUED_BYTES = 1024 * 1024
/**
 * Past this many unsent bytes a backend that can be slowed (an HTTP stream for this one call)
 * is not read until the client catches up, so nothing it sends is dropped.
 */
const BACKLOG_BYTES = 256 * 1024

export function gatewayTerminal(context: ProxyContext, gateway: Gateway): Handler {
  return async function serve(call) {
    if (call.kind !== 'request') return acceptMessage(gateway, call)
    const session = resolveSession(gateway, call)
    return answerRequest(context, gateway, session, call)
  }
}

/** Deepest nesting of a client's `initialize` params (its capabilities nest a few levels). */
const MAX_INITIALIZE_DEPTH = 256
/** Characters of a session's kept `initialize` (capabilities, clientInfo): 64 Ki, a real client's are 1 K. */
const MAX_INITIALIZE_KEPT_CHARS = 64 * 1024

/**
 * The session of a legacy request; a new one for `initialize` (created only now, after the
 * chain let the call through); none for stateless requests.
 */
/**
 * What a session keeps of its `initialize` (capabilities and client info, sent again to every
 * backend it starts) is held for its life: its size is bounded, as the session count is. A real
 * client's are a few hundred bytes; a client's 3 MB each grew the process by gigabytes.
 */
function refuseOversizedInitialize(params: unknown): void {
  if (!isObject(params)) return
  const kept = JSON.stringify([params.capabilities ?? null, params.clientInfo ?? null]).length
  if (kept <= MAX_INITIALIZE_KEPT_CHARS) return
  throw new PorticoError('invalid_params', {
    message: `Invalid params: capabilities and clientInfo of ${kept} characters (at most ${MAX_INITIALIZE_KEPT_CHARS}, kept for the session's life)`,
  })
}

function resolveSession(gateway: Gateway, call: Call): ClientSession | undefined {
  if (call.method === 'initialize') {
    // 2026-07-28 removed `initialize`: a request in that revision's envelope is answered as
    // any unknown method is (404, -32601), not given a session it has no use for.
    if (call.era === 'modern') {
      throw new PorticoError('unknown_method', { message: 'Method not found: initialize' })
    }
    if (call.batched) {
      throw new PorticoError('invalid_request', { message: 'initialize must not be batched' })
    }
    const params = (call.message as JsonRpcRequest).params
    // A session's initialize params go to every backend it starts (isolation = "session"):
    // params too deep to write would fail each start, and count against the backend.
    if (nestedDeeperThan(params, MAX_INITIALIZE_DEPTH)) {
      throw new PorticoError('invalid_params', {
        message: `Invalid params: nested deeper than ${MAX_INITIALIZE_DEPTH} levels`,
      })
    }
    refuseOversizedInitialize(params)
    const session = new ClientSession(
      isObject(params) ? params : {},
      (name) => gateway.backend(name),
      gateway.observe,
      clientKeyOf(call),
    )
    if (!gateway.sessions.add(session)) {
      throw new PorticoError('too_many_sessions', { headers: { 'retry-after': '30' } })
    }
    call.notes.sessionId = session.key
    return session
  }
  return existingSession(gateway, call)
}

function existingSession(gateway: Gateway, call: Call): ClientSession | undefined {
  if (call.sessionId !== undefined) {
    const session = gateway.sessions.get(call.sessionId)
    if (!session) throw new PorticoError('session_not_found')
    const refusal = versionHeaderRefusal(call.headers)
    if (refusal) throw refusal
    return session
  }
  if (call.kind === 'request' && call.era === 'legacy' && call.method !== 'ping') {
    throw new PorticoError('session_required')
  }
  if (call.kind === 'request' && call.era === 'modern') checkStatelessRequest(call)
  return undefined
}

/**
 * A stateless (2026-07-28) request names the version it speaks and the client's capabilities
 * in its `_meta`, every time: a version the gateway does not serve is -32022, and a request
 * without either is -32602, both HTTP 400 (the client learns at once, not from odd answers).
 */
function checkStatelessRequest(call: Call): void {
  const meta = (call.message as JsonRpcRequest).params?._meta
  const version = isObject(meta) ? meta[META_PROTOCOL_VERSION] : undefined
  const requested = typeof version === 'string' ? version : call.protocolVersion
  if (requested !== undefined && requested !== MODERN_PROTOCOL_VERSION) {
    throw unsupportedVersion(requested, [MODERN_PROTOCOL_VERSION])
  }
  // The revision requires its standard headers, which routers in front of Portico read; the
  // SDK's servers refuse a request without them, and so does the gateway, which serves as one.
  const missing =
    call.transport === 'streamable-http'
      ? missingStandardHeader(call.message, call.headers)
      : undefined
  if (missing !== undefined) {
    throw new PorticoError('header_mismatch', { message: `Header mismatch: ${missing}` })
  }
  if (typeof version !== 'string' || !isObject(meta) || !isObject(meta[META_CLIENT_CAPABILITIES])) {
    throw new PorticoError('invalid_meta')
  }
}

/** A client notification or answer to a server request: acted on, then 202. */
function acceptMessage(gateway: Gateway, call: Call): Reply {
  const session = existingSession(gateway, call)
  const backend =
    call.kind === 'response'
      ? answerServerRequest(session, call.message as JsonRpcResponse)
      : onNotification(session, call.message as JsonRpcNotification)
  if (backend !== undefined) call.notes.backend = backend
  return accepted()
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
    const reason = message.params.reason
    const requestId = exactIdMember(message.params, 'requestId')
    session?.cancel(requestId, typeof reason === 'string' ? reason : undefined)
  } else if (message.method === 'notifications/roots/list_changed' && session) {
    for (const connection of session.connections) connection.notify(message.method)
  } else if (message.method === 'notifications/progress' && session) {
    return session.relayProgress(message)
  }
  return undefined
}

async function answerRequest(
  context: ProxyContext,
  gateway: Gateway,
  session: ClientSession | undefined,
  call: Call,
): Promise<Reply> {
  const request = call.message as JsonRpcRequest
  const headers: HeaderMap = session ? { 'mcp-session-id': session.key } : {}
  const canStream = (headerValue(call.headers, 'accept') ?? '').includes('text/event-stream')
  const reply = new LazyReply(canStream, headers)
  const controller = CallController.linkedTo(call.signal)
  const untrack = session?.trackCall(request.id, controller)
  const meta = isObject(request.params) ? request.params._meta : undefined
  // A session's log lines are those at or above its level (`logging/setLevel`); a stateless
  // request's, those its `_meta` asked for, none without a level.
  const logs = session
    ? session.showsLog
    : logFilterOf(isObject(meta) ? meta[META_LOG_LEVEL] : undefined)
  const relatedTo = call.relatedTo
  const scope: RequestScope = {
    call,
    gateway,
    session,
    ref: session ?? gateway.session,
    // A call made on a client's behalf writes to the outer call's answer (reenter.ts).
    write: (message) =>
      logs?.(message) === false
        ? true
        : relatedTo !== undefined
          ? relatedTo(message)
          : reply.write(message),
    backlog: () => reply.backlog(),
    signal: controller.signal,
    proxyName: context.proxy,
  }
  const capabilities = isObject(meta) ? meta[META_CLIENT_CAPABILITIES] : undefined
  if (!session && isObject(capabilities)) scope.clientCapabilities = capabilities
  void run(context, scope, call, request)
    .then((response) => reply.finish(response, cancelledBy(call, controller)))
    .finally(() => {
      controller.unlink()
      untrack?.()
    })
  return reply.promise
}

/**
 * Whether the call ended because it was cancelled (the client's `notifications/cancelled`, or
 * the client gone); noted, so that an answer already streaming ends with no answer for it
 * (edge/send.ts `endUnanswered`: the receiver of a cancel sends none).
 */
function cancelledBy(call: Call, controller: CallController): boolean {
  const { aborted, reason } = controller.signal
  // Given up for another reason (a deadline's `upstream_timeout`): that error is the answer.
  if (!aborted || (reason instanceof PorticoError && reason.reason !== 'cancelled')) return false
  call.notes.cancelled = true
  return true
}

/** `_meta` key of the least severe log level a stateless (2026-07-28) request wants relayed. */

/**
 * Whether a message written on a stateless request's reply may go out: a `notifications/message`
 * only when the request's `_meta` named a log level and the line is at least that severe (the
 * 2026-07-28 rule: no log lines at all without `logLevel`); every other message always.
 */
function logFilterOf(requested: unknown): (message: JsonObject) => boolean {
  const floor = logLevelRank(requested)
  return (message) =>
    floor < 0 ? message.method !== 'notifications/message' : passesLogFloor(message, floor)
}

/** 2026-07-28's errors about a request's envelope, answered with HTTP 400 (protocol.md §3.2). */
const ENVELOPE_ERRORS: ReadonlySet<number> = new Set([-32020, -32021, -32022])

function isEnvelopeRefusal(error: JsonRpcErrorObject | undefined): boolean {
  return error !== undefined && ENVELOPE_ERRORS.has(error.code)
}

/**
 * Whether the backend that answered is reached in 2026-07-28: its refusal is then of the
 * client's own request. One reached in 2025 refuses the gateway's session, not the client.
 */
function reachedInModern(scope: RequestScope, backend: string | undefined): boolean {
  if (backend === undefined) return false
  const found = scope.gateway.backends().find((candidate) => candidate.name === backend)
  return found?.info()?.protocolVersion === MODERN_PROTOCOL_VERSION
}

/** A response, or a response with the HTTP status it must be sent with (a policy's refusal). */
type Answer = JsonRpcResponse | { response: JsonRpcResponse; status: number; headers: HeaderMap }

/** Refusals of a call answered with their own HTTP status, not in-band (see `run`). */
const STATUS_TOLD: ReadonlySet<string> = new Set(['unknown_method', 'header_mismatch'])

/** Dispatches a request and builds its response; a failure is answered in-band with its reason. */
async function run(
  context: ProxyContext,
  scope: RequestScope,
  call: Call,
  request: JsonRpcRequest,
): Promise<Answer> {
  let handled: Handled
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
    handled = {
      error: errorObject(error),
      reason: scope.signal.aborted ? 'cancelled' : error.reason,
      // Errors about one call are in-band (HTTP 200; errors.ts); a stateless request's unknown
      // method and its headers that disagree with its body are what the 2026-07-28 revision
      // wants told by the status too (404, 400).
      ...(STATUS_TOLD.has(error.reason) ? { status: error.status } : {}),
    }
  }
  if (call.era === 'modern' && handled.result) {
    handled.result = modernResult(scope, request.method, handled.result)
  } else if (handled.result) handled.result = sessionResult(handled.result)
  // A 2026-07-28 backend's own refusal of the request's envelope (its headers, a capability
  // the client did not declare, its revision) is told by the status too, as the backend did.
  if (
    call.era === 'modern' &&
    handled.status === undefined &&
    isEnvelopeRefusal(handled.error) &&
    reachedInModern(scope, handled.backend)
  ) {
    handled.status = 400
  }
  if (request.method === 'initialize' && handled.error && scope.session) {
    scope.gateway.sessions.delete(scope.session.key)
  }
  if (handled.backend !== undefined) call.notes.backend = handled.backend
  if (handled.reason !== undefined) call.notes.reason = handled.reason
  const response: JsonRpcResponse = handled.error
    ? { jsonrpc: '2.0', id: request.id, error: handled.error }
    : { jsonrpc: '2.0', id: request.id, result: handled.result ?? {} }
  return handled.status === undefined
    ? response
    : { response, status: handled.status, headers: handled.headers ?? {} }
}

/**
 * One call's answer, decided lazily: a JSON message when the response comes first, an SSE
 * stream the moment a related message must go out before it (when the client accepts SSE).
 */
class LazyReply {
  readonly promise: Promise<Reply>
  readonly #canStream: boolean
  readonly #headers: HeaderMap
  #resolve!: (reply: Reply) => void
  #events: AsyncQueue<StreamEvent> | undefined
  #done = false

  constructor(canStream: boolean, headers: HeaderMap) {
    this.#canStream = canStream
    this.#headers = headers
    this.promise = new Promise((resolve) => {
      this.#resolve = resolve
    })
  }

  /** Writes a related message; false when this reply cannot stream (a JSON-only client). */
  write(message: JsonObject): boolean {
    if (this.#done || !this.#canStream) return false
    if (this.#events === undefined) {
      const events = new AsyncQueue<StreamEvent>(MAX_QUEUED_EVENTS, MAX_QUEUED_BYTES)
      this.#events = events
      this.#resolve(new StreamReply(events, { headers: this.#headers, buffered: () => true }))
    }
    const event = StreamEvent.of(message)
    // Encoded now rather than when written (once either way): its size bounds the queue.
    this.#events.push(event, event.raw.length)
    return true
  }

  /** Resolves once the client has taken what waits for it; undefined while there is room. */
  backlog(): Promise<void> | undefined {
    return this.#events?.room(BACKLOG_BYTES)
  }

  /**
   * Ends the reply with `answer`; a `cancelled` call's stream ends without it (a reply not
   * streaming yet still answers: its HTTP request is owed an answer, `-32603` with its id).
   */
  finish(answer: Answer, cancelled: boolean): void {
    this.#done = true
    const response = 'response' in answer ? answer.response : answer
    if (this.#events === undefined) {
      // A refusal by a protection policy keeps its status (429, 503) while nothing was sent yet.
      const init =
        'response' in answer
          ? { status: answer.status, headers: { ...this.#headers, ...answer.headers } }
          : { headers: this.#headers }
      this.#resolve(MessageReply.of(response, init))
      return
    }
    if (!cancelled) {
      const event = StreamEvent.of(response)
      this.#events.push(event, event.raw.length)
    }
    this.#events.end()
  }
}
