/**
 * Merging what several backends say into what one MCP server says: list pages (with the
 * gateway's own cursor), capabilities and instructions. Pure functions over parsed results.
 */
import { PorticoError } from '../errors.ts'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { lookupTable } from '../util/lookup-table.ts'
import type { BackendCatalog } from './catalog.ts'

export type ListMethod =
  | 'tools/list'
  | 'prompts/list'
  | 'resources/list'
  | 'resources/templates/list'

export const LIST_METHODS: Readonly<Record<ListMethod, string>> = lookupTable({
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
})

export function isListMethod(method: string): method is ListMethod {
  return method in LIST_METHODS
}

/** Where each backend is in a paginated merged list: backend name → its own next cursor. */
export type ListPosition = Record<string, string>

/**
 * The gateway's opaque cursor: base64url JSON of the list it pages (`m`) and the backends still
 * to be paged. Not signed: replicas must read each other's, and a backend's own position in it
 * is that backend's to check (a client crafting one pages that backend's list as itself).
 */
export function encodeCursor(method: ListMethod, position: ListPosition): string {
  return Buffer.from(JSON.stringify({ v: 1, m: method, p: position })).toString('base64url')
}

/**
 * Throws -32602 for a cursor the gateway did not mint, or minted for another list (a
 * `tools/list` cursor sent to `prompts/list` handed the backends a position in another list:
 * items skipped without an error).
 */
export function decodeCursor(cursor: string, method: ListMethod): ListPosition {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    value = undefined
  }
  if (!isObject(value) || value.v !== 1 || value.m !== method || !isObject(value.p)) {
    throw invalidCursor()
  }
  const out: ListPosition = {}
  for (const [name, position] of Object.entries(value.p)) {
    if (typeof position !== 'string') throw invalidCursor()
    out[name] = position
  }
  return out
}

export function invalidCursor(): PorticoError {
  return new PorticoError('invalid_params', { message: 'Invalid cursor' })
}

/** One backend's answer to a list request (or why it has none). */
export interface BackendPage {
  catalog: BackendCatalog
  result?: JsonObject
  error?: string
  /** The backend answered with a JSON-RPC error (it refused), not a failure to answer. */
  refused?: boolean
}

/** Concatenates the backends' pages in config order, exposing each item under its name. */
export function mergePages(method: ListMethod, pages: readonly BackendPage[]): JsonObject {
  const key = LIST_METHODS[method]
  const items: JsonObject[] = []
  const next: ListPosition = {}
  for (const page of pages) {
    if (!page.result) continue
    const list = page.result[key]
    if (Array.isArray(list)) {
      if (method === 'tools/list') page.catalog.sawNames('tool', list)
      else if (method === 'prompts/list') page.catalog.sawNames('prompt', list)
      for (const item of list) {
        if (!isObject(item)) continue
        const exposed = exposeItem(method, page.catalog, item)
        if (exposed) items.push(exposed)
      }
    }
    const cursor = page.result.nextCursor
    if (typeof cursor === 'string') next[page.catalog.name] = cursor
  }
  const result: JsonObject = { [key]: items }
  if (Object.keys(next).length > 0) result.nextCursor = encodeCursor(method, next)
  return result
}

function exposeItem(
  method: ListMethod,
  catalog: BackendCatalog,
  item: JsonObject,
): JsonObject | undefined {
  switch (method) {
    case 'tools/list':
      return catalog.tool(item)
    case 'prompts/list':
      return catalog.prompt(item)
    case 'resources/list':
      return catalog.resource(item)
    default:
      return catalog.template(item)
  }
}

/** What `initialize` / `server/discover` learn from one backend. */
export interface BackendInfo {
  name: string
  capabilities?: JsonObject
  instructions?: string
}

/**
 * The gateway's capabilities: the union of the backends' (tools, prompts, resources, logging,
 * completions), with `listChanged` always on because backends can come and go.
 */
export function mergeCapabilities(
  infos: readonly BackendInfo[],
  options: { assumeLists?: boolean } = {},
): JsonObject {
  const caps: JsonObject = { tools: { listChanged: true } }
  // A backend still starting may serve prompts and resources: announce the lists (answered
  // with what the others have) rather than hide them from this client for good.
  if (options.assumeLists) {
    caps.prompts = { listChanged: true }
    caps.resources = { listChanged: true }
  }
  let subscribe = false
  for (const info of infos) {
    const c = info.capabilities
    if (!c) continue
    if (isObject(c.prompts)) caps.prompts = { listChanged: true }
    if (isObject(c.resources)) {
      caps.resources = { listChanged: true }
      if (c.resources.subscribe === true) subscribe = true
    }
    if (isObject(c.logging)) caps.logging = {}
    if (isObject(c.completions)) caps.completions = {}
  }
  if (subscribe) caps.resources = { listChanged: true, subscribe: true }
  return caps
}

/** `[proxy] instructions` if set, else each backend's instructions under its name. */
export function mergeInstructions(
  infos: readonly BackendInfo[],
  override: string | undefined,
): string | undefined {
  if (override !== undefined) return override
  const parts = infos
    .filter((info) => info.instructions)
    .map((info) => `[${info.name}] ${info.instructions}`)
  return parts.length > 0 ? parts.join('\n\n') : undefined
}
