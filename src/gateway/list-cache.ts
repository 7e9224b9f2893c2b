/**
 * One backend's list pages (`tools/list`, `prompts/list`, `resources/list`,
 * `resources/templates/list`), kept so a merged list does not ask every backend again.
 *
 * A page is kept per method, cursor and caller view (when `[auth]` is set, the verified
 * principal and the claim headers it is sent with: a backend told who calls may answer each
 * caller differently), and per session where each session has its own process (stdio,
 * `isolation = "session"`), within MAX_PAGES and MAX_BYTES, for `list_cache_ttl`
 * when the backend announces changes of that list (`listChanged` in its capabilities), for at
 * most 5 s when it does not (a change it never announces is seen that much later at worst).
 * Dropped early when the backend announces a change (`notifications/…/list_changed`), restarts
 * or goes down; a hot reload builds new backends, so their caches start empty. A page fetched
 * while an invalidation happened is not stored (it may predate the change).
 */
import { createHash } from 'node:crypto'
import type { JsonObject } from '../jsonrpc/message.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { lookupTable } from '../util/lookup-table.ts'
import type { ListMethod } from './merge.ts'

/** Longest a page of a backend that never announces list changes is kept. */
export const UNANNOUNCED_TTL_MS = 5000
/** Pages kept per backend (methods × cursors × caller views). */
const MAX_PAGES = 1000
/**
 * Their size in all (as the backend wrote them), per backend: the cursors are the client's
 * to choose, so a count alone let a backend that ignores them fill it with 1,000 copies of a
 * page up to `max_response_body_size`.
 */
const MAX_BYTES = 16 * 1024 * 1024
/** A page larger than this is served but not kept (it would take a quarter of the room). */
const MAX_PAGE_BYTES = MAX_BYTES / 4
/** A cursor longer than this is kept in the key as its digest (clients may send megabytes). */
const MAX_KEYED_CURSOR = 128

interface Entry {
  result: JsonObject
  expires: number
  bytes: number
}

const CAPABILITY: Readonly<Record<ListMethod, string>> = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resources',
}

/** The list methods a `notifications/<kind>/list_changed` makes stale. */
const CHANGED: Readonly<Record<string, readonly ListMethod[]>> = lookupTable({
  'notifications/tools/list_changed': ['tools/list'],
  'notifications/prompts/list_changed': ['prompts/list'],
  'notifications/resources/list_changed': ['resources/list', 'resources/templates/list'],
})

export class ListCache {
  readonly #ttlMs: number
  readonly #pages = new BoundedMap<string, Entry>(MAX_PAGES, (_key, entry) => {
    this.#bytes -= entry.bytes
  })
  #bytes = 0
  /** Bumped by every invalidation: a fetch that saw another generation stores nothing. */
  #generation = 0

  /** `ttlMs` 0: nothing is kept. */
  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs
  }

  get generation(): number {
    return this.#generation
  }

  /**
   * `scope`: whose process answered, for a backend that gives each session its own (its pages
   * are that process's); empty when one process or connection answers everyone.
   */
  static key(method: ListMethod, cursor: string | undefined, view: string, scope = ''): string {
    const page =
      cursor !== undefined && cursor.length > MAX_KEYED_CURSOR
        ? `#${createHash('sha256').update(cursor).digest('base64')}`
        : (cursor ?? '')
    return `${method}\u0000${page}\u0000${view}\u0000${scope}`
  }

  get(key: string, now: number): JsonObject | undefined {
    const entry = this.#pages.get(key)
    if (entry === undefined) return undefined
    if (entry.expires > now) return entry.result
    this.#delete(key, entry)
    return undefined
  }

  /**
   * Keeps a page fetched at `generation`, for as long as the backend's capabilities allow
   * (`capabilities` from its `initialize`); `bytes`: its size as the backend wrote it.
   */
  set(
    key: string,
    method: ListMethod,
    result: JsonObject,
    generation: number,
    capabilities: JsonObject | undefined,
    now: number,
    bytes: number,
  ): void {
    if (this.#ttlMs <= 0 || generation !== this.#generation || bytes > MAX_PAGE_BYTES) return
    const ttl = announces(capabilities, method)
      ? this.#ttlMs
      : Math.min(this.#ttlMs, UNANNOUNCED_TTL_MS)
    const previous = this.#pages.get(key)
    if (previous !== undefined) this.#delete(key, previous)
    // The oldest pages make room (insertion order).
    for (const [oldKey, oldEntry] of this.#pages) {
      if (this.#bytes + bytes <= MAX_BYTES) break
      this.#delete(oldKey, oldEntry)
    }
    this.#bytes += bytes
    this.#pages.set(key, { result, expires: now + ttl, bytes })
  }

  /** The kept pages' size in all (what MAX_BYTES bounds). */
  get bytes(): number {
    return this.#bytes
  }

  #delete(key: string, entry: Entry): void {
    this.#pages.delete(key)
    this.#bytes -= entry.bytes
  }

  /** A `list_changed` notification: drops the pages it makes stale (all for another method). */
  changed(notification: string): void {
    const methods = CHANGED[notification]
    if (methods === undefined) {
      this.clear()
      return
    }
    this.#generation++
    for (const [key, entry] of [...this.#pages]) {
      if (methods.some((method) => key.startsWith(`${method}\u0000`))) this.#delete(key, entry)
    }
  }

  /** The backend restarted, went down or was replaced: nothing it listed holds. */
  clear(): void {
    this.#generation++
    this.#pages.clear()
    this.#bytes = 0
  }
}

function announces(capabilities: JsonObject | undefined, method: ListMethod): boolean {
  const capability = capabilities?.[CAPABILITY[method]]
  return (
    typeof capability === 'object' &&
    capability !== null &&
    (capability as JsonObject).listChanged === true
  )
}
