/** `portico store stats` data: what the store holds, per proxy, and how big it is on disk. */
import { statSync } from 'node:fs'
import type { Db } from './open.ts'
import { countClients } from './report-sessions.ts'

export interface ProxyStats {
  name: string
  first_seen: number
  last_seen: number
  dropped_events: number
  exchanges: number
}

export interface StoreStats {
  path: string
  schema_version: number
  exchanges: number
  sessions: number
  /** Distinct clients over all time, counted as `portico clients` lists them. */
  clients: number
  schema_changes: number
  oldest: number | null
  newest: number | null
  file_bytes: number
  wal_bytes: number
  proxies: ProxyStats[]
}

export function storeStats(db: Db, path: string): StoreStats {
  const count = (table: string) =>
    db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number
  const range = db
    .prepare('SELECT min(ts) AS oldest, max(ts) AS newest FROM exchange_rows')
    .get() as {
    oldest: number | null
    newest: number | null
  }
  const perProxy = new Map(
    (
      db
        .prepare(
          // Grouped on the interned id first: one string lookup per proxy, not per row.
          `SELECT s.value AS proxy, n FROM
             (SELECT proxy, count(*) AS n FROM exchange_rows GROUP BY proxy)
             JOIN strings s ON s.id = proxy`,
        )
        .all() as {
        proxy: string
        n: number
      }[]
    ).map((row) => [row.proxy, row.n]),
  )
  const proxies = (
    db.prepare('SELECT * FROM proxies ORDER BY name').all() as Omit<ProxyStats, 'exchanges'>[]
  ).map((row) => ({ ...row, exchanges: perProxy.get(row.name) ?? 0 }))
  return {
    path,
    schema_version: Number(db.pragma('user_version', { simple: true })),
    exchanges: count('exchange_rows'),
    sessions: count('sessions'),
    clients: countClients(db),
    schema_changes: count('schema_changes'),
    oldest: range.oldest,
    newest: range.newest,
    file_bytes: sizeOf(path),
    wal_bytes: sizeOf(`${path}-wal`),
    proxies,
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}
