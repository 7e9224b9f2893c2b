/**
 * Per-minute rollups of requests, written by the writer in the same transaction as the rows
 * they summarise: calls, errors, latency sum/min/max and a latency histogram per (proxy,
 * minute, method, target). `portico status` reads these instead of millions of rows.
 */

import { Aggregate, type AggregateRow } from './aggregate.ts'
import type { Db } from './open.ts'

/** Exchange kinds counted as requests in reports (streams and notifications are not). */
export const COUNTED_KINDS: readonly string[] = ['request', 'http']

export interface RollupInput {
  proxy: string
  ts: number
  method: string
  targetKind: string
  name: string
  error: boolean
  latencyUs: number
  bytesIn: number
  bytesOut: number
}

interface Group {
  proxy: string
  minute: number
  method: string
  targetKind: string
  name: string
  stats: Aggregate
}

/** Prepared once per connection: the writer saves a batch every ~500 ms. */
const statements = new WeakMap<Db, ReturnType<typeof prepare>>()

function statementsOf(db: Db): ReturnType<typeof prepare> {
  let prepared = statements.get(db)
  if (prepared === undefined) {
    prepared = prepare(db)
    statements.set(db, prepared)
  }
  return prepared
}

function prepare(db: Db) {
  return {
    find: db.prepare<[string, number, string, string, string], AggregateRow>(
      'SELECT calls, errors, sum_us, min_us, max_us, bytes_in, bytes_out, hist FROM rollup_minute WHERE proxy = ? AND minute = ? AND method = ? AND target_kind = ? AND name = ?',
    ),
    write: db.prepare(
      `INSERT OR REPLACE INTO rollup_minute (proxy, minute, method, target_kind, name, calls, errors,
        sum_us, min_us, max_us, bytes_in, bytes_out, hist)
       VALUES (@proxy, @minute, @method, @targetKind, @name, @calls, @errors, @sum_us, @min_us,
        @max_us, @bytes_in, @bytes_out, @hist)`,
    ),
  }
}

export function minuteOf(ts: number): number {
  return ts - (ts % 60_000)
}

/** Accumulates one batch in memory, then merges it into the stored rows. */
export class RollupBatch {
  readonly #groups = new Map<string, Group>()

  add(input: RollupInput): void {
    const minute = minuteOf(input.ts)
    const key = `${input.proxy}\0${minute}\0${input.method}\0${input.targetKind}\0${input.name}`
    let group = this.#groups.get(key)
    if (group === undefined) {
      const { proxy, method, targetKind, name } = input
      group = { proxy, minute, method, targetKind, name, stats: new Aggregate() }
      this.#groups.set(key, group)
    }
    group.stats.add(input.latencyUs, input.error, input.bytesIn, input.bytesOut)
  }

  save(db: Db): void {
    if (this.#groups.size === 0) return
    const { find, write } = statementsOf(db)
    for (const group of this.#groups.values()) {
      const row = find.get(group.proxy, group.minute, group.method, group.targetKind, group.name)
      if (row) group.stats.addRow(row)
      const { proxy, minute, method, targetKind, name } = group
      write.run({ proxy, minute, method, targetKind, name, ...group.stats.toRow() })
    }
    this.#groups.clear()
  }
}
