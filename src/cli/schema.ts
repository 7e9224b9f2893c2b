/**
 * `portico schema`: the server's captured schema (identity, tools, resources, templates,
 * prompts), `--changes` its history, `--unused` the listed tools nobody called in the window.
 */
import type { Command } from 'commander'
import type { Db } from '../store/open.ts'
import {
  type SchemaReport,
  schemaChanges,
  schemaProxies,
  schemaReport,
  type ToolUsage,
  toolUsage,
} from '../store/report-schema.ts'
import { intOption } from './errors.ts'
import {
  formatCount,
  formatTime,
  renderTable,
  truncate,
  useColour,
  writeJsonLines,
} from './format.ts'
import {
  addSince,
  addStoreOptions,
  durationLabel,
  type StoreFlags,
  withStore,
} from './store-options.ts'

interface SchemaFlags extends StoreFlags {
  changes?: boolean
  unused?: boolean
  method?: string
  since?: number
  limit?: number
}

const DEFAULT_SINCE = 7 * 86_400_000

const LABELS: Record<string, string> = {
  'tools/list': 'Tools',
  'resources/list': 'Resources',
  'resources/templates/list': 'Resource Templates',
  'prompts/list': 'Prompts',
}

export function registerSchema(program: Command): void {
  const command = program
    .command('schema')
    .description('The captured server schema; --changes for its history, --unused for idle tools')
    .option('--changes', 'history of schema changes, newest first')
    .option('--unused', 'listed tools and how often they were called in the window')
    .option('--method <method>', 'only this list method (tools/list, prompts/list, …)')
    .option('--limit <n>', 'rows of history to show (default 50)', intOption('--limit'))
  addSince(addStoreOptions(command), '7d').action(async (flags: SchemaFlags) => {
    await withStore(flags, (db) => {
      if (flags.changes) return printChanges(db, flags)
      if (flags.unused) return printUnused(db, flags)
      return printSchema(db, flags)
    })
  })
}

function printSchema(db: Db, flags: SchemaFlags): void {
  const reports = schemaProxies(db, flags.proxy).map((proxy) =>
    schemaReport(db, proxy, flags.method),
  )
  if (flags.json) {
    writeJsonLines(reports)
    return
  }
  if (reports.length === 0) {
    process.stdout.write(
      '(no schema captured yet — a client must call initialize or a list method through Portico)\n',
    )
    return
  }
  process.stdout.write(reports.map((r) => renderSchema(r, reports.length > 1)).join('\n'))
}

export function renderSchema(report: SchemaReport, named: boolean): string {
  const lines: string[] = []
  if (named) lines.push(`PROXY — ${report.proxy}`)
  const server = report.server
  if (server) {
    const version = server.version ? ` v${server.version}` : ''
    const protocol = server.protocol_version ? ` (MCP ${server.protocol_version})` : ''
    lines.push(`Server: ${server.name ?? '(unnamed)'}${version}${protocol}`)
    lines.push(`Capabilities: ${server.capabilities.join(', ') || '(none)'}`)
  } else {
    lines.push('Server: (not captured: no initialize or server/discover seen)')
  }
  lines.push(`Schema: ${report.status}`)
  if (report.last_captured !== null)
    lines.push(`Last captured: ${formatTime(report.last_captured)}`)
  for (const list of report.lists) {
    const stale = list.stale ? '  [stale: list_changed since]' : ''
    lines.push('', `── ${list.method} ──  (captured ${formatTime(list.captured_at)})${stale}`)
    lines.push(`${LABELS[list.method] ?? list.method} (${list.items.length}):`)
    const width = Math.max(0, ...list.items.map((item) => item.key.length))
    for (const item of list.items) {
      const description = item.description
        ? `  —  ${truncate(item.description.replace(/\s+/g, ' '), 60)}`
        : ''
      lines.push(`  ${item.key.padEnd(width)}${description}`.trimEnd())
    }
  }
  return `${lines.join('\n')}\n`
}

function printChanges(db: Db, flags: SchemaFlags): void {
  const rows = schemaChanges(db, {
    limit: flags.limit ?? 50,
    ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    ...(flags.method === undefined ? {} : { method: flags.method }),
    ...(flags.since === undefined ? {} : { since: Date.now() - flags.since }),
  })
  if (flags.json) {
    writeJsonLines(rows.map((row) => ({ time: new Date(row.detected_at).toISOString(), ...row })))
    return
  }
  if (rows.length === 0) {
    process.stdout.write('  (no schema changes recorded)\n')
    return
  }
  const cells = rows.map((row) => [
    formatTime(row.detected_at),
    row.proxy,
    row.method,
    row.change,
    row.item ?? '',
    row.detail ?? '',
  ])
  process.stdout.write(
    renderTable(['TIME', 'PROXY', 'METHOD', 'CHANGE', 'ITEM', 'DETAIL'], cells, {
      align: ['left', 'left', 'left', 'left', 'left', 'left'],
      colour: useColour(),
    }),
  )
}

function printUnused(db: Db, flags: SchemaFlags): void {
  const since = flags.since ?? DEFAULT_SINCE
  const from = Date.now() - since
  const usage = schemaProxies(db, flags.proxy).flatMap((proxy) => toolUsage(db, proxy, from))
  if (flags.json) {
    writeJsonLines(usage)
    return
  }
  process.stdout.write(
    renderUsage(usage, flags.proxy ?? 'all proxies', durationLabel(since), useColour()),
  )
}

export function renderUsage(
  usage: ToolUsage[],
  proxy: string,
  window: string,
  colour: boolean,
): string {
  const unused = usage.filter((u) => u.status === 'unused').length
  const title = `TOOL USAGE — ${proxy} — last ${window}   ${unused}/${usage.length} unused`
  if (usage.length === 0) return `${title}\n\n  (no tools/list captured yet)\n`
  const rows = usage.map((u) => [
    u.tool,
    formatCount(u.calls),
    formatCount(u.errors),
    u.last_called === null ? 'never' : formatTime(u.last_called),
    u.status,
  ])
  const table = renderTable(['TOOL', 'CALLS', 'ERRORS', 'LAST CALLED', 'STATUS'], rows, {
    align: ['left', 'right', 'right', 'left', 'left'],
    colour,
    rowColour: (i) => {
      const status = usage[i]?.status
      return status === 'unused' ? 'yellow' : status === 'errors' ? 'red' : undefined
    },
  })
  return `${title}\n\n${table}\n  ${unused} tool${unused === 1 ? '' : 's'} listed but never called in the last ${window}.\n`
}
