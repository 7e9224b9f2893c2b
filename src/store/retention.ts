/**
 * Deleting old records: `portico store prune --older-than 30d` and the `[store] retention`
 * schedule. Deletes in chunks so the proxy's writer never waits long for the lock, then the
 * interned strings no remaining row uses (strings.ts), so text that only old rows carried
 * leaves with them. Schema snapshots and their change history are kept (small, and useful
 * for as long as the proxy runs; the history is bounded per proxy, schema-recorder.ts).
 */
import type { Db } from './open.ts'
import { rowsOf } from './report-logs.ts'
import { countClientsOf } from './report-sessions.ts'
import { pruneStrings } from './strings.ts'

export interface PruneResult {
  exchanges: number
  rollups: number
  sessions: number
  clients: number
  /** Interned strings no row uses any more (not counted by a dry run: 0). */
  strings: number
}

const CHUNK = 5000

export function prune(db: Db, cutoffMs: number, proxy?: string, dryRun = false): PruneResult {
  const where = proxy === undefined ? '' : ' AND proxy = ?'
  const args = (extra: unknown[]) => (proxy === undefined ? extra : [...extra, proxy])
  const rollupCutoff = cutoffMs - (cutoffMs % 60_000)
  const sessionWhere = `coalesce(ended_at, last_seen_at) < ?${where}`
  // Clients as `portico clients` lists them (grouped from the sessions): those whose every
  // session in scope goes. The `clients` table (per proxy, kept by identifying messages) is
  // pruned too, but its rows are not what a user sees: one client through two proxies was
  // two, and a session still calling kept its client listed after it was "deleted".
  const inScope = proxy === undefined ? '' : 'proxy = ?'
  const scopeArgs = proxy === undefined ? [] : [proxy]
  const kept = `NOT (coalesce(ended_at, last_seen_at) < ?)${proxy === undefined ? '' : ' AND proxy = ?'}`
  const clientsGoing = () =>
    countClientsOf(db, inScope, scopeArgs) - countClientsOf(db, kept, args([cutoffMs]))
  if (dryRun) {
    const count = (sql: string, values: unknown[]) =>
      (db
        .prepare(sql)
        .pluck()
        .get(...values) as number) ?? 0
    return {
      exchanges: count(
        `SELECT count(*) FROM ${rowsOf('ts', `WHERE ts < ?${where}`)}`,
        args([cutoffMs]),
      ),
      rollups: count(
        `SELECT count(*) FROM rollup_minute WHERE minute < ?${where}`,
        args([rollupCutoff]),
      ),
      sessions: count(`SELECT count(*) FROM sessions WHERE ${sessionWhere}`, args([cutoffMs])),
      clients: clientsGoing(),
      strings: 0,
    }
  }
  // Rows name their proxy by interned id (see strings.ts); the view resolves it.
  const chunk = db.prepare(
    `DELETE FROM exchange_rows WHERE id IN (SELECT id FROM exchanges WHERE ts < ?${where} LIMIT ${CHUNK})`,
  )
  let exchanges = 0
  for (;;) {
    const { changes } = chunk.run(...args([cutoffMs]))
    exchanges += changes
    if (changes < CHUNK) break
  }
  const rollups = db
    .prepare(`DELETE FROM rollup_minute WHERE minute < ?${where}`)
    .run(...args([rollupCutoff])).changes
  const clients = clientsGoing()
  const sessions = db
    .prepare(`DELETE FROM sessions WHERE ${sessionWhere}`)
    .run(...args([cutoffMs])).changes
  db.prepare(`DELETE FROM clients WHERE last_seen < ?${where}`).run(...args([cutoffMs]))
  const strings = exchanges > 0 ? pruneStrings(db) : 0
  return { exchanges, rollups, sessions, clients, strings }
}
