/** `portico schema` data: the captured schema per proxy, its change history, unused tools. */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { boundText } from '../util/bound-text.ts'
import type { Db } from './open.ts'
import { rowsOf } from './report-logs.ts'
import { LIST_METHODS } from './schema-capture.ts'

export interface SchemaItem {
  key: string
  name?: string
  description?: string
}

export interface SchemaList {
  method: string
  captured_at: number
  stale: boolean
  items: SchemaItem[]
}

export interface SchemaReport {
  proxy: string
  server: {
    name?: string
    version?: string
    protocol_version?: string
    capabilities: string[]
    captured_at: number
  } | null
  /** unknown: nothing captured; complete: server identity and at least one list; else partial. */
  status: 'unknown' | 'partial' | 'complete'
  last_captured: number | null
  lists: SchemaList[]
}

interface SnapshotRow {
  proxy: string
  method: string
  captured_at: number
  payload: string
  stale: number
}

/** Proxies that have anything captured, or just `proxy` when given. */
export function schemaProxies(db: Db, proxy?: string): string[] {
  if (proxy !== undefined) return [proxy]
  return db
    .prepare('SELECT DISTINCT proxy FROM schema_snapshots ORDER BY proxy')
    .pluck()
    .all() as string[]
}

export function schemaReport(db: Db, proxy: string, method?: string): SchemaReport {
  const rows = db
    .prepare('SELECT * FROM schema_snapshots WHERE proxy = ? ORDER BY method')
    .all(proxy) as SnapshotRow[]
  const servers = rows
    .filter((r) => r.method === 'initialize' || r.method === 'server/discover')
    .sort((a, b) => b.captured_at - a.captured_at)
  const lists = rows
    .filter((r) => LIST_METHODS[r.method] && (method === undefined || r.method === method))
    .map(toList)
  const server = servers[0] ? toServer(servers[0]) : null
  const anyList = rows.some((r) => LIST_METHODS[r.method])
  return {
    proxy,
    server,
    status: rows.length === 0 ? 'unknown' : server && anyList ? 'complete' : 'partial',
    last_captured: rows.length ? Math.max(...rows.map((r) => r.captured_at)) : null,
    lists,
  }
}

/**
 * A captured payload, or undefined when it is not JSON (a damaged or hand-edited store): a
 * report shows what it could read of the others rather than stopping on a stack trace.
 */
function readPayload(text: unknown): unknown {
  if (typeof text !== 'string') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function toServer(row: SnapshotRow): NonNullable<SchemaReport['server']> {
  const read = readPayload(row.payload)
  const payload: JsonObject = isObject(read) ? read : {}
  const info = isObject(payload.serverInfo) ? payload.serverInfo : {}
  const versions = Array.isArray(payload.supportedVersions) ? payload.supportedVersions : []
  const protocol =
    typeof payload.protocolVersion === 'string' ? payload.protocolVersion : versions.at(-1)
  return {
    ...(typeof info.name === 'string' ? { name: info.name } : {}),
    ...(typeof info.version === 'string' ? { version: info.version } : {}),
    ...(typeof protocol === 'string' ? { protocol_version: protocol } : {}),
    capabilities: isObject(payload.capabilities) ? Object.keys(payload.capabilities).sort() : [],
    captured_at: row.captured_at,
  }
}

function toList(row: SnapshotRow): SchemaList {
  const payload = readPayload(row.payload)
  const key = LIST_METHODS[row.method]?.key ?? 'name'
  const items = (Array.isArray(payload) ? payload : []).filter(isObject).map((item) => ({
    key: String(item[key]),
    ...(typeof item.name === 'string' ? { name: item.name } : {}),
    ...(typeof item.description === 'string' ? { description: item.description } : {}),
  }))
  return { method: row.method, captured_at: row.captured_at, stale: row.stale === 1, items }
}

export interface ChangeRow {
  id: number
  proxy: string
  detected_at: number
  method: string
  change: string
  item: string | null
  detail: string | null
}

export function schemaChanges(
  db: Db,
  options: { proxy?: string; method?: string; since?: number; limit: number },
): ChangeRow[] {
  const parts: string[] = []
  const args: unknown[] = []
  if (options.proxy !== undefined) {
    parts.push('proxy = ?')
    args.push(options.proxy)
  }
  if (options.method !== undefined) {
    parts.push('method = ?')
    args.push(options.method)
  }
  if (options.since !== undefined) {
    parts.push('detected_at >= ?')
    args.push(options.since)
  }
  const where = parts.length ? `WHERE ${parts.join(' AND ')}` : ''
  return db
    .prepare(`SELECT * FROM schema_changes ${where} ORDER BY detected_at DESC, id DESC LIMIT ?`)
    .all(...args, options.limit) as ChangeRow[]
}

export interface ToolUsage {
  proxy: string
  tool: string
  description: string | null
  calls: number
  errors: number
  last_called: number | null
  status: 'unused' | 'errors' | 'ok'
}

/** Every tool of the captured `tools/list`, with its calls in the window; least used first. */
export function toolUsage(db: Db, proxy: string, since: number): ToolUsage[] {
  const tools = toolSchemas(db, proxy)
  if (tools.length === 0) return []
  const usage = new Map(
    (
      db
        .prepare(
          `SELECT name, count(*) AS calls, sum(status = 'error') AS errors, max(ts) AS last
           FROM ${rowsOf('name, status, ts', "WHERE target_kind = 'tool' AND name IS NOT NULL AND ts >= ? AND proxy = ?")}
           GROUP BY name`,
        )
        .all(since, proxy) as { name: string; calls: number; errors: number; last: number }[]
    ).map((row) => [row.name, row]),
  )
  return tools
    .map((tool): ToolUsage => {
      const name = String(tool.name)
      // Calls are recorded under the bounded name (store/bound.ts): looked up the same way, or
      // a tool whose name is over 256 characters was "unused" however often it was called.
      const used = usage.get(boundText(name))
      const calls = used?.calls ?? 0
      const errors = used?.errors ?? 0
      return {
        proxy,
        tool: name,
        description: typeof tool.description === 'string' ? tool.description : null,
        calls,
        errors,
        last_called: used?.last ?? null,
        status: calls === 0 ? 'unused' : errors > 0 ? 'errors' : 'ok',
      }
    })
    .sort((a, b) => a.calls - b.calls || a.tool.localeCompare(b.tool))
}

/** The tools of the captured `tools/list` of a proxy as the server sent them (with schemas). */
export function toolSchemas(db: Db, proxy: string): JsonObject[] {
  const snapshot = db
    .prepare("SELECT payload FROM schema_snapshots WHERE proxy = ? AND method = 'tools/list'")
    .pluck()
    .get(proxy) as string | undefined
  const tools = readPayload(snapshot)
  return Array.isArray(tools) ? tools.filter(isObject) : []
}
