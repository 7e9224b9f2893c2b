/**
 * `portico status` data: totals and per-target statistics (calls, latency avg/percentiles/max,
 * error rate, bytes) over a time window. Whole minutes come from the rollups; the partial first
 * minute is read from the raw rows, so counts are exact and percentiles within 1%.
 */
import { Aggregate, type AggregateRow } from './aggregate.ts'
import type { Db } from './open.ts'
import { COUNTED_KINDS } from './rollup.ts'

export interface Window {
  /** Start of the window, epoch ms. */
  since: number
  /** Report time, epoch ms. */
  now: number
  proxy?: string
}

export interface TargetStats {
  method: string
  name: string
  calls: number
  errors: number
  error_pct: number
  avg_us: number
  min_us: number
  p50_us: number
  p95_us: number
  p99_us: number
  max_us: number
  bytes_in: number
  bytes_out: number
}

export interface StatusReport {
  proxy: string | null
  since: number
  total_requests: number
  errors: number
  error_pct: number
  sessions: { total: number; active: number }
  tools: TargetStats[]
  resources: TargetStats[]
  prompts: TargetStats[]
  methods: TargetStats[]
}

/** A session is active when it has not ended and was seen in the last five minutes. */
export const ACTIVE_WINDOW_MS = 5 * 60_000

interface Acc {
  method: string
  targetKind: string
  name: string
  stats: Aggregate
}

export function statusReport(db: Db, window: Window): StatusReport {
  const groups = new Map<string, Acc>()
  const fullFrom = Math.ceil(window.since / 60_000) * 60_000
  addRollups(db, groups, fullFrom, window.proxy)
  if (fullFrom > window.since) addRawRows(db, groups, window.since, fullFrom, window.proxy)
  const byKind = (kind: string) =>
    [...groups.values()]
      .filter((g) => g.targetKind === kind)
      .map(toStats)
      .sort((a, b) => b.calls - a.calls || a.name.localeCompare(b.name))
  let total = 0
  let errors = 0
  for (const group of groups.values()) {
    total += group.stats.calls
    errors += group.stats.errors
  }
  return {
    proxy: window.proxy ?? null,
    since: window.since,
    total_requests: total,
    errors,
    error_pct: pct(errors, total),
    sessions: sessionCounts(db, window),
    tools: byKind('tool'),
    resources: byKind('resource'),
    prompts: byKind('prompt'),
    methods: byKind('').map((s) => ({ ...s, name: s.method })),
  }
}

function accOf(groups: Map<string, Acc>, method: string, targetKind: string, name: string): Acc {
  const key = `${method}\0${targetKind}\0${name}`
  let acc = groups.get(key)
  if (acc === undefined) {
    acc = { method, targetKind, name, stats: new Aggregate() }
    groups.set(key, acc)
  }
  return acc
}

function addRollups(db: Db, groups: Map<string, Acc>, from: number, proxy?: string): void {
  const sql = `SELECT method, target_kind, name, calls, errors, sum_us, min_us, max_us, bytes_in,
    bytes_out, hist FROM rollup_minute WHERE minute >= ?${proxy === undefined ? '' : ' AND proxy = ?'}`
  const rows = db.prepare(sql).all(...(proxy === undefined ? [from] : [from, proxy])) as Array<
    AggregateRow & { method: string; target_kind: string; name: string }
  >
  for (const row of rows) accOf(groups, row.method, row.target_kind, row.name).stats.addRow(row)
}

interface RawRow {
  method: string
  target_kind: string | null
  name: string | null
  status: string
  latency_us: number
  bytes_in: number
  bytes_out: number
}

function addRawRows(
  db: Db,
  groups: Map<string, Acc>,
  from: number,
  to: number,
  proxy?: string,
): void {
  const kinds = COUNTED_KINDS.map(() => '?').join(', ')
  const sql = `SELECT method, target_kind, name, status, latency_us, bytes_in, bytes_out
    FROM exchanges WHERE ts >= ? AND ts < ? AND kind IN (${kinds})${proxy === undefined ? '' : ' AND proxy = ?'}`
  const args = [from, to, ...COUNTED_KINDS, ...(proxy === undefined ? [] : [proxy])]
  for (const row of db.prepare(sql).iterate(...args) as Iterable<RawRow>) {
    const acc = accOf(groups, row.method, row.target_kind ?? '', row.name ?? '')
    acc.stats.add(row.latency_us, row.status === 'error', row.bytes_in, row.bytes_out)
  }
}

