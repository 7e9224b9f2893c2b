/**
 * What the gateway does with each client request: answers `initialize`, `server/discover`,
 * `ping` and lists itself (merged), routes calls to the backend that owns the name or URI
 * (rewriting it to the backend's own), and relays everything the backend sends while the call
 * runs (progress, logs, sampling/elicitation/roots requests) on the call's reply stream.
 */

import { adminPrefix } from '../config/gateway.ts'
import { PorticoError, wasNotSent } from '../errors.ts'
import type { HeaderMap } from '../http/headers.ts'
import { headerValue } from '../http/headers.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcRequest,
} from '../jsonrpc/message.ts'
import { type Call, withMessage } from '../pipeline/call.ts'
import { CallLifetime } from '../pipeline/lifetime.ts'
import { MessageReply } from '../pipeline/reply.ts'
import { CallController, type CallSignal, type SignalLike } from '../pipeline/signal.ts'
import { discard, errorVerdict } from '../protect/outcome.ts'
import { MODERN_PROTOCOL_VERSION } from '../protocol/classify.ts'
import { VERSION } from '../version.ts'
import { adminTools, callAdminTool, servesOwnTools } from './admin.ts'
import {
  asTakenBy,
  type BackendRequest,
  mirrorTakes,
  statelessMetaOf,
  takes,
  withoutEraMeta,
} from './backend-request.ts'
import type { Backend, BackendCall, SessionRef } from './backends/backend.ts'
import type { CallSink, Connection } from './backends/connection.ts'
import { clientKeyOf } from './client-key.ts'
import { callComposite, compositeDefinition, findComposite } from './composite.ts'
import type { Gateway, Route } from './gateway.ts'
import { logLevelRank, MCP_LOG_LEVELS } from './log-levels.ts'
import { isListMethod } from './merge.ts'
import { accepts, retryKeyOf } from './mrtr.ts'
import { oneRelayAtATime } from './related-turn.ts'
import { type Mirror, mirrorFailed } from './routing.ts'
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
  /** Resolves once the client has read what waits for it; undefined while there is room. */
  backlog?(): Promise<void> | undefined
  signal: CallSignal
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
  /** HTTP status and headers of the answer when not 200 (a rate limit or open circuit). */
  status?: number
  headers?: HeaderMap
  /** The failure allows trying the next backend of a failover group (routing only). */
  failover?: boolean
}

/**
 * Methods 2026-07-28 removed (protocol.md §3.7), refused to a stateless request as any unknown
 * method is: served, they acted on the gateway's one session with its backends, which every
 * stateless caller shares (a `logging/setLevel` of one set what all the others were sent).
 */
const REMOVED_IN_2026: ReadonlySet<string> = new Set([
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
])

export async function dispatch(scope: RequestScope, request: JsonRpcRequest): Promise<Handled> {
  const { method } = request
  const params = paramsOf(request)
  const { gateway } = scope
  if (scope.call.era === 'modern' && REMOVED_IN_2026.has(method)) {
    throw methodNotFound(scope, method)
  }
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
      const route = await gateway.routeListed(
        'prompt',
        stringParam(params, 'name'),
        scope.ref,
        scope.call,
      )
      argumentsOf(params)
      return forward(scope, route.backend, method, { ...params, name: route.local }, true)
    }
    case 'resources/read': {
      const uri = stringParam(params, 'uri')
      const route = gateway.routeUri(uri)
      const handled = await forward(
        scope,
        route.backend,
        method,
        { ...params, uri: route.local },
        true,
      )
      return notFoundAs(scope, handled, uri)
    }
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return subscription(scope, method, params)
    case 'completion/complete':
      return complete(scope, params)
    case 'logging/setLevel':
      return setLevel(scope, params)
    case 'subscriptions/listen':
      return listen(scope, request.id, params)
    default:
      if (isListMethod(method)) {
        // Search mode lists only Portico's tools and the composites (as mcp-proxy does);
        // backend tools stay callable by name.
        if (method === 'tools/list' && gateway.proxy.tool_exposure === 'search') {
          return { result: { tools: [...adminTools(gateway), ...compositeTools(gateway)] } }
        }
        const result = await gateway.list(method, params, scope.ref, scope.call)
        if (method === 'tools/list') withOwnTools(gateway, result, params.cursor === undefined)
        return { result }
      }
      throw methodNotFound(scope, method)
  }
}

