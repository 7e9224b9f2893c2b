/**
 * What the gateway does with each client request: answers `initialize`, `server/discover`,
 * `ping` and lists itself (merged), routes calls to the backend that owns the name or URI
 * (rewriting it to the backend's own), and relays everything the backend sends while the call
 * runs (progress, logs, sampling/elicitation/roots requests) on the call's reply stream.
 */
import { PorticoError } from '../errors.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcRequest,
} from '../jsonrpc/message.ts'
import { type Call, withMessage } from '../pipeline/call.ts'
import { MessageReply } from '../pipeline/reply.ts'
import { MODERN_PROTOCOL_VERSION } from '../protocol/classify.ts'
import { VERSION } from '../version.ts'
import { adminPrefix, adminTools, callAdminTool, servesOwnTools } from './admin.ts'
import type { Backend, BackendCall, SessionRef } from './backends/backend.ts'
import type { CallSink, Connection } from './backends/connection.ts'
import type { Gateway } from './gateway.ts'
import { isListMethod } from './merge.ts'
import { accepts } from './mrtr.ts'
import type { ClientSession } from './sessions.ts'

/** Revisions the gateway serves; `initialize` echoes the client's when it is one of them. */
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId'

export const SUPPORTED_VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'] as const
const LATEST_LEGACY = '2025-11-25'

export interface RequestScope {
  /** The client's call this request came in (backend calls are derived from it). */
  call: Call
  gateway: Gateway
  /** The legacy client session; undefined for stateless (2026-07-28) requests. */
  session: ClientSession | undefined
  /** Who backends see: the client session, or the gateway's own session. */
  ref: SessionRef
  /** Writes a message related to this request on its reply (switching it to SSE). */
  write(message: JsonObject): boolean
  signal: AbortSignal
  proxyName: string
  /** A stateless client's per-request capabilities (`_meta`), for the input bridge. */
  clientCapabilities?: JsonObject
}

export interface Handled {
  result?: JsonObject
  error?: JsonRpcErrorObject
  /** The backend that served the request, for the exchange event. */
  backend?: string
  /** Portico's reason when the call failed on Portico's side (timeout, backend down, …). */
  reason?: string
}

export async function dispatch(scope: RequestScope, request: JsonRpcRequest): Promise<Handled> {
  const { method } = request
  const params = isObject(request.params) ? request.params : {}
  const { gateway } = scope
  switch (method) {
    case 'initialize':
      return { result: await initializeResult(scope, params) }
    case 'server/discover':
      return { result: await discoverResult(scope) }
    case 'ping':
      return { result: {} }
    case 'tools/call':
      return callTool(scope, params)
    case 'prompts/get': {
      const route = gateway.routeName('prompt', stringParam(params, 'name'))
      return forward(scope, route.backend, method, { ...params, name: route.local }, true)
    }
    case 'resources/read': {
      const route = gateway.routeUri(stringParam(params, 'uri'))
      return forward(scope, route.backend, method, { ...params, uri: route.local }, true)
    }
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const route = gateway.routeUri(stringParam(params, 'uri'))
      const tell = route.backend.track(scope.ref.key, route.local, method === 'resources/subscribe')
      if (!tell) return { result: {}, backend: route.backend.name }
      return forward(scope, route.backend, method, { ...params, uri: route.local })
    }
    case 'completion/complete':
      return complete(scope, params)
    case 'logging/setLevel':
      return setLevel(scope, params)
    case 'subscriptions/listen':
      return listen(scope, request.id, params)
    default:
      if (isListMethod(method)) {
        // Search mode lists only Portico's tools; backend tools stay callable by name.
        if (method === 'tools/list' && gateway.proxy.tool_exposure === 'search') {
          return { result: { tools: adminTools(gateway) } }
        }
        const result = await gateway.list(method, params, scope.ref, scope.call)
        if (method === 'tools/list' && servesOwnTools(gateway) && params.cursor === undefined) {
          result.tools = [...(result.tools as JsonObject[]), ...adminTools(gateway)]
        }
        return { result }
      }
      throw new PorticoError('method_not_found', { message: `Method not found: ${method}` })
  }
}

/** Methods whose 2026-07-28 results MUST carry caching hints. */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
])

/**
 * A result as a 2026-07-28 client must see it: `resultType` always (backends speak the 2025
 * revisions, where absent means complete), caching hints on lists and reads (never shared:
 * what a gateway merges is private to the caller), and the gateway's `serverInfo`.
 */
