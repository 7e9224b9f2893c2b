/**
 * `portico session ID-PREFIX` (declared in commands/session.ts): one session's client, status
 * and call flow, in order, with timing.
 */
import type { ExchangeRow } from '../store/report-logs.ts'
import { findSessions, type SessionRow, sessionFlow } from '../store/report-sessions.ts'
import { jsonForTerminal, printable } from '../util/format.ts'
import { UserError } from './errors.ts'
import { exchangeJson, isError, latencyCell, nameCell, statusCell } from './exchange-cells.ts'
import { formatTime, middleTruncate, renderTable, useColour } from './format.ts'
import { clientLabel } from './sessions.ts'
import { withStore } from './store-access.ts'
import type { StoreFlags } from './store-options.ts'

export async function printSession(prefix: string, flags: StoreFlags): Promise<void> {
  const now = Date.now()
  const { session, flow } = await withStore(flags, (db) => {
    const matches = findSessions(db, prefix, now, flags.proxy)
    const [session] = matches
    if (session === undefined) throw new UserError(`no session starts with "${prefix}"`)
    if (matches.length > 1 && !matches.some((m) => m.session_id === prefix)) {
      const ids = matches.map((m) => `${m.session_id} (${m.proxy})`).join(', ')
      throw new UserError(`"${prefix}" matches several sessions: ${ids}; give more characters`)
    }
    const exact = matches.find((m) => m.session_id === prefix) ?? session
    return { session: exact, flow: sessionFlow(db, exact) }
  })
  if (flags.json) {
    process.stdout.write(`${jsonForTerminal({ ...session, exchanges: flow.map(exchangeJson) })}\n`)
    return
  }
  process.stdout.write(renderSession(session, flow, useColour()))
}

export function renderSession(session: SessionRow, flow: ExchangeRow[], colour: boolean): string {
  const lines = [
    `SESSION — ${session.session_id}${session.grouped ? '  (grouped by Portico: stateless requests)' : ''}`,
    '',
    `  Proxy:     ${session.proxy}`,
    `  Client:    ${middleTruncate(clientLabel(session), 80)} (${session.platform ?? 'unknown'})`,
    `  Status:    ${session.ended_at !== null ? 'closed' : session.active ? 'active' : 'idle'}`,
    `  Started:   ${formatTime(session.started_at)}`,
    session.ended_at !== null
      ? `  Ended:     ${formatTime(session.ended_at)}`
      : `  Last seen: ${formatTime(session.last_seen_at)}`,
    `  Calls: ${session.calls}   Errors: ${session.errors}`,
    '',
    '',
  ]
  // The session id and the client's name and version are the client's words (see printable).
  const head = lines.map(printable).join('\n')
  if (flow.length === 0) return `${head}  (no requests recorded)\n`
  const start = flow[0]?.ts ?? session.started_at
  const cells = flow.map((row) => [
    formatTime(row.ts),
    offsetCell(row.ts - start),
    row.method,
    nameCell(row),
    latencyCell(row),
    statusCell(row),
  ])
  const table = renderTable(['TIME', 'OFFSET', 'METHOD', 'NAME', 'LATENCY', 'STATUS'], cells, {
    align: ['left', 'right', 'left', 'left', 'right', 'left'],
    colour,
    rowColour: (i) => (flow[i] && isError(flow[i]) ? 'red' : undefined),
  })
  return `${head}${table}`
}

/** The offset, or `?` when a time in a damaged store gave none (as the TIME cell says). */
function offsetCell(ms: number): string {
  return Number.isFinite(ms) ? `+${formatOffset(ms)}` : '?'
}

/** Time since the session's first exchange: `0.000s`, `1.250s`, `2m05s`. */
function formatOffset(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)}s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`
}
