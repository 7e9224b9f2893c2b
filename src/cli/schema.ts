/**
 * `portico schema` (declared in commands/schema.ts): the server's captured schema (identity,
 * tools, resources, templates, prompts), `--changes` its history, `--unused` the listed tools
 * nobody called in the window, `--usage` every listed tool with its calls.
 */
import type { Db } from '../store/open.ts'
import {
  type SchemaReport,
  schemaChanges,
  schemaProxies,
  schemaReport,
  type ToolUsage,
  toolUsage,
} from '../store/report-schema.ts'
import { printable } from '../util/format.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { displayWidth, padEndWidth } from '../util/text-width.ts'
import {
  formatCount,
  formatTime,
  isoTime,
  middleTruncate,
  renderTable,
  truncate,
  useColour,
  writeJsonLines,
} from './format.ts'
import { withStore } from './store-access.ts'
import { durationLabel, type StoreFlags } from './store-options.ts'

export interface SchemaFlags extends StoreFlags {
  changes?: boolean
  unused?: boolean
  usage?: boolean
  method?: string
  since?: number
  limit?: number
}

const DEFAULT_SINCE = 7 * 86_400_000
/** A tool's (prompt's, resource's) name in a column: cut in the middle past this many cells. */
const NAME_CELLS = 64
/** A server's or proxy's name on a line of its own. */
const LINE_NAME_CELLS = 80

const LABELS: Record<string, string> = lookupTable({
  'tools/list': 'Tools',
  'resources/list': 'Resources',
  'resources/templates/list': 'Resource Templates',
  'prompts/list': 'Prompts',
})

export async function printSchemaReport(flags: SchemaFlags): Promise<void> {
  await withStore(flags, (db) => {
    if (flags.changes) return printChanges(db, flags)
    if (flags.unused || flags.usage) return printUsage(db, flags, flags.unused === true)
    return printSchema(db, flags)
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
  if (named) lines.push(`PROXY — ${middleTruncate(report.proxy, LINE_NAME_CELLS)}`)
  const server = report.server
  if (server) {
    const version = server.version ? ` v${middleTruncate(server.version, 40)}` : ''
    const protocol = server.protocol_version
      ? ` (MCP ${middleTruncate(server.protocol_version, 40)})`
      : ''
    const name =
      server.name === undefined ? '(unnamed)' : middleTruncate(server.name, LINE_NAME_CELLS)
    lines.push(`Server: ${name}${version}${protocol}`)
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
    // Cut in the middle as every report cuts names: one name of thousands of characters
    // padded every row of the list to its width.
    // Escaped first (see below): a name's escape sequence shown as `\x1B` is four cells wide,
    // and padded as one character it pushed its description out of line.
    const keys = list.items.map((item) => middleTruncate(printable(item.key), NAME_CELLS))
    const width = keys.reduce((widest, key) => Math.max(widest, displayWidth(key)), 0)
    list.items.forEach((item, index) => {
      const description = item.description
        ? `  —  ${truncate(item.description.replace(/\s+/g, ' '), 60)}`
        : ''
      lines.push(`  ${padEndWidth(keys[index] ?? '', width)}${description}`.trimEnd())
    })
  }
  // Names, versions and descriptions are the server's words: its escape sequences are shown,
  // not run by the operator's terminal (tables do the same in every report).
  return `${lines.map(printable).join('\n')}\n`
}

function printChanges(db: Db, flags: SchemaFlags): void {
  const rows = schemaChanges(db, {
    limit: flags.limit ?? 50,
    ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    ...(flags.method === undefined ? {} : { method: flags.method }),
    ...(flags.since === undefined ? {} : { since: Date.now() - flags.since }),
  })
  if (flags.json) {
    writeJsonLines(rows.map((row) => ({ time: isoTime(row.detected_at), ...row })))
    return
  }
  if (rows.length === 0) {
    process.stdout.write('  (no schema changes recorded)\n')
    return
  }
  const cells = rows.map((row) => [
    formatTime(row.detected_at),
    middleTruncate(row.proxy, 40),
    middleTruncate(row.method, 40),
    row.change,
    middleTruncate(row.item ?? '', NAME_CELLS),
    truncate(row.detail ?? '', 120),
  ])
  process.stdout.write(
    renderTable(['TIME', 'PROXY', 'METHOD', 'CHANGE', 'ITEM', 'DETAIL'], cells, {
      align: ['left', 'left', 'left', 'left', 'left', 'left'],
      colour: useColour(),
    }),
  )
}

function printUsage(db: Db, flags: SchemaFlags, unusedOnly: boolean): void {
  const since = flags.since ?? DEFAULT_SINCE
  const from = Date.now() - since
  const usage = schemaProxies(db, flags.proxy).flatMap((proxy) => toolUsage(db, proxy, from))
  const shown = unusedOnly ? usage.filter((u) => u.status === 'unused') : usage
  if (flags.json) {
    writeJsonLines(shown)
    return
  }
  process.stdout.write(
    renderUsage(usage, flags.proxy ?? 'all proxies', durationLabel(since), {
      colour: useColour(),
      unusedOnly,
    }),
  )
}

/** The usage table (every listed tool), or with `unusedOnly` just the tools nobody called. */
export function renderUsage(
  usage: ToolUsage[],
  proxy: string,
  window: string,
  options: { colour: boolean; unusedOnly?: boolean },
): string {
  const unused = usage.filter((u) => u.status === 'unused')
  const title = `${options.unusedOnly ? 'UNUSED TOOLS' : 'TOOL USAGE'} — ${middleTruncate(proxy, LINE_NAME_CELLS)} — last ${window}   ${unused.length}/${usage.length} unused`
  if (usage.length === 0) return `${title}\n\n  (no tools/list captured yet)\n`
  const footer = `\n  ${unused.length} tool${unused.length === 1 ? '' : 's'} listed but never called in the last ${window}.\n`
  const shown = options.unusedOnly ? unused : usage
  if (shown.length === 0) return `${title}\n\n  (every listed tool was called)\n`
  const rows = shown.map((u) => [
    middleTruncate(u.tool, NAME_CELLS),
    formatCount(u.calls),
    formatCount(u.errors),
    u.last_called === null ? 'never' : formatTime(u.last_called),
    u.status,
  ])
  const table = options.unusedOnly
    ? renderTable(
        ['TOOL', 'DESCRIPTION'],
        shown.map((u) => [
          middleTruncate(u.tool, NAME_CELLS),
          truncate((u.description ?? '').replace(/\s+/g, ' '), 60),
        ]),
        { align: ['left', 'left'], colour: options.colour },
      )
    : renderTable(['TOOL', 'CALLS', 'ERRORS', 'LAST CALLED', 'STATUS'], rows, {
        align: ['left', 'right', 'right', 'left', 'left'],
        colour: options.colour,
        rowColour: (i) => {
          const status = shown[i]?.status
          return status === 'unused' ? 'yellow' : status === 'errors' ? 'red' : undefined
        },
      })
  return `${title}\n\n${table}${footer}`
}