export function modernResult(scope: RequestScope, method: string, result: JsonObject): JsonObject {
  const out: JsonObject = { ...result }
  if (out.resultType === undefined) out.resultType = 'complete'
  if (CACHEABLE.has(method) && out.resultType === 'complete') {
    out.ttlMs = 0
    out.cacheScope = 'private'
  }
  const meta = isObject(out._meta) ? out._meta : {}
  out._meta = { ...meta, 'io.modelcontextprotocol/serverInfo': serverInfo(scope) }
  return out
}

function stringParam(params: JsonObject, key: string): string {
  const value = params[key]
  if (typeof value !== 'string') {
    throw new PorticoError('invalid_params', {
      message: `Invalid params: "${key}" must be a string`,
    })
  }
  return value
}

async function initializeResult(scope: RequestScope, params: JsonObject): Promise<JsonObject> {
  const requested = params.protocolVersion
  const protocolVersion =
    typeof requested === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(requested)
      ? requested
      : LATEST_LEGACY
  const merged = await scope.gateway.capabilities()
  return {
    protocolVersion,
    capabilities: merged.capabilities,
    serverInfo: serverInfo(scope),
    ...(merged.instructions !== undefined ? { instructions: merged.instructions } : {}),
  }
}

async function discoverResult(scope: RequestScope): Promise<JsonObject> {
  const merged = await scope.gateway.capabilities()
  return {
    supportedVersions: [...SUPPORTED_VERSIONS, MODERN_PROTOCOL_VERSION],
    capabilities: merged.capabilities,
    serverInfo: serverInfo(scope),
    ...(merged.instructions !== undefined ? { instructions: merged.instructions } : {}),
    _meta: { 'io.modelcontextprotocol/serverInfo': serverInfo(scope) },
    resultType: 'complete',
    ttlMs: 0,
    cacheScope: 'private',
  }
}

function serverInfo(scope: RequestScope): JsonObject {
  const proxy = scope.gateway.proxy
  return { name: proxy.name ?? scope.proxyName, version: proxy.version ?? VERSION }
}

async function callTool(scope: RequestScope, params: JsonObject): Promise<Handled> {
  const name = stringParam(params, 'name')
  const { gateway } = scope
  if (servesOwnTools(gateway) && name.startsWith(adminPrefix(gateway.proxy.separator))) {
    const answer = await callAdminTool(gateway, name, params, scope.call)
    return {
      ...(answer.error ? { error: answer.error } : { result: answer.result ?? {} }),
      ...(answer.ownBackend ? { backend: 'portico' } : {}),
    }
  }
  const route = gateway.routeName('tool', name)
  const args = route.backend.catalog.injectArgs(route.local, params.arguments)
  return forward(
    scope,
    route.backend,
    'tools/call',
    { ...params, name: route.local, arguments: args },
    true,
  )
}

async function complete(scope: RequestScope, params: JsonObject): Promise<Handled> {
  const ref = params.ref
  if (!isObject(ref)) throw new PorticoError('invalid_params', { message: 'Invalid params: ref' })
  if (ref.type === 'ref/prompt') {
    const route = scope.gateway.routeName('prompt', stringParam(ref, 'name'))
    return forward(scope, route.backend, 'completion/complete', {
      ...params,
      ref: { ...ref, name: route.local },
    })
  }
  const route = scope.gateway.routeUri(stringParam(ref, 'uri'))
  return forward(scope, route.backend, 'completion/complete', {
    ...params,
    ref: { ...ref, uri: route.local },
  })
}

/**
 * `subscriptions/listen` (2026-07-28): acknowledges the subset of the filter the gateway
 * honours (list changes; resource URIs it could subscribe to), then streams those
 * notifications, each tagged with the listen request's id, until the client closes the stream.
 */
async function listen(scope: RequestScope, id: JsonRpcId, params: JsonObject): Promise<Handled> {
  const filter = isObject(params.notifications) ? params.notifications : {}
  const meta = { [SUBSCRIPTION_ID]: id }
  const tagged = (message: JsonObject): JsonObject => {
    const inner = isObject(message.params) ? message.params : {}
    return { ...message, params: { ...inner, _meta: meta } }
  }
  // The listener is registered at the end of `gateway.listen` and nothing can be delivered
  // before this continuation runs (no I/O in between), so the acknowledgement is first.
  const honoured = await scope.gateway.listen(
    filter,
    (message) => scope.write(tagged(message)),
    scope.signal,
  )
  scope.write({
    jsonrpc: '2.0',
    method: 'notifications/subscriptions/acknowledged',
    params: { notifications: honoured, _meta: meta },
  })
  await new Promise<void>((resolve) => {
    if (scope.signal.aborted) resolve()
    scope.signal.addEventListener('abort', () => resolve(), { once: true })
  })
  return { result: { _meta: meta } }
}

