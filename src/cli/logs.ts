/**
 * `portico logs` (declared in commands/logs.ts): recorded exchanges, filtered, in time order;
 * `--follow` keeps printing new ones.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { StoreFile } from '../store/file-watch.ts'
import { type Db, openStore } from '../store/open.ts'
import {
  type ExchangeRow,
  eachLogPageAfter,
  eachTailLog,
  type LogFilter,
  lastExchangeId,
  tailNamesUser,
} from '../store/report-logs.ts'
import { jsonForTerminal } from '../util/format.ts'
import { UserError } from './errors.ts'
import {
  clientCell,
  exchangeJson,
  isError,
  latencyCell,
  nameCell,
  sessionCell,
  statusCell,
} from './exchange-cells.ts'
import {
  columnWidths,
  fitCells,
  formatBytes,
  formatTime,
  renderTable,
  useColour,
} from './format.ts'
import { showsProxy, withStore } from './store-access.ts'
import type { StoreFlags } from './store-options.ts'

export interface LogsFlags extends StoreFlags {
  since?: number
  tool?: string
  method?: string
  session?: string
  client?: string
  user?: string
  status?: string
  errorCode?: number
  via?: string
  tail?: number
  follow?: boolean
}

const DEFAULT_SINCE = 3_600_000
const FOLLOW_POLL_MS = 500
const HEADERS = ['TIME', 'SESSION', 'CLIENT', 'METHOD', 'NAME', 'LATENCY', 'IN', 'OUT', 'STATUS']
/** Minimum widths, so the rows `--follow` prints later fit the columns of the first screen. */
const MIN_WIDTHS = [19, 8, 12, 25, 16, 7, 8, 8, 0]
const ALIGN = ['left', 'left', 'left', 'left', 'left', 'right', 'right', 'right', 'left'] as const

/**
 * The table's columns: PROXY first when the rows may come from several proxies; USER (the
 * verified caller) after CLIENT when any row shown has one (auth on).
 */
interface Layout {
  headers: string[]
  align: Array<'left' | 'right'>
  minWidths: number[]
  proxy: boolean
  user: boolean
}

function layoutOf(proxy: boolean, user: boolean): Layout {
  const headers: string[] = [...HEADERS]
  const align: Array<'left' | 'right'> = [...ALIGN]
  const minWidths = [...MIN_WIDTHS]
  if (user) {
    headers.splice(3, 0, 'USER')
    align.splice(3, 0, 'left')
    minWidths.splice(3, 0, 8)
  }
  return {
    headers: proxy ? ['PROXY', ...headers] : headers,
    align: proxy ? ['left', ...align] : align,
    minWidths: proxy ? [5, ...minWidths] : minWidths,
    proxy,
    user,
  }
}

/** Rows printed at a time: a long tail is read, printed and let go a page at a time. */
const PAGE_ROWS = 1000

export async function printLogs(flags: LogsFlags): Promise<void> {
  const filter = filterOf(flags)
  await withStore(flags, async (db, path) => {
    // The tail stops at the last row now, and the follow starts right after it.
    const lastId = lastExchangeId(db)
    const tail = () => eachTailLog(db, filter, flags.tail ?? 50, lastId)
    const users = flags.user !== undefined || tailNamesUser(db, filter, flags.tail ?? 50, lastId)
    const layout = layoutOf(showsProxy(db, flags), users)
    // The first page fixes the columns, as for the rows --follow prints later.
    let widths: number[] | undefined
    for (const page of pagesOf(tail(), PAGE_ROWS)) {
      widths = print(page, flags, layout, widths)
      await stdoutTakes()
    }
    widths ??= print([], flags, layout, undefined)
    if (flags.follow) await follow({ db, path, filter, flags, layout, widths }, lastId)
  })
}

function* pagesOf<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let page: T[] = []
  for (const item of items) {
    page.push(item)
    if (page.length === size) {
      yield page
      page = []
    }
  }
  if (page.length > 0) yield page
}

/**
 * Waits while stdout (a pipe) holds what it has not passed on yet: written in one go, a long
 * tail stayed in memory until the end, and nothing reached the reader before it.
 */
async function stdoutTakes(): Promise<void> {
  if (!process.stdout.writableNeedDrain) return
  await new Promise<void>((resolve) => {
    const done = () => {
      process.stdout.off('drain', done)
      process.stdout.off('close', done)
      resolve()
    }
    process.stdout.once('drain', done)
    process.stdout.once('close', done)
  })
}

