/**
 * `portico logs` and `portico slow` data: exchange rows filtered by time, proxy, method,
 * tool, session prefix, client and status; slow calls ordered by latency.
 */
import { boundPrefix, boundText } from './bound.ts'
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
  /** The verified caller (auth on), never a token. */
  subject: string | null
  /** The OAuth client of the caller's token. */
  auth_client: string | null
  /** `tunnel` when the request came through the tunnel; null for local traffic. */
  via: string | null
}

export interface LogFilter {
  since?: number
  proxy?: string
  tool?: string
  /** Only this target of any kind (`tool`, `resource`, `prompt`). */
  target?: { kind: string; name: string }
  method?: string
  /** Sessions whose id starts with this. */
  sessionPrefix?: string
  /** Exactly this session. */
  sessionId?: string
  client?: string
  /** Only this verified caller. */
  user?: string
  /** `timeout`: the calls that failed because the upstream did not answer in time (mcpr). */
  status?: 'ok' | 'error' | 'timeout'
  /** Only JSON-RPC errors with this code (mcpr's `--error-code`). */
  errorCode?: number
  /** Only traffic that came through the tunnel, or only local traffic. */
  via?: 'tunnel' | 'local'
  /** Only requests at least this slow (`slow --follow`, as `slow` counts), in microseconds. */
  minLatencyUs?: number
}

/** A prefix matching more sessions than this is narrowed to the most recent ones. */
const MAX_PREFIX_SESSIONS = 500

const COLUMNS = `id, ts, proxy, session_id, client_name, platform, era, kind, method, target_kind,
  name, jsonrpc_id, status, outcome, error_code, error_message, reason, http_status, latency_us,
  bytes_in, bytes_out, subject, auth_client, via`

/** The largest character, so `prefix ≤ id < prefix + MAX` is an index-friendly prefix match. */
const MAX_CHAR = '\u{10FFFF}'

/**
 * Exchange rows have no session index (it cost a quarter of the writer's time per row). The
 * sessions table stands in for it: a session filter becomes the matching session ids plus the
 * earliest start among them, so the query walks the time index from there.
 */
function where(db: Db, filter: LogFilter): { sql: string; args: unknown[] } {
  const sessions = sessionsOf(db, filter)
  if (sessions === undefined) return plainWhere(filter)
  if (sessions.ids.length === 0) return { sql: 'WHERE 0', args: [] }
  const since = Math.max(filter.since ?? sessions.since, sessions.since)
  const { sql, args } = plainWhere({ ...filter, since })
  const marks = sessions.ids.map(() => '?').join(', ')
  return { sql: `${sql} AND session_id IN (${marks})`, args: [...args, ...sessions.ids] }
}

function sessionsOf(db: Db, filter: LogFilter): { ids: string[]; since: number } | undefined {
  const { sessionId, sessionPrefix, proxy } = filter
  if (sessionId === undefined && sessionPrefix === undefined) return undefined
  const match = sessionId !== undefined ? 'session_id = ?' : 'session_id >= ? AND session_id < ?'
  // As the store keeps them: a long id as its start and a hash (store/bound.ts).
  const prefix = boundPrefix(sessionPrefix ?? '')
  const args: unknown[] =
    sessionId !== undefined ? [boundText(sessionId)] : [prefix, `${prefix}${MAX_CHAR}`]
  if (proxy !== undefined) args.push(proxy)
  const rows = db
    .prepare(
      `SELECT session_id, started_at FROM sessions WHERE ${match}${proxy === undefined ? '' : ' AND proxy = ?'}
       ORDER BY last_seen_at DESC LIMIT ${MAX_PREFIX_SESSIONS}`,
    )
    .all(...args) as { session_id: string; started_at: number }[]
  return {
    ids: [...new Set(rows.map((row) => row.session_id))],
    since: Math.min(...rows.map((row) => row.started_at)),
  }
}

