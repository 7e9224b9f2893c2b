/** `portico logs`: recorded exchanges, filtered, newest last; `--follow` keeps printing new ones. */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import type { Db } from '../store/open.ts'
import {
  type ExchangeRow,
  type LogFilter,
  lastExchangeId,
  logsAfter,
  tailLogs,
} from '../store/report-logs.ts'
import { intOption, UserError } from './errors.ts'
import {
  exchangeJson,
  isError,
  latencyCell,
  nameCell,
  sessionCell,
  statusCell,
} from './exchange-cells.ts'
import { formatBytes, formatTime, renderTable, useColour } from './format.ts'
import { addSince, addStoreOptions, type StoreFlags, withStore } from './store-options.ts'

interface LogsFlags extends StoreFlags {
  since?: number
  tool?: string
  method?: string
  session?: string
  client?: string
  status?: string
  tail?: number
  follow?: boolean
}

const DEFAULT_SINCE = 3_600_000
const FOLLOW_POLL_MS = 500
const HEADERS = ['TIME', 'SESSION', 'CLIENT', 'METHOD', 'NAME', 'LATENCY', 'IN', 'OUT', 'STATUS']
/** Fixed minimum widths so rows printed by `--follow` line up with the first screen. */
const MIN_WIDTHS = [19, 8, 12, 16, 16, 7, 8, 8, 0]
const ALIGN = ['left', 'left', 'left', 'left', 'left', 'right', 'right', 'right', 'left'] as const

export function registerLogs(program: Command): void {
  const command = program
    .command('logs')
    .description('Recorded exchanges, oldest first; --follow prints new ones as they arrive')
    .option('--tool <name>', 'only calls of this tool')
    .option('--method <method>', 'only this JSON-RPC method (e.g. tools/call)')
    .option('--session <prefix>', 'only this session (id prefix; all time unless --since)')
    .option('--client <name>', 'only this client name or platform (claude, cursor, …)')
    .option('--status <status>', 'ok or error')
    .option('--tail <n>', 'how many recent rows (default 50)', intOption('--tail'))
    .option('-f, --follow', 'keep printing new rows (polls every 500 ms)')
  addSince(addStoreOptions(command), '1h, or all time with --session').action(
    async (flags: LogsFlags) => {
      const filter = filterOf(flags)
      await withStore(flags, async (db) => {
        const rows = tailLogs(db, filter, flags.tail ?? 50)
        print(rows, flags, true)
        if (flags.follow) await follow(db, filter, flags, rows.at(-1)?.id ?? lastExchangeId(db))
      })
    },
  )
}

function filterOf(flags: LogsFlags): LogFilter {
  if (flags.status !== undefined && flags.status !== 'ok' && flags.status !== 'error') {
    throw new UserError(`--status: expected ok or error, got "${flags.status}"`, 2)
  }
  const since = flags.since ?? (flags.session === undefined ? DEFAULT_SINCE : undefined)
  const filter: LogFilter = {}
  if (since !== undefined) filter.since = Date.now() - since
  if (flags.proxy !== undefined) filter.proxy = flags.proxy
  if (flags.tool !== undefined) filter.tool = flags.tool
  if (flags.method !== undefined) filter.method = flags.method
  if (flags.session !== undefined) filter.sessionPrefix = flags.session
  if (flags.client !== undefined) filter.client = flags.client
  if (flags.status !== undefined) filter.status = flags.status as 'ok' | 'error'
  return filter
}

function print(rows: ExchangeRow[], flags: LogsFlags, first: boolean): void {
  if (flags.json) {
    for (const row of rows) process.stdout.write(`${JSON.stringify(exchangeJson(row))}\n`)
    return
  }
  if (rows.length === 0) {
    if (first && !flags.follow) process.stdout.write('  (no records found)\n')
    if (!first || !flags.follow) return
  }
  process.stdout.write(
    renderTable(HEADERS, rows.map(cells), {
      align: ALIGN,
      minWidths: MIN_WIDTHS,
      header: first,
      colour: useColour(),
      rowColour: (i) => (rows[i] && isError(rows[i]) ? 'red' : undefined),
    }),
  )
}

function cells(row: ExchangeRow): string[] {
  return [
    formatTime(row.ts),
    sessionCell(row.session_id),
    row.client_name ?? '',
    row.method,
    nameCell(row),
    latencyCell(row),
    formatBytes(row.bytes_in),
    formatBytes(row.bytes_out),
    statusCell(row),
  ]
}

/** Polls for rows newer than `afterId` until the process is interrupted. */
async function follow(
  db: Db,
  filter: LogFilter,
  flags: LogsFlags,
  afterId: number,
): Promise<never> {
  let last = afterId
  for (;;) {
    await sleep(FOLLOW_POLL_MS)
    const rows = logsAfter(db, filter, last)
    if (rows.length === 0) continue
    last = rows.at(-1)?.id ?? last
    print(rows, flags, false)
  }
}
