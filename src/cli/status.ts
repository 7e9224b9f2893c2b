/**
 * `portico status` (declared in commands/status.ts): totals and per-tool/resource/prompt/method
 * statistics over a window.
 */
import { type StatusReport, statusReport, type TargetStats } from '../store/report-status.ts'
import { jsonForTerminal } from '../util/format.ts'
import {
  formatBytes,
  formatCount,
  formatLatency,
  formatPct,
  middleTruncate,
  renderTable,
  useColour,
} from './format.ts'
import { withStore } from './store-access.ts'
import { durationLabel, type WindowFlags } from './store-options.ts'

const DEFAULT_SINCE = 3_600_000

export async function printStatus(flags: WindowFlags): Promise<void> {
  const since = flags.since ?? DEFAULT_SINCE
  const now = Date.now()
  const report = await withStore(flags, (db) =>
    statusReport(db, {
      since: now - since,
      now,
      ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    }),
  )
  if (flags.json) process.stdout.write(`${jsonForTerminal(report)}\n`)
  else process.stdout.write(renderStatus(report, durationLabel(since), useColour()))
}

export function renderStatus(report: StatusReport, window: string, colour: boolean): string {
  const lines = [
    `STATUS — ${report.proxy ?? 'all proxies'} — last ${window}`,
    '',
    `  Total requests:  ${formatCount(report.total_requests)}`,
    `  Error rate:      ${formatPct(report.error_pct)}`,
    `  Sessions:        ${formatCount(report.sessions.total)} total   ${formatCount(report.sessions.active)} active`,
    '',
  ]
  let out = lines.join('\n')
  if (report.total_requests === 0) return `${out}  (no requests recorded in the last ${window})\n`
  const sections: Array<[string, TargetStats[]]> = [
    ['TOOL', report.tools],
    ['RESOURCE', report.resources],
    ['PROMPT', report.prompts],
    ['METHOD', report.methods],
  ]
  for (const [label, rows] of sections) {
    if (rows.length === 0) continue
    out += `\n${statsTable(label, rows.slice(0, SHOWN_ROWS), colour)}`
    if (rows.length > SHOWN_ROWS) {
      out += `  … and ${formatCount(rows.length - SHOWN_ROWS)} more (portico status --json lists them all)\n`
    }
  }
  return out
}

/**
 * Rows of each table on a terminal: the most called (every name a client calls is recorded,
 * made-up ones too: 100,000 of them made a 17 MB report that took 17 s to print).
 */
const SHOWN_ROWS = 100

function statsTable(label: string, rows: TargetStats[], colour: boolean): string {
  const headers = [
    label,
    'CALLS',
    'AVG',
    'P50',
    'P95',
    'P99',
    'MAX',
    'ERRORS',
    'BYTES IN',
    'BYTES OUT',
  ]
  const cells = rows.map((row) => [
    middleTruncate(row.name, 48),
    formatCount(row.calls),
    formatLatency(row.avg_us),
    formatLatency(row.p50_us),
    formatLatency(row.p95_us),
    formatLatency(row.p99_us),
    formatLatency(row.max_us),
    formatPct(row.error_pct),
    formatBytes(row.bytes_in),
    formatBytes(row.bytes_out),
  ])
  return renderTable(headers, cells, {
    colour,
    rowColour: (i) => ((rows[i]?.error_pct ?? 0) > 0 ? 'red' : undefined),
  })
}
