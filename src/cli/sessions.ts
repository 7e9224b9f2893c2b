/**
 * `portico sessions` (declared in commands/sessions.ts): sessions seen in the window, newest
 * first, with their client and counts.
 */
import { listSessions, type SessionRow } from '../store/report-sessions.ts'
import { clientCell } from './exchange-cells.ts'
import {
  formatAgo,
  formatCount,
  formatShortTime,
  renderTable,
  useColour,
  writeJsonLines,
} from './format.ts'
import { showsProxy, withStore } from './store-access.ts'
import { durationLabel, type StoreFlags } from './store-options.ts'

export interface SessionsFlags extends StoreFlags {
  since?: number
  active?: boolean
  client?: string
  limit?: number
}

const DEFAULT_SINCE = 86_400_000

export async function printSessions(flags: SessionsFlags): Promise<void> {
  const since = flags.since ?? DEFAULT_SINCE
  const now = Date.now()
  const { rows, proxy } = await withStore(flags, (db) => ({
    rows: listSessions(db, {
      since: now - since,
      now,
      limit: flags.limit ?? 50,
      ...(flags.active ? { active: true } : {}),
      ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
      ...(flags.client === undefined ? {} : { client: flags.client }),
    }),
    proxy: showsProxy(db, flags),
  }))
  if (flags.json) writeJsonLines(rows)
  else
    process.stdout.write(
      renderSessions(rows, flags.proxy ?? 'all proxies', durationLabel(since), now, {
        colour: useColour(),
        proxyColumn: proxy,
      }),
    )
}

export function clientLabel(row: Pick<SessionRow, 'client_name' | 'client_version'>): string {
  if (!row.client_name) return '(unknown)'
  return row.client_version ? `${row.client_name} ${row.client_version}` : row.client_name
}

export function renderSessions(
  rows: SessionRow[],
  proxy: string,
  window: string,
  now: number,
  options: { colour: boolean; proxyColumn?: boolean },
): string {
  const title = `SESSIONS — ${proxy} — last ${window}`
  if (rows.length === 0) return `${title}\n\n  (no sessions found)\n`
  const cells = rows.map((row) => {
    const cells = [
      row.grouped ? row.session_id : row.session_id.slice(0, 8),
      `${clientCell(clientLabel(row), 48)} ${row.active ? '●' : '○'}`,
      row.platform ?? 'unknown',
      formatShortTime(row.started_at),
      formatAgo(row.last_seen_at, now),
      formatCount(row.calls),
      formatCount(row.errors),
    ]
    return options.proxyColumn ? [row.proxy, ...cells] : cells
  })
  const headers = ['SESSION', 'CLIENT', 'PLATFORM', 'STARTED', 'LAST SEEN', 'CALLS', 'ERRS']
  const align = ['left', 'left', 'left', 'left', 'left', 'right', 'right'] as const
  const table = renderTable(options.proxyColumn ? ['PROXY', ...headers] : headers, cells, {
    align: options.proxyColumn ? ['left', ...align] : align,
    colour: options.colour,
    rowColour: (i) => (rows[i]?.active ? undefined : 'dim'),
  })
  const active = rows.filter((row) => row.active).length
  return `${title}\n\n${table}\n  ${rows.length} session${rows.length === 1 ? '' : 's'}   ${active} active\n`
}
