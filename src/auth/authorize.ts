/**
 * The authorization middleware of the global chain: a call naming a tool, prompt or resource
 * (`tools/call`, `prompts/get`, `resources/read|subscribe|unsubscribe`, `completion/complete`,
 * and the resources a 2026-07-28 `subscriptions/listen` asks updates of)
 * is refused with `forbidden` (its id kept, the identity recorded) when the caller's roles do
 * not allow it, and list answers (`tools/list`, `prompts/list`, `resources/list`,
 * `resources/templates/list`) are filtered to what the caller may use, whatever the answer's
 * shape (JSON or SSE, via `mapAnswer`). A list answer too large to read is refused rather than
 * passed unfiltered. Without an identity nothing passes: the filters always set one when auth
 * is on, so a call without one is a bug, and fails closed.
 */
import { PorticoError } from '../errors.ts'
import { isObject, type JsonObject, type JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Identity } from '../pipeline/identity.ts'
import { MessageReply, mapAnswer, type Reply } from '../pipeline/reply.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { lookupTable } from '../util/lookup-table.ts'
import type { Policy, TargetKind } from './policy.ts'

export interface ListShape {
  key: string
  field: string
  kind: TargetKind
}

const LISTS: Readonly<Record<string, ListShape>> = lookupTable({
  'tools/list': { key: 'tools', field: 'name', kind: 'tool' },
  'prompts/list': { key: 'prompts', field: 'name', kind: 'prompt' },
  'resources/list': { key: 'resources', field: 'uri', kind: 'resource' },
  'resources/templates/list': { key: 'resourceTemplates', field: 'uriTemplate', kind: 'resource' },
})

/** Methods that must name what they act on (a call without the name is refused). */
const NAMED: Readonly<Record<string, TargetKind>> = lookupTable({
  'tools/call': 'tool',
  'prompts/get': 'prompt',
  'resources/read': 'resource',
  'resources/subscribe': 'resource',
  'resources/unsubscribe': 'resource',
})

/** The URL-path profile a call came through (`{mcp_path}/{name}`), if any. */
export function profileOf(path: string, mcpPath: string): string | undefined {
  const base = profileBase(mcpPath)
  return path.length > base.length && path.startsWith(base) ? path.slice(base.length) : undefined
}

/** A profile's path: `{mcp_path}/{name}` (`/ro` with `mcp_path = "/"`, not `//ro`). */
export function profilePath(mcpPath: string, name: string): string {
  return `${profileBase(mcpPath)}${name}`
}

function profileBase(mcpPath: string): string {
  return mcpPath.endsWith('/') ? mcpPath : `${mcpPath}/`
}

/** The step-up challenge of a refusal a wider token would pass (Authenticator.stepUpChallenge). */
export type StepUp = (
  identity: Identity,
  allowsWith: (roles: readonly string[]) => boolean,
  description: string,
) => string | undefined

export function authorize(policy: Policy, mcpPath: string, stepUp?: StepUp): Middleware {
  return async function authorization(call, next) {
    const identity = call.identity
    if (identity === undefined) throw new PorticoError('unauthorized')
    if (call.kind !== 'request') {
      // A notification naming a method this policy judges (no id: nothing to answer) would
      // skip the checks below; a server that runs it anyway would run what the caller may not.
      const method = call.method
      const judged =
        method !== undefined &&
        (NAMED[method] !== undefined ||
          LISTS[method] !== undefined ||
          method === 'completion/complete' ||
          method === LISTEN)
      if (judged) {
        throw new PorticoError('invalid_request', {
          message: `Invalid Request: ${method} is a request and needs an id`,
        })
      }
      return next(call)
    }
    const profile = profileOf(call.request.path, mcpPath)
    const method = call.method ?? ''
    const target = targetOf(call, method)
    if (method === LISTEN) refuseDeniedSubscriptions(call, policy, identity, profile)
    if (target !== undefined && !policy.allows(identity, target.kind, target.name, profile)) {
      const where = profile === undefined ? '' : ` through profile ${profile}`
      const description = `${identity.subject} may not use ${target.kind} ${target.name}${where}`
      const challenge = stepUp?.(
        identity,
        (roles) => policy.allows({ ...identity, roles }, target.kind, target.name, profile),
        description,
      )
      throw new PorticoError('forbidden', {
        message: `Forbidden: ${description}`,
        data: { [target.kind]: target.name },
        ...(challenge === undefined ? {} : { headers: { 'www-authenticate': challenge } }),
      })
    }
    if (policy.unrestricted(identity, profile)) return next(call)
    if (target?.kind === 'tool' && policy.isOpenTool(target.name)) {
      // Tool discovery answers with tools: only those this caller may use.
      const visible = (kind: TargetKind, name: string) =>
        policy.allows(identity, kind, name, profile)
      return next({ ...call, visible })
    }
    const list = LISTS[method]
    if (list === undefined) return next(call)
    return filterList(call, await next(call), list, (name) =>
      policy.allows(identity, list.kind, name, profile),
    )
  }
}