function plainWhere(filter: LogFilter): { sql: string; args: unknown[] } {
  const parts: string[] = []
  const args: unknown[] = []
  const add = (sql: string, ...values: unknown[]) => {
    parts.push(sql)
    args.push(...values)
  }
  // Names are compared as the store keeps them: a long one as its start and a hash
  // (store/bound.ts), so the whole name a user copies finds its rows.
  if (filter.since !== undefined) add('ts >= ?', filter.since)
  if (filter.proxy !== undefined) add('proxy = ?', boundText(filter.proxy))
  if (filter.tool !== undefined) add("target_kind = 'tool' AND name = ?", boundText(filter.tool))
  if (filter.target !== undefined)
    add('target_kind = ? AND name = ?', filter.target.kind, boundText(filter.target.name))
  if (filter.method !== undefined) add('method = ?', boundText(filter.method))
  if (filter.client !== undefined)
    add('(client_name = ? OR platform = ?)', boundText(filter.client), filter.client)
  if (filter.user !== undefined) add('subject = ?', boundText(filter.user))
  if (filter.status === 'timeout') add("reason = 'upstream_timeout'")
  else if (filter.status !== undefined) add('status = ?', filter.status)
  if (filter.errorCode !== undefined) add('error_code = ?', filter.errorCode)
  if (filter.via === 'tunnel') add("via = 'tunnel'")
  else if (filter.via === 'local') add('via IS NULL')
  if (filter.minLatencyUs !== undefined)
    add("kind = 'request' AND latency_us >= ?", filter.minLatencyUs)
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args }
}

/**
 * The last `tail` matching rows, oldest first, in time order. Rows are written when an
 * exchange ends, so a long call is stored after shorter ones that started later: ordering by
 * row id would show it out of place. The time index holds the row id, so `ts, id` is walked
 * straight from it.
 */
export function tailLogs(db: Db, filter: LogFilter, tail: number): ExchangeRow[] {
  const { sql, args } = where(db, filter)
  const rows = db
    .prepare(`SELECT ${COLUMNS} FROM exchanges ${sql} ORDER BY ts DESC, id DESC LIMIT ?`)
    .all(...args, tail) as ExchangeRow[]
  return rows.reverse()
}

/** Rows one query of `eachTailLog` reads. */
const TAIL_PAGE_ROWS = 1000

/**
 * The last `tail` matching rows (of those up to row `upToId`, when given), oldest first, a page
 * at a time: where the tail starts is found first (the `tail`-th newest row), then the rows from
 * there are read in pages, so a tail of a million rows holds one page, not all of them (`logs
 * --tail 1000000` held 2.3 GB and printed nothing for ten minutes). Each page is its own query,
 * continuing after the last row of the one before: one statement iterated across the pages kept
 * its read transaction open while the caller waited on a pipe, and no checkpoint could pass it
 * (the writer's WAL file grew without bound behind a `logs | less` left open).
 */
export function* eachTailLog(
  db: Db,
  filter: LogFilter,
  tail: number,
  upToId?: number,
): Generator<ExchangeRow> {
  if (tail <= 0) return
  const { sql, args } = tailRange(db, filter, tail, upToId)
  const after = `${sql ? `${sql} AND` : 'WHERE'} ts >= ? AND (ts > ? OR id > ?)`
  const first = db.prepare(`SELECT ${COLUMNS} FROM exchanges ${sql} ORDER BY ts, id LIMIT ?`)
  const next = db.prepare(`SELECT ${COLUMNS} FROM exchanges ${after} ORDER BY ts, id LIMIT ?`)
  let page = first.all(...args, TAIL_PAGE_ROWS) as ExchangeRow[]
  while (page.length > 0) {
    yield* page
    const last = page.at(-1) as ExchangeRow
    if (page.length < TAIL_PAGE_ROWS) return
    page = next.all(...args, last.ts, last.ts, last.id, TAIL_PAGE_ROWS) as ExchangeRow[]
  }
}

/** Whether a row of that tail names a user (so `logs` shows the USER column), without reading it. */
export function tailNamesUser(db: Db, filter: LogFilter, tail: number, upToId?: number): boolean {
  if (tail <= 0) return false
  const { sql, args } = tailRange(db, filter, tail, upToId)
  const clause = `${sql ? `${sql} AND` : 'WHERE'} subject IS NOT NULL`
  return db.prepare(`SELECT 1 FROM exchanges ${clause} LIMIT 1`).get(...args) !== undefined
}

