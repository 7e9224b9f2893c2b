/**
 * Interned text for exchange rows: each distinct proxy, client, method, tool name… is stored
 * once in `strings` and rows hold its id. Rows are the only references, so retention deletes
 * the strings no row uses any more (`pruneStrings`), in the same pass as the rows: text that a
 * client made up (unique tool names, URIs) leaves with the rows that carried it.
 *
 * A writer caches ids across batches, which is only safe while nobody deletes strings. A
 * prune therefore bumps `meta.strings_generation` in its transaction, and the writer reads the
 * generation at the start of each of its (immediate, so serialised) transactions and drops its
 * cache when it moved. A rolled-back transaction also takes back ids, hence `forget`.
 */
import type { Db } from './open.ts'

/** Cached ids beyond this many are dropped and read again (resource URIs can be many). */
const CACHE_LIMIT = 50_000
const GENERATION_KEY = 'strings_generation'

/** Columns of `exchange_rows` that hold string ids. */
export const INTERNED_COLUMNS = [
  'proxy',
  'client_name',
  'platform',
  'era',
  'transport',
  'kind',
  'method',
  'target_kind',
  'name',
  'outcome',
  'reason',
  'subject',
  'auth_client',
  'via',
] as const

export class StringIds {
  readonly #ids = new Map<string, number>()
  readonly #insert
  readonly #find
  readonly #generation
  #seenGeneration: string | undefined

  constructor(db: Db) {
    this.#insert = db.prepare('INSERT INTO strings (value) VALUES (?) ON CONFLICT DO NOTHING')
    this.#find = db.prepare<[string], number>('SELECT id FROM strings WHERE value = ?').pluck()
    this.#generation = db
      .prepare<[], string>(`SELECT value FROM meta WHERE key = '${GENERATION_KEY}'`)
      .pluck()
  }

  /** Call first in each write transaction: forgets cached ids if strings were pruned since. */
  sync(): void {
    const generation = (this.#generation.get() as string | undefined) ?? '0'
    if (generation !== this.#seenGeneration) this.#ids.clear()
    this.#seenGeneration = generation
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
    this.#seenGeneration = undefined
  }
}

/**
 * Deletes the strings no exchange row references, and moves the generation so writers drop
 * their cached ids. One transaction; a scan of `exchange_rows` per interned column.
 */
export function pruneStrings(db: Db): number {
  return db
    .transaction(() => {
      const { changes } = db.prepare(`DELETE FROM strings WHERE id NOT IN (${USED_IDS})`).run()
      if (changes > 0) {
        db.prepare(
          `INSERT INTO meta (key, value) VALUES (?, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`,
        ).run(GENERATION_KEY)
      }
      return changes
    })
    .immediate()
}

/** Strings no exchange row references (what `pruneStrings` would delete). */
export function unusedStrings(db: Db): number {
  return db
    .prepare(`SELECT count(*) FROM strings WHERE id NOT IN (${USED_IDS})`)
    .pluck()
    .get() as number
}

/** Every string id some exchange row holds (NULLs left out: `NOT IN` a set with NULL is never true). */
const USED_IDS = INTERNED_COLUMNS.map(
  (column) => `SELECT ${column} FROM exchange_rows WHERE ${column} IS NOT NULL`,
).join(' UNION ')
