/**
 * `portico logs` and `portico slow` data: exchange rows filtered by time, proxy, method,
 * tool, session prefix, client and status; slow calls ordered by latency.
 */
import type { Db } from './open.ts'

export interface ExchangeRow {
  id: number
  ts: number
  proxy: string
  session_id: string | null
  client_name: string | null
  platform: string | null
  era: string
  kind: string
  method: string
  target_kind: string | null
  name: string | null
  jsonrpc_id: string | null
  status: string
  outcome: string
  error_code: number | null
  error_message: string | null
  reason: string | null
  http_status: number
  latency_us: number
  bytes_in: number
  bytes_out: number
}

export interface LogFilter {
  since?: number
  proxy?: string
  tool?: string
  method?: string
  sessionPrefix?: string
  client?: string
  status?: 'ok' | 'error'
}

const COLUMNS = `id, ts, proxy, session_id, client_name, platform, era, kind, method, target_kind,
  name, jsonrpc_id, status, outcome, error_code, error_message, reason, http_status, latency_us,
  bytes_in, bytes_out`

/** The largest character, so `prefix ≤ id < prefix + MAX` is an index-friendly prefix match. */
const MAX_CHAR = '\u{10FFFF}'

function where(filter: LogFilter): { sql: string; args: unknown[] } {
  const parts: string[] = []
  const args: unknown[] = []
  const add = (sql: string, ...values: unknown[]) => {
    parts.push(sql)
    args.push(...values)
  }
  if (filter.since !== undefined) add('ts >= ?', filter.since)
  if (filter.proxy !== undefined) add('proxy = ?', filter.proxy)
  if (filter.tool !== undefined) add("target_kind = 'tool' AND name = ?", filter.tool)
  if (filter.method !== undefined) add('method = ?', filter.method)
  if (filter.sessionPrefix !== undefined) {
    add('session_id >= ? AND session_id < ?', filter.sessionPrefix, filter.sessionPrefix + MAX_CHAR)
  }
  if (filter.client !== undefined)
    add('(client_name = ? OR platform = ?)', filter.client, filter.client)
  if (filter.status !== undefined) add('status = ?', filter.status)
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args }
}

/** The last `tail` matching rows, oldest first. */
export function tailLogs(db: Db, filter: LogFilter, tail: number): ExchangeRow[] {
  const { sql, args } = where(filter)
  const rows = db
    .prepare(`SELECT ${COLUMNS} FROM exchanges ${sql} ORDER BY id DESC LIMIT ?`)
    .all(...args, tail) as ExchangeRow[]
  return rows.reverse()
}

/** Matching rows written after row `afterId`, oldest first (for `--follow`). */
export function logsAfter(db: Db, filter: LogFilter, afterId: number, limit = 1000): ExchangeRow[] {
  const { sql, args } = where({ ...filter, since: undefined })
  const clause = sql ? `${sql} AND id > ?` : 'WHERE id > ?'
  return db
    .prepare(`SELECT ${COLUMNS} FROM exchanges ${clause} ORDER BY id LIMIT ?`)
    .all(...args, afterId, limit) as ExchangeRow[]
}

/** Id of the newest row, so a follow with nothing to show starts after it. */
export function lastExchangeId(db: Db): number {
  return (db.prepare('SELECT coalesce(max(id), 0) FROM exchanges').pluck().get() as number) ?? 0
}

/**
 * `exchanges` rows as a subquery for an aggregate over them. SQLite leaves out the view's joins
 * on `strings` that a plain query does not use, but not those under an aggregate; `LIMIT -1`
 * keeps the subquery a separate (streamed) query, so only the joins it needs run.
 */
export function rowsOf(columns: string, whereSql: string): string {
  return `(SELECT ${columns} FROM exchanges ${whereSql} LIMIT -1)`
}

export interface SlowFilter {
  since: number
  thresholdUs: number
  proxy?: string
  tool?: string
  limit: number
}

export interface SlowReport {
  rows: ExchangeRow[]
  count: number
  avg_us: number
}

/** Requests at or above the threshold, slowest first, plus how many and their average. */
export function slowCalls(db: Db, filter: SlowFilter): SlowReport {
  const base = where({
    since: filter.since,
    ...(filter.proxy === undefined ? {} : { proxy: filter.proxy }),
    ...(filter.tool === undefined ? {} : { tool: filter.tool }),
  })
  const sql = `${base.sql} AND kind = 'request' AND latency_us >= ?`
  const args = [...base.args, filter.thresholdUs]
  const rows = db
    .prepare(`SELECT ${COLUMNS} FROM exchanges ${sql} ORDER BY latency_us DESC LIMIT ?`)
    .all(...args, filter.limit) as ExchangeRow[]
  const summary = db
    .prepare(
      `SELECT count(*) AS count, coalesce(avg(latency_us), 0) AS avg FROM ${rowsOf('latency_us', sql)}`,
    )
    .get(...args) as { count: number; avg: number }
  return { rows, count: summary.count, avg_us: Math.round(summary.avg) }
}
