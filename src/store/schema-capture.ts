/**
 * Schema capture, pure part: what a schema method's answer contains (server identity, or the
 * items of a list, merged across pages), a canonical hash to tell whether it changed, and the
 * item-by-item diff (added, removed, modified and which fields changed) recorded as history.
 */
import { createHash } from 'node:crypto'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'

interface ListMethod {
  field: string
  key: string
  kind: string
}

export const LIST_METHODS: Readonly<Record<string, ListMethod>> = {
  'tools/list': { field: 'tools', key: 'name', kind: 'tool' },
  'resources/list': { field: 'resources', key: 'uri', kind: 'resource' },
  'resources/templates/list': {
    field: 'resourceTemplates',
    key: 'uriTemplate',
    kind: 'resource_template',
  },
  'prompts/list': { field: 'prompts', key: 'name', kind: 'prompt' },
}

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
export function diffServer(before: JsonObject, after: JsonObject): string {
  const parts: string[] = []
  const oldInfo = isObject(before.serverInfo) ? before.serverInfo : {}
  const newInfo = isObject(after.serverInfo) ? after.serverInfo : {}
  for (const key of ['name', 'version']) {
    if (oldInfo[key] !== newInfo[key])
      parts.push(`serverInfo.${key}: ${show(oldInfo[key])} → ${show(newInfo[key])}`)
  }
  for (const key of changedFields(before, after)) if (key !== 'serverInfo') parts.push(key)
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

/**
 * Collects the pages of a paginated list per (proxy, session, method): the first page (no
 * cursor) starts a listing, a page without `nextCursor` completes it. A page that continues a
 * listing Portico did not see the start of is ignored. Bounded: at most `maxListings` open.
 */
export class ItemsPager {
  readonly #open = new Map<string, JsonObject[]>()
  readonly #maxListings: number

  constructor(maxListings = 1000) {
    this.#maxListings = maxListings
  }

  /** Returns the complete item list once the last page arrived, else undefined. */
  page(
    key: string,
    cursor: string | undefined,
    items: JsonObject[],
    more: boolean,
  ): JsonObject[] | undefined {
    if (cursor === undefined) this.#open.delete(key)
    const collected = cursor === undefined ? [] : this.#open.get(key)
    if (collected === undefined) return undefined
    collected.push(...items)
    if (more) {
      if (!this.#open.has(key) && this.#open.size >= this.#maxListings) {
        const oldest = this.#open.keys().next().value
        if (oldest !== undefined) this.#open.delete(oldest)
      }
      this.#open.set(key, collected)
      return undefined
    }
    this.#open.delete(key)
    return collected
  }
}
