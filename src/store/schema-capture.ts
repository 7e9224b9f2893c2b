/**
 * Schema capture, pure part: what a schema method's answer contains (server identity, or the
 * items of a list, merged across pages), a canonical hash to tell whether it changed, and the
 * item-by-item diff (added, removed, modified and which fields changed) recorded as history.
 */
import { createHash } from 'node:crypto'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { lookupTable } from '../util/lookup-table.ts'

interface ListMethod {
  field: string
  key: string
  kind: string
}

export const LIST_METHODS: Readonly<Record<string, ListMethod>> = lookupTable({
  'tools/list': { field: 'tools', key: 'name', kind: 'tool' },
  'resources/list': { field: 'resources', key: 'uri', kind: 'resource' },
  'resources/templates/list': {
    field: 'resourceTemplates',
    key: 'uriTemplate',
    kind: 'resource_template',
  },
  'prompts/list': { field: 'prompts', key: 'name', kind: 'prompt' },
})

export const SERVER_METHODS: ReadonlySet<string> = new Set(['initialize', 'server/discover'])

/** The list method a `notifications/…/list_changed` notification is about. */
export function listMethodOfNotification(method: string): string | undefined {
  const match = /^notifications\/(tools|resources|prompts)\/list_changed$/.exec(method)
  return match ? `${match[1]}/list` : undefined
}

export interface SchemaChange {
  change: string
  item?: string
  detail?: string
}

/** JSON with object keys sorted at every level, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isObject(value)) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

/** What `initialize` / `server/discover` say about the server (name, version, protocol, capabilities). */
export function serverPayload(method: string, result: JsonObject): JsonObject {
  const meta = isObject(result._meta) ? result._meta : {}
  const info = result.serverInfo ?? meta['io.modelcontextprotocol/serverInfo']
  const payload: JsonObject = { method }
  if (isObject(info)) payload.serverInfo = info
  if (typeof result.protocolVersion === 'string') payload.protocolVersion = result.protocolVersion
  if (Array.isArray(result.supportedVersions)) payload.supportedVersions = result.supportedVersions
  if (isObject(result.capabilities)) payload.capabilities = result.capabilities
  if (typeof result.instructions === 'string') payload.instructions = result.instructions
  return payload
}

/** The items of one list page, or undefined when the result is not a list of that method. */
export function itemsOf(method: string, result: JsonObject): JsonObject[] | undefined {
  const list = LIST_METHODS[method]
  if (!list) return undefined
  const items = result[list.field]
  if (!Array.isArray(items)) return undefined
  return items.filter(
    (item): item is JsonObject => isObject(item) && typeof item[list.key] === 'string',
  )
}

export function itemKey(method: string, item: JsonObject): string {
  const list = LIST_METHODS[method]
  return list ? String(item[list.key]) : ''
}

/** Items sorted by key, so the order a server lists them in never reads as a change. */
export function sortItems(method: string, items: JsonObject[]): JsonObject[] {
  return [...items].sort((a, b) => (itemKey(method, a) < itemKey(method, b) ? -1 : 1))
}

/** Item-by-item changes between two captures of a list method. */
export function diffItems(
  method: string,
  before: readonly JsonObject[],
  after: readonly JsonObject[],
): SchemaChange[] {
  const kind = LIST_METHODS[method]?.kind ?? 'item'
  const old = new Map(before.map((item) => [itemKey(method, item), item]))
  const now = new Map(after.map((item) => [itemKey(method, item), item]))
  const changes: SchemaChange[] = []
  for (const [key, item] of now) {
    const previous = old.get(key)
    if (previous === undefined) changes.push({ change: `${kind}_added`, item: key })
    else {
      const fields = changedFields(previous, item)
      if (fields.length > 0)
        changes.push({ change: `${kind}_modified`, item: key, detail: fields.join(', ') })
    }
  }
  for (const key of old.keys()) {
    if (!now.has(key)) changes.push({ change: `${kind}_removed`, item: key })
  }
  return changes
}

/** Top-level fields whose content differs (`description`, `inputSchema`, …). */
export function changedFields(before: JsonObject, after: JsonObject): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  return [...keys].filter((key) => canonicalJson(before[key]) !== canonicalJson(after[key])).sort()
}