/**
 * The roles' list filtering for answers that reach a client outside a call's chain: a GET
 * stream replaying an earlier answer (SSE resumption with `Last-Event-ID`), the legacy SSE
 * stream. Without it a caller held to some tools saw them all by resuming the stream its list
 * came on. An answer with no identity to judge by keeps no item (fail closed).
 */
export function rolesListFilter(policy: Policy, mcpPath: string): ResponseRewriter {
  return {
    name: 'roles-list-filter',
    appliesTo(call) {
      if (LISTS[call.method ?? ''] === undefined) return false
      const identity = call.identity
      return (
        identity === undefined ||
        !policy.unrestricted(identity, profileOf(call.request.path, mcpPath))
      )
    },
    rewrite(call, response) {
      const list = LISTS[call.method ?? '']
      if (list === undefined) return undefined
      const identity = call.identity
      const profile = profileOf(call.request.path, mcpPath)
      return filtered(response, list, (name) =>
        identity === undefined ? false : policy.allows(identity, list.kind, name, profile),
      )
    },
  }
}

/** 2026-07-28's subscribe: `params.notifications.resourceSubscriptions` name resources. */
const LISTEN = 'subscriptions/listen'

/**
 * A listen that asks for updates of a resource the caller may not read is refused whole, as
 * `resources/subscribe` of it is: passed on, the caller learnt of every change to it (and in
 * the gateway, the backend was subscribed on the caller's behalf).
 */
function refuseDeniedSubscriptions(
  call: Call,
  policy: Policy,
  identity: Identity,
  profile: string | undefined,
): void {
  const params = 'params' in call.message ? call.message.params : undefined
  const notifications = isObject(params) ? params.notifications : undefined
  const uris = isObject(notifications) ? notifications.resourceSubscriptions : undefined
  if (!Array.isArray(uris)) return
  for (const uri of uris) {
    if (typeof uri !== 'string' || policy.allows(identity, 'resource', uri, profile)) continue
    const where = profile === undefined ? '' : ` through profile ${profile}`
    throw new PorticoError('forbidden', {
      message: `Forbidden: ${identity.subject} may not subscribe to resource ${uri.slice(0, 512)}${where}`,
      data: { resource: uri.slice(0, 512) },
    })
  }
}

function targetOf(call: Call, method: string): { kind: TargetKind; name: string } | undefined {
  const named = NAMED[method]
  if (named !== undefined) {
    const name = call.target?.name
    if (name === undefined) {
      throw new PorticoError('invalid_params', {
        message: `Invalid params: ${method} needs a name`,
      })
    }
    return { kind: named, name }
  }
  if (method === 'completion/complete') return completionTarget(call)
  return undefined
}

/** `completion/complete` names a prompt (`ref/prompt`) or a resource template (`ref/resource`). */
function completionTarget(call: Call): { kind: TargetKind; name: string } | undefined {
  const params = 'params' in call.message ? call.message.params : undefined
  const ref = isObject(params) ? params.ref : undefined
  if (!isObject(ref)) return undefined
  if (ref.type === 'ref/prompt' && typeof ref.name === 'string') {
    return { kind: 'prompt', name: ref.name }
  }
  if (ref.type === 'ref/resource' && typeof ref.uri === 'string') {
    return { kind: 'resource', name: ref.uri }
  }
  throw new PorticoError('invalid_params', { message: 'Invalid params: unknown completion ref' })
}

/** A list answer with only the items `keep` admits; unreadable answers are refused. */
export async function filterList(
  call: Call,
  reply: Reply,
  list: ListShape,
  keep: (name: string) => boolean,
): Promise<Reply> {
  if (reply instanceof MessageReply && reply.status < 300) {
    const response = await reply.json()
    if (response === undefined) {
      throw new PorticoError('response_too_large', {
        message: 'List answer too large to filter for this identity',
      })
    }
  }
  return mapAnswer(call, reply, (response) => filtered(response, list, keep))
}

function filtered(
  response: JsonRpcResponse,
  list: ListShape,
  keep: (name: string) => boolean,
): JsonRpcResponse | undefined {
  const result = response.result
  if (!isObject(result) || !Array.isArray(result[list.key])) return undefined
  const items = result[list.key] as unknown[]
  const kept = items.filter(
    (item) =>
      isObject(item) && typeof item[list.field] === 'string' && keep(item[list.field] as string),
  )
  if (kept.length === items.length) return undefined
  return { ...response, result: { ...result, [list.key]: kept } as JsonObject }
}

export type { Identity }
