/**
 * The data of each dashboard page, read through the store's report queries (the ones the CLI
 * commands print): one query layer for the terminal and the browser.
 */

import type { Db } from '../store/open.ts'
import { slowCalls, tailLogs } from '../store/report-logs.ts'
import {
  schemaChanges,
  schemaProxies,
  schemaReport,
  toolSchemas,
  toolUsage,
} from '../store/report-schema.ts'
import { errorGroups, latencySeries } from '../store/report-series.ts'
import { findSessions, listClients, listSessions, sessionFlow } from '../store/report-sessions.ts'
import { statusReport } from '../store/report-status.ts'
import { BadRequest, type Params } from './query.ts'

export type Page = (db: Db, params: Params, now: number) => unknown

const TARGET_KINDS = ['tool', 'resource', 'prompt', ''] as const

function proxyOf(db: Db, params: Params): string | undefined {
  const proxy = params.string('proxy', 200)
  if (proxy === undefined) return undefined
  const known = db.prepare('SELECT 1 FROM proxies WHERE name = ?').pluck().get(proxy)
  if (known === undefined)
    throw new BadRequest(`proxy: the store has no records of "${proxy}"`, 404)
  return proxy
}

function window(db: Db, params: Params, now: number, fallback = '1h') {
  const proxy = proxyOf(db, params)
  return { since: params.since(now, fallback), now, ...(proxy === undefined ? {} : { proxy }) }
}

export const PAGES: Readonly<Record<string, Page>> = {
  proxies: (db) => ({
    proxies: db.prepare('SELECT name, first_seen, last_seen FROM proxies ORDER BY name').all(),
  }),

  overview: (db, params, now) => {
    const w = window(db, params, now)
    const status = statusReport(db, w)
    const proxies = db.prepare('SELECT name FROM proxies ORDER BY name').pluck().all() as string[]
    const perProxy =
      w.proxy !== undefined || proxies.length < 2
        ? []
        : proxies.map((proxy) => {
            const one = statusReport(db, { ...w, proxy })
            return {
              proxy,
              total_requests: one.total_requests,
              errors: one.errors,
              error_pct: one.error_pct,
              sessions: one.sessions,
            }
          })
    const { tools, resources, prompts, methods, ...totals } = status
    return { ...totals, per_proxy: perProxy, series: latencySeries(db, w) }
  },

  targets: (db, params, now) => {
    const { tools, resources, prompts, methods } = statusReport(db, window(db, params, now))
    return { tools, resources, prompts, methods }
  },

  target: (db, params, now) => {
    const w = window(db, params, now)
    const kind = params.oneOf('kind', TARGET_KINDS) ?? 'tool'
    const name = params.required('name')
    const target = { kind, name }
    return {
      kind,
      name,
      series: latencySeries(db, { ...w, target }),
      slowest: slowCalls(db, { ...w, target, thresholdUs: 0, limit: 10 }).rows,
      failed: tailLogs(db, { ...w, target, status: 'error' }, 20).reverse(),
    }
  },

  errors: (db, params, now) => {
    const w = window(db, params, now)
    return { groups: errorGroups(db, { ...w, limit: params.integer('limit', 200, 1, 1000) }) }
  },

  sessions: (db, params, now) => {
    const w = window(db, params, now)
    const client = params.string('client', 200)
    return {
      sessions: listSessions(db, {
        ...w,
        limit: params.integer('limit', 200, 1, 1000),
        ...(params.string('active') === '1' ? { active: true } : {}),
        ...(client === undefined ? {} : { client }),
      }),
    }
  },

  session: (db, params, now) => {
    const id = params.required('id')
    const proxy = proxyOf(db, params)
    const found = findSessions(db, id, now, proxy).filter((s) => s.session_id === id)
    const session = found[0]
    if (session === undefined) throw new BadRequest(`id: no session "${id}" in the store`, 404)
    return { session, calls: sessionFlow(db, session, 2000) }
  },

  clients: (db, params, now) => {
    const w = window(db, params, now, '24h')
    return { clients: listClients(db, w.since, w.proxy) }
  },

  schema: (db, params, now) => {
    const w = window(db, params, now, '7d')
    return {
      proxies: schemaProxies(db, w.proxy).map((proxy) => ({
        ...schemaReport(db, proxy),
        tools: toolSchemas(db, proxy),
        usage: toolUsage(db, proxy, w.since),
        changes: schemaChanges(db, { proxy, limit: 200 }),
      })),
    }
  },
}
