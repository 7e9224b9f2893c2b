/**
 * Interned text for exchange rows: each distinct proxy, client, method, tool name… is stored
 * once in `strings` and rows hold its id. The table is append-only (nothing deletes from it),
 * so an id once read stays valid for the life of the store and the writer caches them; only a
 * rolled-back transaction can take back ids, hence `forget`.
 */
import type { Db } from './open.ts'

/** Cached ids beyond this many are dropped and read again (resource URIs can be many). */
const CACHE_LIMIT = 50_000

export class StringIds {
  readonly #ids = new Map<string, number>()
  readonly #insert
  readonly #find

  constructor(db: Db) {
    this.#insert = db.prepare('INSERT INTO strings (value) VALUES (?) ON CONFLICT DO NOTHING')
    this.#find = db.prepare<[string], number>('SELECT id FROM strings WHERE value = ?').pluck()
  }

  /** The id of `value`, interning it on first sight. Call inside the writer's transaction. */
  id(value: string): number {
    const cached = this.#ids.get(value)
    if (cached !== undefined) return cached
    // Another proxy sharing the store may have interned it already: read back, never assume.
    this.#insert.run(value)
    const id = this.#find.get(value) as number
    if (this.#ids.size >= CACHE_LIMIT) this.#ids.clear()
    this.#ids.set(value, id)
    return id
  }

  /** `id`, passing null through for absent values. */
  optional(value: string | undefined | null): number | null {
    return value === undefined || value === null ? null : this.id(value)
  }

  /** Drops every cached id: ids interned by a transaction that rolled back no longer exist. */
  forget(): void {
    this.#ids.clear()
  }
}
