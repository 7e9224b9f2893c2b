/**
 * The data of each dashboard page, read through the store's report queries (the ones the CLI
 * commands print): one query layer for the terminal and the browser.
 */

import { boundText } from '../store/bound.ts'
import type { Db } from '../store/open.ts'
import { slowestCalls, tailLogs } from '../store/report-logs.ts'
import {
  schemaChanges,
  schemaProxies,
  schemaReport,
  toolSchemas,
  toolUsage,
} from '../store/report-schema.ts'
import { errorGroups, latencySeries } from '../store/report-series.ts'
import {
  type ClientRow,
  findSessions,
  listClients,
  listSessions,
  sessionFlow,
} from '../store/report-sessions.ts'
import { statusReport, statusTotals, type TargetStats } from '../store/report-status.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { BadRequest, type Params } from './query.ts'

export type Page = (db: Db, params: Params, now: number) => unknown

const TARGET_KINDS = ['tool', 'resource', 'prompt', ''] as const
/**
 * Rows of each kind the targets page gets (the most called), and clients the clients page gets
 * (the most active): `portico status` and `portico clients` list them all.
 */
/** A session's calls the page draws at most (its timeline says when there are more). */
const SESSION_CALLS_SHOWN = 2000

const TARGETS_SHOWN = 500

/** Sessions, calls and errors of every platform among `rows` (a client's platform is its family). */
function platformTotals(rows: readonly ClientRow[]) {
  const platforms = new Map<
    string,
    { platform: string; sessions: number; calls: number; errors: number }
  >()
  for (const row of rows) {
    const p = platforms.get(row.platform) ?? {
      platform: row.platform,
      sessions: 0,
      calls: 0,
      errors: 0,
    }
    p.sessions += row.sessions
    p.calls += row.calls
    p.errors += row.errors
    platforms.set(row.platform, p)
  }
  return [...platforms.values()]
}

/**
 * A name to filter by, as the store recorded it: cut to a prefix and a hash when long
 * (store/bound.ts), so that a tool of 250 or 5,000 characters is found; a studio asking for
 * its call's record by the whole name got a 400 past 200 characters.
 */
function recordedName(params: Params, name: string): string | undefined {
  const value = params.string(name, MAX_FILTER_TEXT)
  return value === undefined ? undefined : boundText(value)
}

/** The longest name a filter takes (a URL's length bounds it anyway). */
const MAX_FILTER_TEXT = 16_384

/** The `proxy` asked for, when the store knows it (else 404; none asked: undefined). */
export function proxyOf(db: Db, params: Params): string | undefined {
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

export const PAGES: Readonly<Record<string, Page>> = lookupTable({
  proxies: (db) => ({
    proxies: db.prepare('SELECT name, first_seen, last_seen FROM proxies ORDER BY name').all(),
  }),

  overview: (db, params, now) => {
    const w = window(db, params, now)
    const { all, proxies } = statusTotals(db, w)
    return {
      ...all,
      since: w.since,
      per_proxy: w.proxy === undefined && proxies.length > 1 ? proxies : [],
      series: latencySeries(db, w),
    }
  },

  targets: (db, params, now) => {
    const { tools, resources, prompts, methods } = statusReport(db, window(db, params, now))
    // The most called of each kind, and how many there are: every name a client calls is
    // recorded, made-up ones too, and 200,000 of them made an 89 MB answer whose decoding and
    // encoding held the proxy's thread for half a second.
    const top = (rows: readonly TargetStats[]) => rows.slice(0, TARGETS_SHOWN)
    return {
      tools: top(tools),
      resources: top(resources),
      prompts: top(prompts),
      methods: top(methods),
      counts: {
        tools: tools.length,
        resources: resources.length,
        prompts: prompts.length,
        methods: methods.length,
      },
    }
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
      slowest: slowestCalls(db, { ...w, target, limit: 10 }),
      failed: tailLogs(db, { ...w, target, status: 'error' }, 20).reverse(),
    }
  },

  errors: (db, params, now) => {
    const w = window(db, params, now)
    const limit = params.integer('limit', 200, 1, 1000)
    // One more than shown: whether the window holds more is said (as for sessions).
    const groups = errorGroups(db, { ...w, limit: limit + 1 })
    return { groups: groups.slice(0, limit), more: groups.length > limit }
  },

  /** `portico logs`: the last matching exchanges, oldest first (the studio shows its own call). */
  logs: (db, params, now) => {
    const w = window(db, params, now)
    const tool = recordedName(params, 'tool')
    const client = recordedName(params, 'client')
    const status = params.oneOf('status', ['ok', 'error'] as const)
    const filter = {
      ...w,
      ...(tool === undefined ? {} : { tool }),
      ...(client === undefined ? {} : { client }),
      ...(status === undefined ? {} : { status }),
    }
    return { calls: tailLogs(db, filter, params.integer('limit', 50, 1, 1000)) }
  },

  sessions: (db, params, now) => {
    const w = window(db, params, now)
    const client = recordedName(params, 'client')
    const limit = params.integer('limit', 200, 1, 1000)
    // One more than shown: whether the window holds more is said, not left out in silence.
    const rows = listSessions(db, {
      ...w,
      limit: limit + 1,
      ...(params.string('active') === '1' ? { active: true } : {}),
      ...(client === undefined ? {} : { client }),
    })
    return { sessions: rows.slice(0, limit), more: rows.length > limit }
  },

  session: (db, params, now) => {
    const id = params.required('id')
    const proxy = proxyOf(db, params)
    const found = findSessions(db, id, now, proxy).filter((s) => s.session_id === id)
    const session = found[0]
    if (session === undefined) throw new BadRequest(`id: no session "${id}" in the store`, 404)
    // Its latest calls, oldest first (one more than shown: whether there are more is said).
    const calls = sessionFlow(db, session, SESSION_CALLS_SHOWN + 1)
    const more = calls.length > SESSION_CALLS_SHOWN
    return { session, calls: more ? calls.slice(1) : calls, more }
  },

  clients: (db, params, now) => {
    const w = window(db, params, now, '24h')
    const rows = listClients(db, w.since, w.proxy)
    // The most active, their count and every platform's totals: any client may name itself
    // anything, and 1,500 made-up names were a 560 KB answer drawn row by row.
    return {
      clients: rows.slice(0, TARGETS_SHOWN),
      count: rows.length,
      platforms: platformTotals(rows),
    }
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
})

/** The page `name` over `db`, or a 404 naming it (one lookup for both ways pages are run). */
export function answerPage(db: Db, name: string, params: Params, now: number): unknown {
  const page = Object.hasOwn(PAGES, name) ? PAGES[name] : undefined
  if (page === undefined) throw new BadRequest(`no dashboard API "${name}"`, 404)
  return page(db, params, now)
}
