/**
 * CSP rewriting as a ResponseRewriter: finds widget metadata in the results of the six
 * methods that carry it and rewrites it with the compiled policy. Transport-agnostic (plain
 * JSON-RPC responses in, replacements out), so the transparent relay and the gateway share it.
 * A response with nothing to change yields undefined and is forwarded byte for byte.
 */
import { createHash } from 'node:crypto'
import { isObject, type JsonObject, withMembers } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { ListedDeclarations } from './listed.ts'
import { declaredLists, hasCsp, isWidgetResource, rewriteWidgetMeta, widgetUriOf } from './meta.ts'
import type { CspPolicy, DirectiveLists } from './policy.ts'

/** The methods whose results may carry widget metadata. */
export const CSP_METHODS: ReadonlySet<string> = new Set([
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  // A task-augmented tool call's result comes with it (2025-11-25): the tool's result.
  'tasks/result',
])

/**
 * `policy` may be a function: the policy in force when an answer is rewritten (a hot reload
 * replaces it; the declarations `resources/list` carried over stay).
 */
export function cspRewriter(policy: CspPolicy | (() => CspPolicy)): ResponseRewriter {
  const listed = new ListedDeclarations()
  const current = typeof policy === 'function' ? policy : () => policy
  return {
    name: 'csp',
    appliesTo: (call) => call.method !== undefined && CSP_METHODS.has(call.method),
    rewrite(call, response) {
      if (call.method === undefined || !isObject(response.result)) return undefined
      const scope = needsScope(call.method) ? listingScope(call) : ''
      const result = rewriteResult(call.method, response.result, current(), listed, scope)
      return result === undefined ? undefined : withMembers(response, { result })
    },
  }
}

type Rewrite = (item: JsonObject) => JsonObject | undefined

function needsScope(method: string): boolean {
  return method === 'resources/list' || method === 'resources/read'
}

/**
 * Whose listing a declaration is: the session's, else the caller's credentials', else its
 * address'. An upstream may list a widget otherwise for each tenant (its own API domain in
 * `connectDomains`): one table for everyone put tenant A's domain into tenant B's read.
 */
function listingScope(call: Call): string {
  if (call.sessionId !== undefined) return `s:${call.sessionId}`
  const authorization = call.headers.authorization
  if (typeof authorization === 'string') {
    return `a:${createHash('sha256').update(authorization).digest('base64url').slice(0, 22)}`
  }
  return `c:${call.request?.remoteAddress ?? ''}`
}

/**
 * The rewritten result of `method`, or undefined when no widget metadata changed. `listed`
 * carries declarations from `resources/list` over to `resources/read` items without their own.
 */
export function rewriteResult(
  method: string,
  result: JsonObject,
  policy: CspPolicy,
  listed = new ListedDeclarations(),
  scope = '',
): JsonObject | undefined {
  switch (method) {
    case 'resources/list':
      return withItems(result, 'resources', (entry) => {
        rememberDeclared(entry, listed, scope)
        return rewriteResource(entry, 'uri', policy)
      })
    case 'resources/templates/list':
      return withItems(result, 'resourceTemplates', (entry) =>
        rewriteResource(entry, 'uriTemplate', policy),
      )
    case 'resources/read':
      return withItems(result, 'contents', (item) =>
        rewriteResource(
          item,
          'uri',
          policy,
          typeof item.uri === 'string' ? listed.get(`${scope}\u0000${item.uri}`) : undefined,
        ),
      )
    case 'tools/list':
      return withItems(result, 'tools', (tool) => rewriteDeclaredCsp(tool, policy))
    case 'tools/call':
    case 'tasks/result':
      return rewriteToolResult(result, policy)
    default:
      return undefined
  }
}

function withItems(object: JsonObject, key: string, rewrite: Rewrite): JsonObject | undefined {
  const items = object[key]
  if (!Array.isArray(items)) return undefined
  let changed = false
  const next = items.map((item) => {
    const rewritten = isObject(item) ? rewrite(item) : undefined
    if (rewritten !== undefined) changed = true
    return rewritten ?? item
  })
  return changed ? withMembers(object, { [key]: next }) : undefined
}

function metaOf(object: JsonObject): JsonObject | undefined {
  return isObject(object._meta) ? object._meta : undefined
}

/** The listing's declaration for the entry's widget, kept for its scope; none now: forgotten. */
function rememberDeclared(entry: JsonObject, listed: ListedDeclarations, scope: string): void {
  if (typeof entry.uri !== 'string') return
  const meta = metaOf(entry)
  const key = `${scope}\u0000${entry.uri}`
  if (hasCsp(meta)) listed.remember(key, declaredLists(meta))
  else listed.forget(key)
}

/**
 * A resource entry, template or content item: every widget gets both CSP shapes, created when
 * missing, so hosts apply exactly the configured policy.
 */
function rewriteResource(
  entry: JsonObject,
  uriKey: string,
  policy: CspPolicy,
  inherited?: DirectiveLists,
) {
  const meta = metaOf(entry)
  const uri = entry[uriKey]
  if (!isWidgetResource(uri, entry.mimeType, meta)) return undefined
  const widgetUri = typeof uri === 'string' ? uri : widgetUriOf(meta)
  const next = rewriteWidgetMeta(meta, widgetUri, policy, inherited)
  return next === undefined ? undefined : withMembers(entry, { _meta: next })
}

/**
 * Tool definitions and tool results: hosts read CSP from the resource, so a CSP is only kept
 * consistent where the app put one, never created.
 */
function rewriteDeclaredCsp(object: JsonObject, policy: CspPolicy): JsonObject | undefined {
  const meta = metaOf(object)
  if (!hasCsp(meta)) return undefined
  const next = rewriteWidgetMeta(meta, widgetUriOf(meta), policy)
  return next === undefined ? undefined : withMembers(object, { _meta: next })
}

/** A tool result's own `_meta`, and widget resources embedded in its content. */
function rewriteToolResult(result: JsonObject, policy: CspPolicy): JsonObject | undefined {
  const withMeta = rewriteDeclaredCsp(result, policy)
  const current = withMeta ?? result
  const withContent = withItems(current, 'content', (item) => {
    if (item.type !== 'resource' || !isObject(item.resource)) return undefined
    const resource = rewriteResource(item.resource, 'uri', policy)
    return resource === undefined ? undefined : withMembers(item, { resource })
  })
  return withContent ?? withMeta
}
