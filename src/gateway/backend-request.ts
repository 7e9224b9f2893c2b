/**
 * What a backend is sent when the gateway forwards a call (dispatch.ts `forward`): the client's
 * 2026-07-28 `_meta` left out, and, for a candidate other than the backend the client named (a
 * canary, failover or mirror), that candidate's own filters and argument rules.
 */
import { isObject, type JsonObject, withMembers } from '../jsonrpc/message.ts'
import { ERA_META_KEYS, META_CLIENT_CAPABILITIES } from '../protocol/classify.ts'
import type { Backend } from './backends/backend.ts'
import type { ItemKind } from './catalog.ts'
import type { Route } from './gateway.ts'

/** A request for one backend, as `forward` sends it to the candidates routing gives. */
export interface BackendRequest {
  method: string
  params: JsonObject
  namespaceContent: boolean
  /** Names the content as the client sees it (the primary's, for a failover or canary). */
  catalog: Backend['catalog']
  /** A tool call's arguments as the client sent them (another backend shapes them its way). */
  clientArguments?: unknown
}

/**
 * A stateless client's params without the 2026-07-28 `_meta` keys (its revision, capabilities,
 * client info, log level): the gateway calls its backends on sessions of its own
 * (BACKEND_PROTOCOL_VERSION), and a server of both eras took those keys for a stateless
 * request whose `MCP-Protocol-Version` header disagreed, refusing every call with -32020. What
 * they say is the gateway's to act on (capabilities bridge input, the log level filters logs).
 */
export function withoutEraMeta(params: JsonObject): JsonObject {
  const meta = params._meta
  if (!isObject(meta) || !ERA_META_KEYS.some((key) => key in meta)) return params
  const rest = Object.fromEntries(
    Object.entries(meta).filter(([key]) => !ERA_META_KEYS.includes(key)),
  )
  return withMembers(params, { _meta: rest })
}

/**
 * A stateless client's 2026-07-28 `_meta` keys, for a backend reached in that revision (which
 * needs them on every request); its capabilities alone when its request carried none (a call
 * the gateway makes on its behalf).
 */
export function statelessMetaOf(params: unknown, capabilities: JsonObject): JsonObject {
  const meta = isObject(params) ? params._meta : undefined
  const own: JsonObject = {}
  if (isObject(meta)) for (const key of ERA_META_KEYS) if (key in meta) own[key] = meta[key]
  if (!isObject(own[META_CLIENT_CAPABILITIES])) own[META_CLIENT_CAPABILITIES] = capabilities
  return own
}

/**
 * What a call names on its backend, for that backend's filters: a tool, a prompt or a
 * resource by its own (local) name; undefined for a method that names none.
 */
function targetOf(
  request: BackendRequest,
): { kind: ItemKind | 'resource'; local: string } | undefined {
  const { method, params } = request
  const of = (kind: ItemKind | 'resource', local: unknown) =>
    typeof local === 'string' ? { kind, local } : undefined
  if (method === 'tools/call') return of('tool', params.name)
  if (method === 'prompts/get') return of('prompt', params.name)
  if (method === 'completion/complete' && isObject(params.ref)) {
    return params.ref.type === 'ref/prompt'
      ? of('prompt', params.ref.name)
      : of('resource', params.ref.uri)
  }
  return method.startsWith('resources/') ? of('resource', params.uri) : undefined
}

/**
 * Whether `candidate`, a canary or failover of the backend a call names, may take it under its
 * own filters: a backend is never sent what its `hide_*`/`expose_*` or annotation filters hide
 * (the call goes on to the next candidate). A tool whose annotations it has not listed yet is
 * looked up as for a direct call.
 */
export async function takes(
  candidate: Backend,
  request: BackendRequest,
  checkAnnotations: (route: Route, name: string) => Promise<void>,
): Promise<boolean> {
  const target = targetOf(request)
  if (target === undefined) return true
  const { catalog } = candidate
  if (!catalog.serves(target.kind, target.local)) return false
  if (target.kind !== 'tool' || !catalog.filtersAnnotations) return true
  return checkAnnotations({ backend: candidate, local: target.local }, target.local).then(
    () => true,
    () => false,
  )
}

/**
 * The same for a mirror, said at once where it can be: true or false, or undefined for a tool
 * whose annotations the mirror has not listed yet (a mirror is never listed for clients), or
 * that a caller named by `[auth]` (`perCaller`) may see otherwise: the copy then waits for
 * `takes` to look it up, in the background, as a copy is not waited for.
 */
export function mirrorTakes(
  mirror: Backend,
  request: BackendRequest,
  perCaller: boolean,
): boolean | undefined {
  const target = targetOf(request)
  if (target === undefined) return true
  const { catalog } = mirror
  if (!catalog.serves(target.kind, target.local)) return false
  if (target.kind !== 'tool' || !catalog.filtersAnnotations) return true
  return perCaller ? undefined : catalog.annotationVerdict(target.local)
}

/**
 * The request as another backend takes it: a tool call's arguments shaped by that backend's own
 * `default_args`, `inject_args` and `param_overrides` when it has any (mcp-proxy injects after
 * the canary or failover rewrite, so the canary's rules apply), else by the named backend's.
 */
export function asTakenBy(backend: Backend, request: BackendRequest): BackendRequest {
  const { params, clientArguments } = request
  if (request.method !== 'tools/call' || !backend.catalog.shapesArguments) return request
  if (typeof params.name !== 'string') return request
  const args = backend.catalog.injectArgs(params.name, clientArguments)
  return { ...request, params: { ...params, arguments: args } }
}
