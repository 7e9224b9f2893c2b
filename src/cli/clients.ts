/**
 * `portico clients` (declared in commands/clients.ts): the AI clients seen in the window, with
 * their sessions, calls and errors.
 */
import { type ClientRow, listClients } from '../store/report-sessions.ts'
import { clientCell } from './exchange-cells.ts'
import {
  formatCount,
  formatPct,
  formatTime,
  renderTable,
  useColour,
  writeJsonLines,
} from './format.ts'
import { withStore } from './store-access.ts'
import { durationLabel, type WindowFlags } from './store-options.ts'

const DEFAULT_SINCE = 7 * 86_400_000

export async function printClients(flags: WindowFlags): Promise<void> {
  const since = flags.since ?? DEFAULT_SINCE
  const rows = await withStore(flags, (db) => listClients(db, Date.now() - since, flags.proxy))
  if (flags.json) writeJsonLines(rows)
  else
    process.stdout.write(
      renderClients(rows, flags.proxy ?? 'all proxies', durationLabel(since), useColour()),
    )
}

/** Terminal cells a client's version takes at most (`1.2.3-beta.4+build.567` fits). */
const VERSION_WIDTH = 24

export function renderClients(
  rows: ClientRow[],
  proxy: string,
  window: string,
  colour: boolean,
): string {
  const title = `CLIENTS — ${proxy} — last ${window}`
  if (rows.length === 0) return `${title}\n\n  (no clients found)\n`
  const cells = rows.map((row) => [
    clientCell(row.client_name),
    // A version is the client's own text too: cut as names are, or one row widens every row.
    row.client_version ? clientCell(row.client_version, VERSION_WIDTH) : '—',
    row.platform,
    formatCount(row.sessions),
    formatCount(row.calls),
    formatCount(row.errors),
    formatPct(row.error_pct),
    formatTime(row.last_seen),
  ])
  const table = renderTable(
    ['CLIENT', 'VERSION', 'PLATFORM', 'SESSIONS', 'CALLS', 'ERRORS', 'ERROR %', 'LAST SEEN'],
    cells,
    { align: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left'], colour },
  )
  const sessions = rows.reduce((sum, row) => sum + row.sessions, 0)
  return `${title}\n\n${table}\n  ${rows.length} unique client${rows.length === 1 ? '' : 's'}   ${sessions} session${sessions === 1 ? '' : 's'} total\n`
}