/** Resource not found as 2025-11-25 and earlier say it (2026-07-28 says -32602). */
const LEGACY_RESOURCE_NOT_FOUND = -32002

/**
 * A backend's "resource not found" as the client's revision says it, naming the URI the client
 * asked for (the backend named its own): -32602 to a 2026-07-28 client, -32002 to a session's.
 */
function notFoundAs(scope: RequestScope, handled: Handled, uri: string): Handled {
  const error = handled.error
  if (error === undefined || error.code !== LEGACY_RESOURCE_NOT_FOUND) return handled
  const modern = scope.call.era === 'modern'
  const data = isObject(error.data) ? { ...error.data, uri } : { uri }
  return {
    ...handled,
    error: { ...error, ...(modern ? { code: -32602 } : {}), data },
  }
}

function methodNotFound(scope: RequestScope, method: string): PorticoError {
  // A stateless request has no session a 404 could be taken to end (see errors.ts).
  return new PorticoError(scope.session ? 'method_not_found' : 'unknown_method', {
    message: `Method not found: ${method}`,
  })
}

/**
 * `resources/subscribe` and `unsubscribe`. A shared backend process is told once for all
 * client sessions (`track`); a subscribe the backend refuses, or that never reaches it, is
 * untracked again, so the session is not counted as subscribed (and the next session's
 * subscribe is sent rather than answered as already done). A session that subscribes while
 * another's subscribe to the same resource is on its way shares that one's outcome.
 */
async function subscription(
  scope: RequestScope,
  method: 'resources/subscribe' | 'resources/unsubscribe',
  params: JsonObject,
): Promise<Handled> {
  const uri = stringParam(params, 'uri')
  const { backend, local } = scope.gateway.routeUri(uri)
  const subscribe = method === 'resources/subscribe'
  const key = scope.ref.key
  // Updates go out under the name the session subscribed by (see ClientSession.deliver): kept
  // once the subscribe succeeded, forgotten with the unsubscribe.
  const named = () => scope.session?.subscribedAs(backend.name, local, subscribe ? uri : undefined)
  if (!subscribe) named()
  // Another session's subscribe may already cover the resource (nothing is sent then): this
  // one still has to hear the updates of a connection every session shares.
  if (subscribe) backend.join(scope.ref)
  if (!backend.track(key, local, subscribe)) {
    const refused = subscribe ? await backend.subscribing.get(local) : undefined
    if (refused !== undefined) {
      backend.track(key, local, false)
      return { error: refused, backend: backend.name }
    }
    if (subscribe) named()
    return { result: {}, backend: backend.name }
  }
  // The last one out: a subscribe still on its way is answered first, so that this
  // unsubscribe cannot overtake it and leave the backend subscribed for nobody.
  if (!subscribe) await backend.subscribing.get(local)
  const sending = forward(scope, backend, method, { ...params, uri: local })
  const outcome = subscribe
    ? sending.then((handled) => handled.error, refusalOf(backend))
    : undefined
  if (outcome !== undefined) backend.subscribing.set(local, outcome)
  let handled: Handled | undefined
  try {
    handled = await sending
    if (subscribe && handled.error === undefined) named()
    return handled
  } finally {
    if (outcome !== undefined && backend.subscribing.get(local) === outcome) {
      backend.subscribing.delete(local)
    }
    if (subscribe && (handled === undefined || handled.error !== undefined)) {
      backend.track(key, local, false)
    }
  }
}

/** What a subscribe that never reached the backend is, to the others that waited on it. */
function refusalOf(backend: Backend): () => JsonRpcErrorObject {
  return () => ({
    code: -32603,
    message: `Backend ${backend.name} could not subscribe to the resource`,
  })
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
  out._meta = { ...meta, [SERVER_INFO_META]: serverInfo(scope) }
  return out
}

