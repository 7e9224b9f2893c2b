/**
 * Dashboard data over the rollups and rows: requests, errors and latency percentiles per time
 * bucket (all targets or one), and errors grouped by target and code/message. The rollups keep
 * a series over millions of exchanges to one row per minute and target.
 */
import { Aggregate, type AggregateRow } from './aggregate.ts'
import type { Db } from './open.ts'

export interface SeriesQuery {
  since: number
  now: number
  proxy?: string
  /** Only this target (`tool`, `resource`, `prompt`; `''` for a plain method). */
  target?: { kind: string; name: string }
  /** How many buckets at most (each a whole number of minutes). */
  buckets?: number
}

export interface SeriesPoint {
  /** Bucket start, epoch ms. */
  t: number
  calls: number
  errors: number
  p50_us: number
  p95_us: number
  p99_us: number
}

export interface Series {
  bucket_ms: number
  points: SeriesPoint[]
}

const MINUTE = 60_000

/** One point per bucket from the window's first whole minute on (empty buckets included). */
export function latencySeries(db: Db, query: SeriesQuery): Series {
  const wanted = Math.max(1, Math.min(query.buckets ?? 60, 1440))
  const bucketMs = Math.max(1, Math.ceil((query.now - query.since) / wanted / MINUTE)) * MINUTE
  const start = Math.floor(query.since / bucketMs) * bucketMs
  const parts = ['minute >= ?']
  const args: unknown[] = [start]
  if (query.proxy !== undefined) {
    parts.push('proxy = ?')
    args.push(query.proxy)
  }
  if (query.target !== undefined) {
    parts.push('target_kind = ? AND name = ?')
    args.push(query.target.kind, query.target.name)
  }
  const rows = db
    .prepare(
      `SELECT minute, calls, errors, sum_us, min_us, max_us, bytes_in, bytes_out, hist
       FROM rollup_minute WHERE ${parts.join(' AND ')}`,
    )
    .all(...args) as Array<AggregateRow & { minute: number }>
  const buckets = new Map<number, Aggregate>()
  for (const row of rows) {
    const t = Math.floor(row.minute / bucketMs) * bucketMs
    let acc = buckets.get(t)
    if (acc === undefined) {
      acc = new Aggregate()
      buckets.set(t, acc)
    }
    acc.addRow(row)
  }
  const points: SeriesPoint[] = []
  for (let t = start; t <= query.now; t += bucketMs) {
    const acc = buckets.get(t)
    points.push({
      t,
      calls: acc?.calls ?? 0,
      errors: acc?.errors ?? 0,
      p50_us: acc?.histogram.percentile(0.5) ?? 0,
      p95_us: acc?.histogram.percentile(0.95) ?? 0,
      p99_us: acc?.histogram.percentile(0.99) ?? 0,
    })
  }
  return { bucket_ms: bucketMs, points }
}

export interface ErrorGroup {
  proxy: string
  method: string
  target_kind: string | null
  name: string | null
  error_code: number | null
  /** The message, cut to 200 characters (messages that differ later are grouped). */
  error_message: string | null
  outcome: string
  count: number
  first_seen: number
  last_seen: number
}

/**
 * Failed requests in the window grouped by target and error code/message, most frequent first.
 * Grouped on the interned ids of `exchange_rows` (the view's joins would run per row) and named
 * afterwards: a day of a million exchanges is one pass over the time index.
 */
export function errorGroups(
  db: Db,
  filter: { since: number; proxy?: string; limit: number },
): ErrorGroup[] {
  const id = (column: string) => `(SELECT value FROM strings WHERE id = g.${column})`
  const ids = (values: string[]) =>
    db
      .prepare(`SELECT id FROM strings WHERE value IN (${values.map(() => '?').join(', ')})`)
      .pluck()
      .all(...values) as number[]
  const fine = ids(['ok', 'cancelled'])
  const kinds = ids(['request', 'http'])
  const proxyId = filter.proxy === undefined ? [] : ids([filter.proxy])
  if (kinds.length === 0 || (filter.proxy !== undefined && proxyId.length === 0)) return []
  const marks = (list: unknown[]) => list.map(() => '?').join(', ')
  const proxy = filter.proxy === undefined ? '' : ' AND proxy = ?'
  return db
    .prepare(
      `SELECT ${id('proxy')} AS proxy, ${id('method')} AS method, ${id('target_kind')} AS target_kind,
         ${id('name')} AS name, error_code, error_message, ${id('outcome')} AS outcome, count,
         first_seen, last_seen
       FROM (SELECT proxy, method, target_kind, name, error_code,
           substr(error_message, 1, 200) AS error_message, outcome, count(*) AS count,
           min(ts) AS first_seen, max(ts) AS last_seen
         FROM exchange_rows
         WHERE ts >= ?
           AND outcome NOT IN (${marks(fine)}) AND kind IN (${marks(kinds)})${proxy}
         GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY count DESC, last_seen DESC LIMIT ?) g`,
    )
    .all(filter.since, ...fine, ...kinds, ...proxyId, filter.limit) as ErrorGroup[]
}
