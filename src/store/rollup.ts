/**
 * Per-minute rollups of requests, written by the writer in the same transaction as the rows
 * they summarise: calls, errors, latency sum/min/max and a latency histogram per (proxy,
 * minute, method, target). `portico status` reads these instead of millions of rows.
 */

import { Histogram } from './histogram.ts'
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
  calls: number
  errors: number
  sumUs: number
  minUs: number
  maxUs: number
  bytesIn: number
  bytesOut: number
  histogram: Histogram
}

interface RollupRow {
  calls: number
  errors: number
  sum_us: number
  min_us: number
  max_us: number
  bytes_in: number
  bytes_out: number
  hist: string
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
      group = {
        proxy: input.proxy,
        minute,
        method: input.method,
        targetKind: input.targetKind,
        name: input.name,
        calls: 0,
        errors: 0,
        sumUs: 0,
        minUs: input.latencyUs,
        maxUs: input.latencyUs,
        bytesIn: 0,
        bytesOut: 0,
        histogram: new Histogram(),
      }
      this.#groups.set(key, group)
    }
    group.calls++
    if (input.error) group.errors++
    group.sumUs += input.latencyUs
    group.minUs = Math.min(group.minUs, input.latencyUs)
    group.maxUs = Math.max(group.maxUs, input.latencyUs)
    group.bytesIn += input.bytesIn
    group.bytesOut += input.bytesOut
    group.histogram.add(input.latencyUs)
  }

  save(db: Db): void {
    if (this.#groups.size === 0) return
    const find = db.prepare<[string, number, string, string, string], RollupRow>(
      'SELECT calls, errors, sum_us, min_us, max_us, bytes_in, bytes_out, hist FROM rollup_minute WHERE proxy = ? AND minute = ? AND method = ? AND target_kind = ? AND name = ?',
    )
    const write = db.prepare(
      `INSERT OR REPLACE INTO rollup_minute (proxy, minute, method, target_kind, name, calls, errors,
        sum_us, min_us, max_us, bytes_in, bytes_out, hist)
       VALUES (@proxy, @minute, @method, @targetKind, @name, @calls, @errors, @sumUs, @minUs,
        @maxUs, @bytesIn, @bytesOut, @hist)`,
    )
    for (const group of this.#groups.values()) {
      const row = find.get(group.proxy, group.minute, group.method, group.targetKind, group.name)
      if (row) mergeRow(group, row)
      write.run({
        proxy: group.proxy,
        minute: group.minute,
        method: group.method,
        targetKind: group.targetKind,
        name: group.name,
        calls: group.calls,
        errors: group.errors,
        sumUs: group.sumUs,
        minUs: group.minUs,
        maxUs: group.maxUs,
        bytesIn: group.bytesIn,
        bytesOut: group.bytesOut,
        hist: group.histogram.serialize(),
      })
    }
    this.#groups.clear()
  }
}

function mergeRow(group: Group, row: RollupRow): void {
  group.calls += row.calls
  group.errors += row.errors
  group.sumUs += row.sum_us
  group.minUs = Math.min(group.minUs, row.min_us)
  group.maxUs = Math.max(group.maxUs, row.max_us)
  group.bytesIn += row.bytes_in
  group.bytesOut += row.bytes_out
  group.histogram.merge(Histogram.parse(row.hist, row.min_us, row.max_us))
}
