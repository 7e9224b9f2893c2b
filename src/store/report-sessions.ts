/** `portico sessions`, `portico session ID` and `portico clients` data. */

import { boundPrefix, boundText } from './bound.ts'
import type { Db } from './open.ts'
import { type ExchangeRow, tailLogs } from './report-logs.ts'
import { ACTIVE_WINDOW_MS } from './report-status.ts'

export interface SessionRow {
  proxy: string
  session_id: string
  era: string
  client_name: string | null
  client_version: string | null
  platform: string | null
  user_agent: string | null
  protocol_version: string | null
  started_at: number
  last_seen_at: number
  ended_at: number | null
  calls: number
  errors: number
  active: boolean
  /** True when Portico grouped the session itself (stateless requests carry no session id). */
  grouped: boolean
}

/** The clients report's name for sessions that sent no client info. */
const UNKNOWN_CLIENT = '(unknown)'

interface RawSession extends Omit<SessionRow, 'active' | 'grouped'> {
  group_key: string | null
}

export interface SessionFilter {
  since: number
  now: number
  proxy?: string
  active?: boolean
  client?: string
  limit: number
}

function toRow(raw: RawSession, now: number): SessionRow {
  const { group_key, ...rest } = raw
  return {
    ...rest,
    active: raw.ended_at === null && raw.last_seen_at >= now - ACTIVE_WINDOW_MS,
    grouped: group_key !== null,
  }
}

export function listSessions(db: Db, filter: SessionFilter): SessionRow[] {
  const parts = ['last_seen_at >= ?']
  const args: unknown[] = [filter.since]
  if (filter.proxy !== undefined) {
    parts.push('proxy = ?')
    args.push(boundText(filter.proxy))
  }
  if (filter.active) {
    parts.push('ended_at IS NULL AND last_seen_at >= ?')
    args.push(filter.now - ACTIVE_WINDOW_MS)
  }
  if (filter.client === UNKNOWN_CLIENT) {
    // The clients report's name for sessions without client info (`CLIENT_GROUP`): its row
    // opens these sessions (it matched no stored name and opened an empty list).
    parts.push("(client_name IS NULL OR client_name = '' OR platform = ?)")
    args.push(filter.client)
  } else if (filter.client !== undefined) {
    // A long name as the store keeps it (store/bound.ts).
    parts.push('(client_name = ? OR platform = ?)')
    args.push(boundText(filter.client), filter.client)
  }
  const rows = db
    .prepare(`SELECT * FROM sessions WHERE ${parts.join(' AND ')} ORDER BY started_at DESC LIMIT ?`)
    .all(...args, filter.limit) as RawSession[]
  return rows.map((row) => toRow(row, filter.now))
}

/** The session whose id is `prefix`, else those it begins (at most a few, to explain an ambiguous prefix). */
export function findSessions(db: Db, prefix: string, now: number, proxy?: string): SessionRow[] {
  const onProxy = proxy === undefined ? '' : ' AND proxy = ?'
  const withProxy = (args: unknown[]) => (proxy === undefined ? args : [...args, proxy])
  // A whole id is that session, however many others it begins (an upstream numbering its
  // sessions 1, 2, … 15: "1" was five of 1, 10…15, and the exact one often not among them).
  const exact = db
    .prepare(
      `SELECT * FROM sessions WHERE session_id = ?${onProxy} ORDER BY last_seen_at DESC LIMIT 5`,
    )
    .all(...withProxy([boundText(prefix)])) as RawSession[]
  // A long id is kept as its start and a hash (store/bound.ts): its start is what compares.
  const start = boundPrefix(prefix)
  const rows =
    exact.length > 0
      ? exact
      : (db
          .prepare(
            `SELECT * FROM sessions WHERE session_id >= ? AND session_id < ?${onProxy} ORDER BY last_seen_at DESC LIMIT 5`,
          )
          .all(...withProxy([start, `${start}\u{10FFFF}`])) as RawSession[])
  return rows.map((row) => toRow(row, now))
}

/** Every exchange of one session, in order (capped). */
export function sessionFlow(db: Db, session: SessionRow, limit = 10_000): ExchangeRow[] {
  return tailLogs(db, { proxy: session.proxy, sessionId: session.session_id }, limit)
}

export interface ClientRow {
  client_name: string
  client_version: string
  platform: string
  sessions: number
  calls: number
  errors: number
  error_pct: number
  first_seen: number
  last_seen: number
}

/**
 * A client is a (name, version, platform) seen in sessions; sessions without client info count
 * as `(unknown)`. `store stats` counts clients with the same grouping (`countClients`), so the
 * two never disagree.
 */
const CLIENT_GROUP = `coalesce(client_name, '${UNKNOWN_CLIENT}') AS client_name,
  coalesce(client_version, '') AS client_version,
  coalesce(platform, 'unknown') AS platform`

export function listClients(db: Db, since: number, proxy?: string): ClientRow[] {
  const rows = db
    .prepare(
      `SELECT ${CLIENT_GROUP},
        count(*) AS sessions, sum(calls) AS calls, sum(errors) AS errors,
        min(started_at) AS first_seen, max(last_seen_at) AS last_seen
       FROM sessions WHERE last_seen_at >= ?${proxy === undefined ? '' : ' AND proxy = ?'}
       GROUP BY 1, 2, 3 ORDER BY calls DESC, client_name`,
    )
    .all(...(proxy === undefined ? [since] : [since, proxy])) as Omit<ClientRow, 'error_pct'>[]
  return rows.map((row) => ({
    ...row,
    error_pct: row.calls === 0 ? 0 : Math.round((row.errors / row.calls) * 1000) / 10,
  }))
}

/** How many rows `listClients` would list over all time (all proxies, or one). */
export function countClients(db: Db, proxy?: string): number {
  return countClientsOf(
    db,
    proxy === undefined ? '' : 'proxy = ?',
    proxy === undefined ? [] : [proxy],
  )
}

/** How many clients, as `listClients` groups them, the sessions `where` selects hold. */
export function countClientsOf(db: Db, where: string, args: readonly unknown[]): number {
  return db
    .prepare(
      `SELECT count(*) FROM (SELECT ${CLIENT_GROUP} FROM sessions${where === '' ? '' : ` WHERE ${where}`} GROUP BY 1, 2, 3)`,
    )
    .pluck()
    .get(...args) as number
}