/** The `_meta` key a 2026-07-28 server names itself under in every result. */
const SERVER_INFO_META = 'io.modelcontextprotocol/serverInfo'

/**
 * A result as a client of an earlier revision (a session) must see it, when a 2026-07-28
 * backend answered: without that revision's members (`resultType`, `ttlMs`, `cacheScope`) and
 * without the backend's own `serverInfo` in `_meta` (its software and version, where the
 * session's `initialize` named the gateway). The same result otherwise, untouched.
 */
export function sessionResult(result: JsonObject): JsonObject {
  const meta = isObject(result._meta) ? result._meta : undefined
  const namesBackend = meta !== undefined && SERVER_INFO_META in meta
  if (
    !namesBackend &&
    !('resultType' in result) &&
    !('ttlMs' in result) &&
    !('cacheScope' in result)
  ) {
    return result
  }
  const { resultType: _r, ttlMs: _t, cacheScope: _c, ...out } = result
  if (namesBackend && meta !== undefined) {
    const { [SERVER_INFO_META]: _backend, ...rest } = meta
    if (Object.keys(rest).length > 0) out._meta = rest
    else delete out._meta
  }
  // An answer still waiting for input is the revision's own: kept for what bridges it.
  if (result.resultType !== undefined && result.resultType !== 'complete') {
    out.resultType = result.resultType
  }
  return out
}

/**
 * A request's params, checked for the shape every MCP message has: an object whose `_meta`
 * is an object and whose progress token is a string or a number. A backend built on an MCP
 * SDK drops a stdio message that breaks it without a word: forwarded, the call would wait for
 * the backend's timeout and count as the backend's failure (its breaker, its health).
 */
function paramsOf(request: JsonRpcRequest): JsonObject {
  const params = request.params
  if (params === undefined) return {}
  if (!isObject(params)) throw invalidParams('params must be an object')
  const meta = params._meta
  if (meta === undefined) return params
  if (!isObject(meta)) throw invalidParams('"_meta" must be an object')
  const token = meta.progressToken
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'number') {
    throw invalidParams('"_meta.progressToken" must be a string or a number')
  }
  return params
}