/** Describes how a server identity changed, e.g. `serverInfo.version: 1.0.0 → 1.1.0`. */
/**
 * A server payload without what each client negotiates (`protocolVersion`: the revision the
 * client asked for, when the server serves it). Clients asking for different revisions of one
 * unchanged server are no change of it; counted as changes, they would fill the bounded change
 * history and push out the tool changes it exists for.
 */
export function serverIdentity(payload: JsonObject): JsonObject {
  if (!('protocolVersion' in payload)) return payload
  const { protocolVersion: _negotiated, ...rest } = payload
  return rest
}

/** The newer of two negotiated revisions (dates, `YYYY-MM-DD`): what the schema header shows. */
export function newerRevision(a: unknown, b: unknown): unknown {
  if (typeof a !== 'string') return b
  if (typeof b !== 'string') return a
  return b > a ? b : a
}

export function diffServer(before: JsonObject, after: JsonObject): string {
  const parts: string[] = []
  const oldInfo = isObject(before.serverInfo) ? before.serverInfo : {}
  const newInfo = isObject(after.serverInfo) ? after.serverInfo : {}
  for (const key of ['name', 'version']) {
    if (oldInfo[key] !== newInfo[key])
      parts.push(`serverInfo.${key}: ${show(oldInfo[key])} → ${show(newInfo[key])}`)
  }
  for (const key of changedFields(before, after)) {
    if (key !== 'serverInfo' && key !== 'protocolVersion') parts.push(key)
  }
  return parts.join('; ')
}

function show(value: unknown): string {
  return value === undefined ? '(none)' : String(value)
}

/** The pagination cursor of a list request, if it asked for a later page. */
export function cursorOf(params: JsonObject | undefined): string | undefined {
  const cursor = params?.cursor
  return typeof cursor === 'string' ? cursor : undefined
}

/** What one page did to its listing: completed it, gave it up as too large, or neither yet. */
export type PageOutcome = { complete: JsonObject[] } | { tooLarge: string } | undefined

/**
 * Collects the pages of a paginated list per (proxy, session, method): the first page (no
 * cursor) starts a listing, a page without `nextCursor` completes it. A page that continues a
 * listing Portico did not see the start of is ignored. Bounded: at most `maxListings` open, at
 * most `maxItems` items in one listing (a server that pages for ever, or lists more than any
 * schema has, is given up on and said so, not kept), and at most `maxOpenItems` items held in
 * all open listings together (the oldest listings are given up first).
 */
export class ItemsPager {
  readonly #open = new Map<string, JsonObject[]>()
  readonly #maxListings: number
  readonly #maxItems: number
  readonly #maxOpenItems: number
  #openItems = 0

  constructor(maxListings = 1000, maxItems = 10_000, maxOpenItems = 100_000) {
    this.#maxListings = maxListings
    this.#maxItems = maxItems
    this.#maxOpenItems = maxOpenItems
  }

  page(key: string, cursor: string | undefined, items: JsonObject[], more: boolean): PageOutcome {
    if (cursor === undefined) this.#close(key)
    const collected = cursor === undefined ? [] : this.#open.get(key)
    if (collected === undefined) return undefined
    this.#close(key)
    if (collected.length + items.length > this.#maxItems) {
      return { tooLarge: `more than ${this.#maxItems} items over its pages` }
    }
    // One at a time: spreading a page of 200,000 items into push() overflows the stack.
    for (const item of items) collected.push(item)
    if (!more) return { complete: collected }
    this.#hold(key, collected)
    return undefined
  }

  #hold(key: string, collected: JsonObject[]): void {
    for (const [oldest] of this.#open) {
      const full =
        this.#open.size >= this.#maxListings ||
        this.#openItems + collected.length > this.#maxOpenItems
      if (!full) break
      this.#close(oldest)
    }
    this.#open.set(key, collected)
    this.#openItems += collected.length
  }

  #close(key: string): void {
    const collected = this.#open.get(key)
    if (collected === undefined) return
    this.#open.delete(key)
    this.#openItems -= collected.length
  }
}