/** The WHERE clause of the last `tail` matching rows up to row `upToId`. */
function tailRange(
  db: Db,
  filter: LogFilter,
  tail: number,
  upToId: number | undefined,
): { sql: string; args: unknown[] } {
  const { sql, args } = where(db, filter)
  const bounded = upToId === undefined ? sql : `${sql ? `${sql} AND` : 'WHERE'} id <= ?`
  const bounds = upToId === undefined ? args : [...args, upToId]
  const start = db
    .prepare(`SELECT ts, id FROM exchanges ${bounded} ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?`)
    .get(...bounds, tail - 1) as { ts: number; id: number } | undefined
  if (start === undefined) return { sql: bounded, args: bounds }
  // `ts >= ?` first, so that the time index bounds the scan; the rest breaks ties by id.
  return {
    sql: `${bounded ? `${bounded} AND` : 'WHERE'} ts >= ? AND (ts > ? OR id >= ?)`,
    args: [...bounds, start.ts, start.ts, start.id],
  }
}

/**
 * Matching rows written after row `afterId` (for `--follow`), in time order among themselves,
 * and the id to continue after.
 */
export function logsAfter(
  db: Db,
  filter: LogFilter,
  afterId: number,
  limit = 1000,
): { rows: ExchangeRow[]; lastId: number } {
  const { sql, args } = where(db, { ...filter, since: undefined })
  const clause = sql ? `${sql} AND id > ?` : 'WHERE id > ?'
  const rows = db
    .prepare(`SELECT ${COLUMNS} FROM exchanges ${clause} ORDER BY id LIMIT ?`)
    .all(...args, afterId, limit) as ExchangeRow[]
  const lastId = rows.at(-1)?.id ?? afterId
  return { rows: rows.sort((a, b) => a.ts - b.ts || a.id - b.id), lastId }
}

/**
 * Every matching row written after row `afterId`, handed to `show` a page at a time (so a
 * follow catches up in one poll however many rows came, without holding them all), and the id
 * to continue after.
 */
export function eachLogPageAfter(
  db: Db,
  filter: LogFilter,
  afterId: number,
  show: (rows: ExchangeRow[]) => void,
  pageSize = 1000,
): number {
  let last = afterId
  for (;;) {
    const page = logsAfter(db, filter, last, pageSize)
    last = page.lastId
    if (page.rows.length > 0) show(page.rows)
    if (page.rows.length < pageSize) return last
  }
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
  const base = where(db, {
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

/**
 * The slowest requests of one target in the window, slowest first. The rollups know each
 * minute's slowest call, so only the `limit` minutes with the largest maxima (and the partial
 * first minute) are read: the slowest calls can be in no other minute.
 */
export function slowestCalls(
  db: Db,
  filter: { since: number; proxy?: string; target: { kind: string; name: string }; limit: number },
): ExchangeRow[] {
  const first = Math.floor(filter.since / 60_000) * 60_000
  const proxy = filter.proxy === undefined ? '' : ' AND proxy = ?'
  const extra = filter.proxy === undefined ? [] : [filter.proxy]
  const minutes = db
    .prepare(
      `SELECT minute FROM rollup_minute WHERE minute >= ? AND target_kind = ? AND name = ?${proxy}
       GROUP BY minute ORDER BY max(max_us) DESC LIMIT ?`,
    )
    .pluck()
    // One more: the partial first minute's maximum may be a call from before the window.
    .all(first, filter.target.kind, filter.target.name, ...extra, filter.limit + 1) as number[]
  if (!minutes.includes(first)) minutes.push(first)
  const { sql, args } = plainWhere({
    since: filter.since,
    target: filter.target,
    ...(filter.proxy === undefined ? {} : { proxy: filter.proxy }),
  })
  const within = minutes.map(() => '(ts >= ? AND ts < ?)').join(' OR ')
  return db
    .prepare(
      `SELECT ${COLUMNS} FROM exchanges ${sql} AND kind = 'request' AND (${within})
       ORDER BY latency_us DESC LIMIT ?`,
    )
    .all(...args, ...minutes.flatMap((m) => [m, m + 60_000]), filter.limit) as ExchangeRow[]
}
