/**
 * Widget metadata in both shapes: reading what the upstream declared (`_meta.ui.csp` and
 * `_meta["openai/widgetCSP"]`), deciding what is a widget, and writing the merged policy back
 * into both shapes. `_meta.ui.domain` is never written: Claude derives and checks it itself.
 */
import { isObject, type JsonObject, jsonTextOf, withMembers } from '../jsonrpc/message.ts'
import { DIRECTIVE_SPECS, DIRECTIVES } from './directives.ts'
import { isSafeSource } from './merge.ts'
import { type CspPolicy, cspFor, type DirectiveLists } from './policy.ts'

export const OPENAI_CSP = 'openai/widgetCSP'
export const OPENAI_DOMAIN = 'openai/widgetDomain'
const OPENAI_TEMPLATE = 'openai/outputTemplate'
const UI_RESOURCE_URI = 'ui/resourceUri'

/** MIME types of widget HTML: MCP Apps and the OpenAI Apps SDK. */
const WIDGET_MIME_TYPES = new Set(['text/html;profile=mcp-app', 'text/html+skybridge'])

function uiOf(meta: JsonObject | undefined): JsonObject | undefined {
  return isObject(meta?.ui) ? meta.ui : undefined
}

/** True when the metadata already carries a CSP object in either shape. */
export function hasCsp(meta: JsonObject | undefined): boolean {
  return isObject(meta?.[OPENAI_CSP]) || isObject(uiOf(meta)?.csp)
}

/** True when the metadata describes a widget (CSP, domain, template or resource pointer). */
export function isWidgetMeta(meta: JsonObject | undefined): boolean {
  if (meta === undefined) return false
  const ui = uiOf(meta)
  return (
    hasCsp(meta) ||
    OPENAI_DOMAIN in meta ||
    OPENAI_TEMPLATE in meta ||
    (ui !== undefined && ('resourceUri' in ui || 'domain' in ui))
  )
}

/** True for a resource entry or content item that is widget HTML. */
export function isWidgetResource(uri: unknown, mimeType: unknown, meta: JsonObject | undefined) {
  // A scheme is case-insensitive (RFC 3986 §3.1), and so are a media type and its parameter
  // names; a quoted parameter value is the same value (RFC 9110 §8.3.1). `UI://` or
  // `TEXT/HTML+SKYBRIDGE` is a widget to a host all the same.
  if (typeof uri === 'string' && uri.slice(0, 5).toLowerCase() === 'ui://') return true
  if (typeof mimeType === 'string' && WIDGET_MIME_TYPES.has(mediaTypeKey(mimeType))) return true
  return isWidgetMeta(meta)
}

/** A media type as one comparable text: no spaces, lower case, a quoted value unquoted. */
function mediaTypeKey(mimeType: string): string {
  return mimeType
    .replace(/\s+/g, '')
    .replace(/="([^"\\]*)"/g, '=$1')
    .toLowerCase()
}

/** The widget URI a tool's metadata points at (MCP Apps, its deprecated flat key, OpenAI). */
export function widgetUriOf(meta: JsonObject | undefined): string | undefined {
  const candidates = [uiOf(meta)?.resourceUri, meta?.[UI_RESOURCE_URI], meta?.[OPENAI_TEMPLATE]]
  return candidates.find((value): value is string => typeof value === 'string')
}

/**
 * The usable sources of a declared list: strings that cannot break out of the CSP directive a
 * host builds from them (no whitespace, `;`, `,` or quotes). Anything else is dropped.
 */
function sources(value: unknown): string[] {
  if (!Array.isArray(value)) return []
  return value.filter((v): v is string => typeof v === 'string' && isSafeSource(v))
}

/** What the upstream declared per directive: MCP Apps shape first, then OpenAI, in order. */
export function declaredLists(meta: JsonObject | undefined): DirectiveLists {
  const uiCsp = uiOf(meta)?.csp
  const openai = meta?.[OPENAI_CSP]
  const out = {} as DirectiveLists
  for (const directive of DIRECTIVES) {
    const spec = DIRECTIVE_SPECS[directive]
    out[directive] = [
      ...(spec.ui && isObject(uiCsp) ? sources(uiCsp[spec.ui]) : []),
      ...(spec.openai && isObject(openai) ? sources(openai[spec.openai]) : []),
    ]
  }
  return out
}

/** Writes merged lists into both shapes; keys other than the managed ones are kept. */
export function writeCsp(meta: JsonObject, lists: DirectiveLists): JsonObject {
  const ui = uiOf(meta) ?? {}
  const uiCsp: JsonObject = isObject(ui.csp) ? withMembers(ui.csp) : {}
  const openai: JsonObject = isObject(meta[OPENAI_CSP]) ? withMembers(meta[OPENAI_CSP]) : {}
  for (const directive of DIRECTIVES) {
    const spec = DIRECTIVE_SPECS[directive]
    if (spec.ui) uiCsp[spec.ui] = lists[directive]
    if (spec.openai) openai[spec.openai] = lists[directive]
  }
  return withMembers(meta, { ui: withMembers(ui, { csp: uiCsp }), [OPENAI_CSP]: openai })
}

/**
 * `openai/widgetDomain`: the configured value wins; otherwise a development-local value is
 * replaced by the public origin (or removed when there is none); anything else is kept.
 */
function withWidgetDomain(meta: JsonObject, policy: CspPolicy): JsonObject {
  const current = meta[OPENAI_DOMAIN]
  if (policy.widgetDomain !== undefined) {
    return withMembers(meta, { [OPENAI_DOMAIN]: policy.widgetDomain })
  }
  if (typeof current !== 'string' || !policy.isLocal(current)) return meta
  const out = withMembers(meta)
  if (policy.publicOrigin === undefined) delete out[OPENAI_DOMAIN]
  else out[OPENAI_DOMAIN] = policy.publicOrigin
  return out
}

/**
 * Rewrites one widget's metadata (`meta` may be absent: it is then created). `inherited` stands
 * in for the declaration when the metadata has no CSP of its own. Returns the new metadata, or
 * undefined when nothing changed so the message can pass through untouched.
 */
export function rewriteWidgetMeta(
  meta: JsonObject | undefined,
  uri: string | undefined,
  policy: CspPolicy,
  inherited?: DirectiveLists,
): JsonObject | undefined {
  const declared = hasCsp(meta) || inherited === undefined ? declaredLists(meta) : inherited
  const lists = cspFor(policy, uri, declared)
  const next = withWidgetDomain(writeCsp(meta ?? {}, lists), policy)
  return meta !== undefined && sameJson(next, meta) ? undefined : next
}

/**
 * Whether two values write the same JSON. One too deep to write (an upstream's `_meta` nested
 * thousands of levels) counts as changed: the answer is then written again, and that write
 * reports the upstream's bad response with the call's id.
 */
function sameJson(a: unknown, b: unknown): boolean {
  const text = jsonTextOf(a)
  return text !== undefined && text === jsonTextOf(b)
}