function toStats({ method, name, stats }: Acc): TargetStats {
  return {
    method,
    name,
    calls: stats.calls,
    errors: stats.errors,
    error_pct: pct(stats.errors, stats.calls),
    avg_us: stats.calls === 0 ? 0 : Math.round(stats.sumUs / stats.calls),
    min_us: stats.calls === 0 ? 0 : stats.minUs,
    p50_us: stats.histogram.percentile(0.5) ?? 0,
    p95_us: stats.histogram.percentile(0.95) ?? 0,
    p99_us: stats.histogram.percentile(0.99) ?? 0,
    max_us: stats.maxUs,
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
  }
}

function sessionCounts(db: Db, window: Window): { total: number; active: number } {
  const filter = window.proxy === undefined ? '' : ' AND proxy = ?'
  const extra = window.proxy === undefined ? [] : [window.proxy]
  const row = db
    .prepare(
      `SELECT count(*) AS total,
        coalesce(sum(ended_at IS NULL AND last_seen_at >= ?), 0) AS active
       FROM sessions WHERE last_seen_at >= ?${filter}`,
    )
    .get(window.now - ACTIVE_WINDOW_MS, window.since, ...extra) as { total: number; active: number }
  return { total: row.total, active: row.active }
}

/** Percentage with one decimal. */
export function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10
}

export interface StatusTotals {
  proxy: string | null
  total_requests: number
  errors: number
  error_pct: number
  sessions: { total: number; active: number }
}

/**
 * `statusReport`'s totals alone, per proxy and over all: the same rollups and partial first
 * minute, summed in SQL without reading a latency histogram (the overview over a day of
 * millions of exchanges needs no percentiles per target).
 */
export function statusTotals(
  db: Db,
  window: Window,
): { all: StatusTotals; proxies: StatusTotals[] } {
  const fullFrom = Math.ceil(window.since / 60_000) * 60_000
  const filter = window.proxy === undefined ? '' : ' AND proxy = ?'
  const extra = window.proxy === undefined ? [] : [window.proxy]
  const counts = new Map<string, { calls: number; errors: number }>()
  const add = (rows: Array<{ proxy: string; calls: number; errors: number }>) => {
    for (const row of rows) {
      const acc = counts.get(row.proxy) ?? { calls: 0, errors: 0 }
      acc.calls += row.calls
      acc.errors += row.errors
      counts.set(row.proxy, acc)
    }
  }
  add(
    db
      .prepare(
        `SELECT proxy, sum(calls) AS calls, sum(errors) AS errors FROM rollup_minute
         WHERE minute >= ?${filter} GROUP BY proxy`,
      )
      .all(fullFrom, ...extra) as Array<{ proxy: string; calls: number; errors: number }>,
  )
  if (fullFrom > window.since) {
    const kinds = COUNTED_KINDS.map(() => '?').join(', ')
    add(
      db
        .prepare(
          `SELECT proxy, count(*) AS calls, coalesce(sum(status = 'error'), 0) AS errors
           FROM exchanges WHERE ts >= ? AND ts < ? AND kind IN (${kinds})${filter} GROUP BY proxy`,
        )
        .all(window.since, fullFrom, ...COUNTED_KINDS, ...extra) as Array<{
        proxy: string
        calls: number
        errors: number
      }>,
    )
  }
  const totals = (proxy: string | undefined, calls: number, errors: number): StatusTotals => ({
    proxy: proxy ?? null,
    total_requests: calls,
    errors,
    error_pct: pct(errors, calls),
    sessions: sessionCounts(db, { ...window, ...(proxy === undefined ? {} : { proxy }) }),
  })
  let calls = 0
  let errors = 0
  for (const acc of counts.values()) {
    calls += acc.calls
    errors += acc.errors
  }
  return {
    all: totals(window.proxy, calls, errors),
    proxies: [...counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([proxy, acc]) => totals(proxy, acc.calls, acc.errors)),
  }
}
