/**
 * One backend's list pages (`tools/list`, `prompts/list`, `resources/list`,
 * `resources/templates/list`), kept so a merged list does not ask every backend again.
 *
 * A page is kept per method, cursor and caller view (when `[auth]` is set, the verified
 * principal and the claim headers it is sent with: a backend told who calls may answer each
 * caller differently), for `list_cache_ttl`
 * when the backend announces changes of that list (`listChanged` in its capabilities), for at
 * most 5 s when it does not (a change it never announces is seen that much later at worst).
 * Dropped early when the backend announces a change (`notifications/…/list_changed`), restarts
 * or goes down; a hot reload builds new backends, so their caches start empty. A page fetched
 * while an invalidation happened is not stored (it may predate the change).
 */
import type { JsonObject } from '../jsonrpc/message.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { lookupTable } from '../util/lookup-table.ts'
import type { ListMethod } from './merge.ts'

/** Longest a page of a backend that never announces list changes is kept. */
export const UNANNOUNCED_TTL_MS = 5000
/** Pages kept per backend (methods × cursors × caller views). */
const MAX_PAGES = 1000

interface Entry {
  result: JsonObject
  expires: number
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
  readonly #pages = new BoundedMap<string, Entry>(MAX_PAGES)
  /** Bumped by every invalidation: a fetch that saw another generation stores nothing. */
  #generation = 0

  /** `ttlMs` 0: nothing is kept. */
  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs
  }

  get generation(): number {
    return this.#generation
  }

  static key(method: ListMethod, cursor: string | undefined, view: string): string {
    return `${method}\u0000${cursor ?? ''}\u0000${view}`
  }

  get(key: string, now: number): JsonObject | undefined {
    const entry = this.#pages.get(key)
    if (entry === undefined) return undefined
    if (entry.expires > now) return entry.result
    this.#pages.delete(key)
    return undefined
  }

  /**
   * Keeps a page fetched at `generation`, for as long as the backend's capabilities allow
   * (`capabilities` from its `initialize`).
   */
  set(
    key: string,
    method: ListMethod,
    result: JsonObject,
    generation: number,
    capabilities: JsonObject | undefined,
    now: number,
  ): void {
    if (this.#ttlMs <= 0 || generation !== this.#generation) return
    const ttl = announces(capabilities, method)
      ? this.#ttlMs
      : Math.min(this.#ttlMs, UNANNOUNCED_TTL_MS)
    this.#pages.set(key, { result, expires: now + ttl })
  }

  /** A `list_changed` notification: drops the pages it makes stale (all for another method). */
  changed(notification: string): void {
    const methods = CHANGED[notification]
    if (methods === undefined) {
      this.clear()
      return
    }
    this.#generation++
    for (const key of [...this.#pages.keys()]) {
      if (methods.some((method) => key.startsWith(`${method}\u0000`))) this.#pages.delete(key)
    }
  }

  /** The backend restarted, went down or was replaced: nothing it listed holds. */
  clear(): void {
    this.#generation++
    this.#pages.clear()
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