function filterOf(flags: LogsFlags): LogFilter {
  if (flags.status !== undefined && !['ok', 'error', 'timeout'].includes(flags.status)) {
    throw new UserError(`--status: expected ok, error or timeout, got "${flags.status}"`, 2)
  }
  const since = flags.since ?? (flags.session === undefined ? DEFAULT_SINCE : undefined)
  const filter: LogFilter = {}
  if (since !== undefined) filter.since = Date.now() - since
  if (flags.proxy !== undefined) filter.proxy = flags.proxy
  if (flags.tool !== undefined) filter.tool = flags.tool
  if (flags.method !== undefined) filter.method = flags.method
  if (flags.session !== undefined) filter.sessionPrefix = flags.session
  if (flags.client !== undefined) filter.client = flags.client
  if (flags.user !== undefined) filter.user = flags.user
  if (flags.status !== undefined) filter.status = flags.status as LogFilter['status']
  if (flags.errorCode !== undefined) filter.errorCode = flags.errorCode
  if (flags.via !== undefined) {
    if (flags.via !== 'tunnel' && flags.via !== 'local') {
      throw new UserError(`--via: expected tunnel or local, got "${flags.via}"`, 2)
    }
    filter.via = flags.via
  }
  return filter
}

/**
 * Prints rows; the first call (no `widths` yet) prints the header and fixes the column widths
 * that the rows of `--follow` are then fitted to, so every later row lines up with it.
 */
function print(
  rows: ExchangeRow[],
  flags: LogsFlags,
  layout: Layout,
  widths: number[] | undefined,
): number[] {
  const first = widths === undefined
  if (flags.json) {
    for (const row of rows) process.stdout.write(`${jsonForTerminal(exchangeJson(row))}\n`)
    return widths ?? []
  }
  const table = rows.map((row) => cellsOf(row, layout))
  if (rows.length === 0 && first && !flags.follow) {
    process.stdout.write('  (no records found)\n')
    return []
  }
  const fixed = widths ?? columnWidths(layout.headers, table, layout.minWidths)
  if (rows.length === 0 && !first) return fixed
  process.stdout.write(
    renderTable(
      layout.headers,
      table.map((cells) => fitCells(cells, fixed)),
      {
        align: layout.align,
        minWidths: fixed,
        header: first,
        colour: useColour(),
        rowColour: (i) => (rows[i] && isError(rows[i]) ? 'red' : undefined),
      },
    ),
  )
  return fixed
}

function cellsOf(row: ExchangeRow, layout: Layout): string[] {
  const cells = [
    formatTime(row.ts),
    sessionCell(row.session_id),
    clientCell(row.client_name),
    ...(layout.user ? [row.subject ?? ''] : []),
    row.method,
    nameCell(row),
    latencyCell(row),
    formatBytes(row.bytes_in),
    formatBytes(row.bytes_out),
    statusCell(row),
  ]
  return layout.proxy ? [row.proxy, ...cells] : cells
}

/**
 * Prints, as `logs --follow` does, the rows matching `filter` recorded after `afterId` until
 * the process is interrupted (`slow --follow`: the calls above its threshold as they come).
 */
export async function followRows(
  db: Db,
  path: string,
  filter: LogFilter,
  flags: LogsFlags,
  afterId: number,
): Promise<never> {
  const layout = layoutOf(showsProxy(db, flags), flags.user !== undefined)
  const widths = print([], flags, layout, undefined)
  return follow({ db, path, filter, flags, layout, widths }, afterId)
}

interface Following {
  db: Db
  path: string
  filter: LogFilter
  flags: LogsFlags
  layout: Layout
  widths: number[]
}

/**
 * Polls for rows newer than `afterId` until the process is interrupted. Each poll reads until
 * it has caught up (a busy proxy records more than one page of rows per poll). A store that is
 * deleted and created again while Portico runs (the writer does that, warning in its log) is
 * opened again; a store whose rows were all pruned numbers its rows from 1 again: in both
 * cases every row of the store is new.
 */
async function follow(following: Following, afterId: number): Promise<never> {
  const { path, filter, flags, layout, widths } = following
  const file = new StoreFile(path)
  file.remember()
  let db = following.db
  let last = afterId
  for (;;) {
    await sleep(FOLLOW_POLL_MS)
    const change = file.changed()
    if (change !== undefined) {
      const reopened = reopen(path)
      if (reopened === undefined) continue
      db.close()
      db = reopened
      file.remember()
      last = 0
      process.stderr.write(`(the store ${path} ${change}; following the new one)\n`)
    } else if (lastExchangeId(db) < last) {
      last = 0
    }
    last = eachLogPageAfter(db, filter, last, (rows) => print(rows, flags, layout, widths))
  }
}

/** The store at `path` once it is there again (undefined while it is not, or not yet whole). */
function reopen(path: string): Db | undefined {
  try {
    return openStore(path)
  } catch {
    return undefined
  }
}
