/**
 * A cap on the rows one proxy may hold in a table that clients can make grow (sessions named by
 * any session id a client sends, clients named by any clientInfo). The writer counts the rows
 * once, keeps the count as it inserts, and reads it again when the cap is reached (retention
 * may have freed room), at most once a minute so a flood of refusals costs no queries.
 */
import type { Db } from './open.ts'

const RECOUNT_EVERY_MS = 60_000

export class RowCap {
  readonly #limit: number
  readonly #count
  readonly #counts = new Map<string, { rows: number; countedAt: number }>()
  #refused = 0

  /** Forgets the counts (a rolled-back transaction took back the rows they counted). */
  forget(): void {
    this.#counts.clear()
  }

  /** `table` must have a `proxy` column leading an index (its primary key does). */
  constructor(db: Db, table: string, limit: number) {
    this.#limit = limit
    this.#count = db
      .prepare<[string], number>(`SELECT count(*) FROM ${table} WHERE proxy = ?`)
      .pluck()
  }

  /** True when `proxy` may add a row; call `added` once it did. */
  allows(proxy: string, now = Date.now()): boolean {
    let entry = this.#counts.get(proxy)
    if (
      entry === undefined ||
      (entry.rows >= this.#limit && now - entry.countedAt >= RECOUNT_EVERY_MS)
    ) {
      entry = { rows: this.#count.get(proxy) as number, countedAt: now }
      this.#counts.set(proxy, entry)
    }
    if (entry.rows < this.#limit) return true
    this.#refused++
    return false
  }

  added(proxy: string): void {
    const entry = this.#counts.get(proxy)
    if (entry) entry.rows++
  }

  /** Rows refused since the writer started. */
  get refused(): number {
    return this.#refused
  }
}