function invalidParams(what: string): PorticoError {
  return new PorticoError('invalid_params', { message: `Invalid params: ${what}` })
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

/**
 * A call's `arguments`, which MCP defines as an object (or absent). Anything else is the
 * client's mistake, answered here: a backend would answer it as a failed call of its tool, or
 * argument injection would silently replace it.
 */
function argumentsOf(params: JsonObject): JsonObject | undefined {
  const value = params.arguments
  if (value === undefined || isObject(value)) return value
  throw invalidParams('"arguments" must be an object')
}

async function initializeResult(scope: RequestScope, params: JsonObject): Promise<JsonObject> {
  const requested = params.protocolVersion
  const protocolVersion =
    typeof requested === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(requested)
      ? requested
      : LATEST_LEGACY
  const merged = scope.gateway.capabilities()
  return {
    protocolVersion,
    capabilities: merged.capabilities,
    serverInfo: serverInfo(scope),
    ...(merged.instructions !== undefined ? { instructions: merged.instructions } : {}),
  }
}

async function discoverResult(scope: RequestScope): Promise<JsonObject> {
  const merged = scope.gateway.capabilities()
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

/**
 * Portico's own tools (admin, composites) are listed after the backends' tools, on the first
 * page. A call by their name reaches them (`callTool` looks for them first), so a backend tool
 * of the same name (an unprefixed backend's `echo` and a composite `echo`) is left out of
 * every page: a list never names two tools alike.
 */
function withOwnTools(gateway: Gateway, result: JsonObject, firstPage: boolean): void {
  const own = [...adminTools(gateway), ...compositeTools(gateway)]
  if (own.length === 0) return
  const ownNames = new Set(own.map((tool) => tool.name))
  const tools = Array.isArray(result.tools) ? (result.tools as JsonObject[]) : []
  const backends = tools.filter((tool) => !ownNames.has(tool.name))
  result.tools = firstPage ? [...backends, ...own] : backends
}

/** The composite tools' definitions (`[[composite_tools]]`), listed after the backends' tools. */
function compositeTools(gateway: Gateway): JsonObject[] {
  return gateway.config.composite_tools.map(compositeDefinition)
}

async function callTool(scope: RequestScope, params: JsonObject): Promise<Handled> {
  const name = stringParam(params, 'name')
  argumentsOf(params)
  const { gateway } = scope
  // Calls made on this call's behalf (composite members, `call_tool`'s inner call) carry its
  // cancellable signal: `notifications/cancelled` for its id aborts `scope.signal`, while the
  // HTTP request's own signal only follows the connection.
  // Their related messages (progress, a backend's request for input) go out on this call's
  // answer, where the client reads them (reenter.ts).
  const onBehalf = { ...scope.call, signal: scope.signal, relatedTo: scope.write }
  const composite = findComposite(gateway, name)
  if (composite !== undefined) {
    const result = await callComposite(gateway, composite, params, onBehalf)
    // Ended from outside (its session closed, a deadline): that is the answer, as for a direct
    // call, not a result made of the members' errors.
    const ended: unknown = scope.signal.aborted ? scope.signal.reason : undefined
    if (ended instanceof PorticoError && ended.reason !== 'cancelled') throw ended
    return { result, backend: 'portico' }
  }
  if (servesOwnTools(gateway) && name.startsWith(adminPrefix(gateway.proxy.separator))) {
    const answer = await callAdminTool(gateway, name, params, onBehalf, scope.ref)
    return {
      ...(answer.error ? { error: answer.error } : { result: answer.result ?? {} }),
      ...(answer.ownBackend ? { backend: 'portico' } : {}),
      ...(answer.refusal ?? {}),
    }
  }
  const route = await gateway.routeListed('tool', name, scope.ref, scope.call)
  if (route.backend.catalog.filtersAnnotations) {
    await gateway.checkAnnotations(route, name, scope.ref, scope.call)
  }
  if (mirrorsParams(scope)) {
    await gateway.checkParamHeaders(route, params.arguments, scope.ref, scope.call)
  }
  const args = route.backend.catalog.injectArgs(route.local, params.arguments)
  // No `task`: the gateway declares no tasks and relays no `tasks/*`, so a task-augmented call
  // runs as a plain one (as MCP asks of a receiver without tasks), its result in the answer.
  // Passed on, the backend ran it as a task whose result the client could never fetch.
  const { task: _notRelayed, ...plain } = params
  return forward(
    scope,
    route.backend,
    'tools/call',
    { ...plain, name: route.local, arguments: args },
    true,
    params.arguments,
  )
}

/**
 * Whether the client mirrors marked arguments as `Mcp-Param-*` headers: a 2026-07-28 request
 * over Streamable HTTP (a call made on another's behalf, `call_tool`'s or a composite's, has
 * its arguments from Portico, not from headers).
 */
function mirrorsParams(scope: RequestScope): boolean {
  const { call } = scope
  // A call made on a client's behalf (`call_tool`'s inner call, a composite's members) carries
  // the outer request's headers: they mirror the outer tool's marks, not this one's.
  return (
    call.onBehalf !== true &&
    scope.session === undefined &&
    call.era === 'modern' &&
    call.transport === 'streamable-http' &&
    call.method === 'tools/call'
  )
}

async function complete(scope: RequestScope, params: JsonObject): Promise<Handled> {
  const ref = params.ref
  if (!isObject(ref)) throw new PorticoError('invalid_params', { message: 'Invalid params: ref' })
  if (ref.type === 'ref/prompt') {
    const route = await scope.gateway.routeListed(
      'prompt',
      stringParam(ref, 'name'),
      scope.ref,
      scope.call,
    )
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
  // The notifications come on the answer's stream: a client that takes JSON only would get
  // the acknowledgement dropped and wait for ever.
  if (!(headerValue(scope.call.headers, 'accept') ?? '').includes('text/event-stream')) {
    throw new PorticoError('invalid_request', {
      message:
        'Invalid Request: subscriptions/listen answers with a stream: Accept must include text/event-stream',
    })
  }
  // A stream that asked for nothing (or in a shape that names nothing) would hold a listen
  // slot and never carry a message.
  const filter = params.notifications
  if (!isObject(filter)) throw invalidParams('"notifications" must be an object (the filter)')
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

/**
 * The session's log level: the gateway shows it no line below it from now on, whichever backend
 * sends it, and tells the backends (a shared process is set to the most talkative level its
 * sessions asked for: stdio.ts `setLogLevel`). Those up are waited for; one still starting is
 * told once it is up, without holding the answer. One neither up nor starting notes it: a stdio
 * process started later (a session's own, or a shared one) is told it; other backends keep
 * their default, and the session's filter still applies to what they send.
 */
async function setLevel(scope: RequestScope, params: JsonObject): Promise<Handled> {
  // Checked here: the backends' answers are not waited on one by one, so a level none of them
  // accepts would otherwise be acknowledged.
  const rank = logLevelRank(params.level)
  if (rank < 0) throw invalidParams(`"level" must be one of ${MCP_LOG_LEVELS.join(', ')}`)
  scope.session?.setLogFloor(rank)
  const told: Array<Promise<void>> = []
  for (const backend of scope.gateway.backends()) {
    if (backend.state !== 'up' && backend.state !== 'starting') {
      backend.noteLogLevel(scope.ref, params)
      continue
    }
    const telling = backend.setLogLevel(scope.ref, params).catch(() => {})
    if (backend.state === 'up') told.push(telling)
  }
  await Promise.all(told)
  return { result: {} }
}

/**
 * Sends one request to a backend and relays what it sends meanwhile. A stateless client's
 * call goes through the input bridge (server requests become `input_required`), and its retry
 * carrying a gateway `requestState` resumes the parked call instead of starting a new one.
 * Routing (routing.ts) may send a copy to mirrors, pick a canary, and move the call on to
 * failover backends when the one tried failed upstream and the call may be moved on.
 */
async function forward(
  scope: RequestScope,
  backend: Backend,
  method: string,
  params: JsonObject,
  namespaceContent = false,
  clientArguments?: unknown,
): Promise<Handled> {
  const inputs = scope.gateway.inputs
  if (!scope.session && inputs.issued(params.requestState)) {
    // Run anew, the tool did its work twice and the client's answers were thrown away.
    if (!inputs.has(params.requestState)) throw noLongerParked()
    const binding = bindingOf(scope, backend, method, params)
    return inputs.resume(
      params.requestState,
      binding,
      params.inputResponses,
      scope.write,
      scope.signal,
      isObject(params._meta) ? params._meta.progressToken : undefined,
    )
  }
  const request: BackendRequest = {
    method,
    params: withoutEraMeta(params),
    namespaceContent,
    catalog: backend.catalog,
    clientArguments,
  }
  const routing = scope.gateway.routing
  const mirrors = routing.mirrorsOf(backend)
  if (mirrors !== undefined && MIRRORED.has(method)) mirror(scope, mirrors, request)
  let handled: Handled | undefined
  for (const candidate of routing.candidates(backend)) {
    if (candidate === backend) handled = await viaBackend(scope, candidate, request, backend)
    else if (await takes(candidate, request, annotationsOf(scope))) {
      handled = await viaBackend(scope, candidate, asTakenBy(candidate, request), backend)
    } else continue
    if (handled.failover !== true) break
  }
  // Every other candidate's filters refused it, and the named backend was not ready: its
  // refusal (an open breaker, an ejection) is the answer.
  handled ??= await viaBackend(scope, backend, request, backend)
  // `failover` is left as it is (read by nothing past here): deleting it costs a slow object.
  return handled
}

/** The annotation lookup `takes` needs, on this call's behalf. */
function annotationsOf(scope: RequestScope) {
  return (route: Route, name: string) =>
    scope.gateway.checkAnnotations(route, name, scope.ref, scope.call)
}

/** A stateless retry whose `requestState`, one the gateway issued, names no call parked now. */
function noLongerParked(): PorticoError {
  return new PorticoError('invalid_params', {
    message:
      'Unknown requestState: the call it resumes is no longer waiting (it expired, or was given up); call again without requestState',
  })
}

/**
 * What a stateless call parked for input is bound to: the caller (the principal `[auth]`
 * verified, else the client's address, as the per-client bound counts it), the backend, the
 * method and its target. A retry carrying its `requestState` must match it, so a leaked token
 * cannot let another caller answer (or take the result of) someone else's call.
 */
function bindingOf(
  scope: RequestScope,
  backend: Backend,
  method: string,
  params: JsonObject,
): string {
  const target = typeof params.name === 'string' ? params.name : params.uri
  return [clientKeyOf(scope.call), backend.name, method, String(target ?? '')].join('\0')
}

/** Methods whose calls mirrors get a copy of (never lists, subscriptions or completions). */
const MIRRORED = new Set(['tools/call', 'resources/read', 'prompts/get'])

/**
 * Sends the request to `backend`, one of the candidates routing gave for `named`, the backend
 * the client's name points to. A stateless call parked there is bound to `named`: the retry
 * names the same tool, whichever candidate (a canary, a failover) took the call.
 */
function viaBackend(
  scope: RequestScope,
  backend: Backend,
  request: BackendRequest,
  named: Backend,
) {
  const session = scope.session
  if (!session) {
    const capabilities = scope.clientCapabilities ?? {}
    return scope.gateway.inputs.run(
      backend.name,
      {
        binding: bindingOf(scope, named, request.method, request.params),
        retryKey: retryKeyOf(scope.call),
        caller: clientKeyOf(scope.call),
        meta: statelessMetaOf((scope.call.message as { params?: unknown }).params, capabilities),
      },
      capabilities,
      scope.write,
      scope.signal,
      (sinkFor, signal) => callBackend(scope, backend, relayed(request, sinkFor, signal), named),
    )
  }
  const sinkFor = (connection: Connection) => {
    if (backend.dedicated) session.connections.add(connection)
    return relaySink(scope, backend.name, connection)
  }
  return callBackend(scope, backend, relayed(request, sinkFor, scope.signal), named)
}

type RelayedRequest = BackendRequest & {
  sinkFor: (connection: Connection) => CallSink
  signal: CallSignal
}

/**
 * The request with where its related messages go and its signal: a new object, not
 * `{ ...request, sinkFor, signal }`. A spread copy given properties its original lacks made
 * every copy, and all it points to, survive V8's young collections (perf2 log step 36).
 */
function relayed(
  request: BackendRequest,
  sinkFor: (connection: Connection) => CallSink,
  signal: CallSignal,
): RelayedRequest {
  const { method, params, namespaceContent, catalog } = request
  return { method, params, namespaceContent, catalog, sinkFor, signal }
}

async function callBackend(
  scope: RequestScope,
  backend: Backend,
  request: RelayedRequest,
  /** The backend the client's name points to (its own, a canary's or a failover's primary). */
  primary: Backend,
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
    // Hedges and retries are attempts of this one call: the client sees one call's messages.
    sinkFor: oneRelayAtATime(request.sinkFor, scope.call.notes),
  }
  try {
    const reply = await backend.handle(call)
    const response = reply instanceof MessageReply ? await reply.json() : undefined
    if (response === undefined) throw new PorticoError('upstream_bad_response')
    if (response.error !== undefined && response.error !== null) {
      // Relayed as it is only when a client can read it as an error: a client SDK that
      // cannot parse the answer drops it and waits for its own timeout.
      if (!isErrorObject(response.error)) {
        throw new PorticoError('upstream_bad_response', {
          message: `Backend ${backend.name} answered with a malformed error`,
          data: { backend: backend.name },
        })
      }
      return { error: response.error, backend: backend.name }
    }
    if (!isObject(response.result)) {
      // Never a made-up success: a backend answer without a result object is an error.
      throw new PorticoError('upstream_bad_response', {
        message: `Backend ${backend.name} answered without a result`,
        data: { backend: backend.name },
      })
    }
    const result = response.result
    return {
      result: request.namespaceContent ? request.catalog.content(result) : result,
      backend: backend.name,
    }
  } catch (error) {
    const failure = named(error, backend)
    const handled = failed(failure, backend, request.signal)
    handled.failover = mayMoveOn(failure, call, backend, primary)
    return handled
  }
}

/** A JSON-RPC error object: a (safe) integer code and a message (`data` is free). */
function isErrorObject(value: unknown): value is JsonRpcErrorObject {
  return isObject(value) && Number.isSafeInteger(value.code) && typeof value.message === 'string'
}

/**
 * Whether a failed call may go to the next backend of its failover group: the backend failed
 * or refused (not the client), and the call cannot have run (it never left, or Portico refused
 * it) or may be repeated (a read, a get, a read-only or idempotent tool).
 */
function mayMoveOn(
  failure: PorticoError,
  call: BackendCall,
  backend: Backend,
  primary: Backend,
): boolean {
  if (call.signal.aborted) return false
  if (failure.reason === 'circuit_open' || failure.reason === 'rate_limited') return true
  if (errorVerdict(failure, call.signal) !== 'failure') return false
  if (wasNotSent(failure)) return true
  // The named backend's annotations: a failover or canary is never listed to clients, so it
  // learns none, and every tool looked unrepeatable once it had failed.
  return backend.protection.hints.repeatable(call) || primary.protection.hints.repeatable(call)
}

/**
 * Fire-and-forget copies for the mirrors that sample this call: on the gateway's own session,
 * a signal no client controls, their own record-less notes; answers and failures are dropped.
 */
function mirror(scope: RequestScope, mirrors: readonly Mirror[], request: BackendRequest): void {
  for (const target of mirrors) {
    // A caller named by [auth] may be listed otherwise than others: its own view decides.
    const verdict = mirrorTakes(target.backend, request, scope.call.identity !== undefined)
    if (verdict === false || !target.take()) continue
    if (verdict === true) {
      copyTo(scope, target, request)
      continue
    }
    // A tool it has not listed: looked up (as for a failover or canary), then copied if its
    // filters let it; before, such a mirror never got a copy of any tool.
    void takes(target.backend, request, annotationsOf(scope)).then((taken) => {
      if (taken) copyTo(scope, target, request)
      else target.done()
    })
  }
}

/** Sends a copy of the call to a mirror (its place in flight taken); its answer is dropped. */
function copyTo(scope: RequestScope, target: Mirror, request: BackendRequest): void {
  const { method, params } = asTakenBy(target.backend, request)
  const call: BackendCall = {
    ...withMessage(scope.call, { jsonrpc: '2.0', id: scope.call.id ?? 0, method, params }),
    signal: NEVER,
    notes: {},
    lifetime: new CallLifetime(),
    ref: scope.gateway.session,
    sinkFor: undefined,
  }
  target.backend
    .handle(call)
    .then(discard, (error: unknown) =>
      mirrorFailed(scope.gateway.logger, target.backend.name, error),
    )
    .finally(() => {
      call.lifetime.end()
      target.done()
    })
}

/** The signal of mirror copies: nothing cancels them but their backend's own deadline. */
const NEVER = new CallController().signal

/** A failed backend call as an answer that still names the backend (for the exchange event). */
const KEEPS_STATUS: ReadonlySet<string> = new Set([
  'rate_limited',
  'circuit_open',
  'too_many_sessions',
])

function failed(error: PorticoError, backend: Backend, signal: SignalLike): Handled {
  const handled: Handled = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.data ? { data: error.data } : {}),
    },
    backend: backend.name,
    reason: signal.aborted ? 'cancelled' : error.reason,
  }
  // Refusals of the protection policies, and a stdio backend at max_processes, keep their HTTP
  // meaning (429, 503, Retry-After).
  if (KEEPS_STATUS.has(error.reason)) {
    handled.status = error.status
    if (error.headers) handled.headers = error.headers
  }
  return handled
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
  // A literal with `owner` in place (undefined for a stateless call), not one that begins with a
  // spread: such a literal given properties its source lacks survives young collections with
  // all it names (perf2 log, steps 36 and 40).
  return {
    owner: scope.session,
    accepts: (method) => accepts(capabilities, method),
    backlog: () => scope.backlog?.(),
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