/** Sets the level on every backend this session talks to (others learn it when they start). */
async function setLevel(scope: RequestScope, params: JsonObject): Promise<Handled> {
  const backends = scope.gateway.backends().filter((b) => b.state === 'up')
  await Promise.allSettled(
    backends.map((backend) =>
      backend
        .connection(scope.ref)
        .then((c) => c.request('logging/setLevel', params, { timeoutMs: backend.timeoutMs })),
    ),
  )
  return { result: {} }
}

/**
 * Sends one request to a backend and relays what it sends meanwhile. A stateless client's
 * call goes through the input bridge (server requests become `input_required`), and its retry
 * carrying a gateway `requestState` resumes the parked call instead of starting a new one.
 */
async function forward(
  scope: RequestScope,
  backend: Backend,
  method: string,
  params: JsonObject,
  namespaceContent = false,
): Promise<Handled> {
  const inputs = scope.gateway.inputs
  if (!scope.session && inputs.has(params.requestState)) {
    return inputs.resume(params.requestState, params.inputResponses, scope.write, scope.signal)
  }
  let connection: Connection
  try {
    connection = await backend.connection(scope.ref)
  } catch (error) {
    return failed(named(error, backend), backend, scope.signal)
  }
  const call = (sink: CallSink, signal: AbortSignal) =>
    callBackend(scope, backend, connection, { method, params, namespaceContent, sink, signal })
  if (!scope.session) {
    const capabilities = scope.clientCapabilities ?? {}
    return inputs.run(connection, backend.name, capabilities, scope.write, scope.signal, call)
  }
  return call(relaySink(scope, backend.name, connection), scope.signal)
}

async function callBackend(
  scope: RequestScope,
  backend: Backend,
  connection: Connection,
  request: {
    method: string
    params: JsonObject
    namespaceContent: boolean
    sink: CallSink
    signal: AbortSignal
  },
): Promise<Handled> {
  const message = {
    jsonrpc: '2.0' as const,
    id: scope.call.id ?? 0,
    method: request.method,
    params: request.params,
  }
  const call: BackendCall = {
    ...withMessage(scope.call, message),
    signal: request.signal,
    ref: scope.ref,
    connection,
    sink: request.sink,
  }
  try {
    const reply = await backend.handle(call)
    const response = reply instanceof MessageReply ? await reply.json() : undefined
    if (response === undefined) throw new PorticoError('upstream_bad_response')
    if (scope.session && backend.dedicated) scope.session.connections.add(connection)
    if (response.error) return { error: response.error, backend: backend.name }
    const result = isObject(response.result) ? response.result : {}
    return {
      result: request.namespaceContent ? backend.catalog.content(result) : result,
      backend: backend.name,
    }
  } catch (error) {
    return failed(named(error, backend), backend, request.signal)
  }
}

/** A failed backend call as an answer that still names the backend (for the exchange event). */
function failed(error: PorticoError, backend: Backend, signal: AbortSignal): Handled {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.data ? { data: error.data } : {}),
    },
    backend: backend.name,
    reason: signal.aborted ? 'cancelled' : error.reason,
  }
}

function named(error: unknown, backend: Backend): PorticoError {
  if (error instanceof PorticoError) return error
  return new PorticoError('backend_failed', {
    message: `Backend ${backend.name} failed: ${error instanceof Error ? error.message : String(error)}`,
    data: { backend: backend.name },
    cause: error,
  })
}

/**
 * Relays a call's related server messages to the client: requests get a gateway id (the
 * client's answer is routed back by the session), cancels are translated, progress and
 * logs pass through (the progress token was already restored by the connection).
 */
function relaySink(scope: RequestScope, backend: string, connection: Connection): CallSink {
  const capabilities = scope.session?.initParams.capabilities
  return {
    accepts: (method) => accepts(capabilities, method),
    related(message) {
      const session = scope.session
      if ('id' in message) {
        if (!session) {
          connection.answer(message.id, {
            error: { code: -32601, message: 'The client is stateless and cannot answer requests' },
          })
          return
        }
        const out = session.forwardRequest(backend, message, connection) as unknown as JsonObject
        if (!scope.write(out)) session.send(out)
        return
      }
      if (message.method === 'notifications/cancelled') {
        const translated = session?.translateCancel(connection, message)
        if (translated) scope.write(translated as unknown as JsonObject)
        return
      }
      scope.write(message as unknown as JsonObject)
    },
  }
}
