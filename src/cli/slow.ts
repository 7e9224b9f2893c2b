/**
 * `portico slow` (declared in commands/slow.ts): the slowest requests above a latency
 * threshold, slowest first.
 */
import { type LogFilter, lastExchangeId, type SlowReport, slowCalls } from '../store/report-logs.ts'
import { jsonForTerminal } from '../util/format.ts'
import {
  exchangeJson,
  isError,
  latencyCell,
  nameCell,
  sessionCell,
  statusCell,
} from './exchange-cells.ts'
import { formatBytes, formatLatency, formatTime, renderTable, useColour } from './format.ts'
import { showsProxy, withStore } from './store-access.ts'
import { durationLabel, type StoreFlags } from './store-options.ts'

export interface SlowFlags extends StoreFlags {
  since?: number
  threshold?: number
  tool?: string
  limit?: number
  /** mcpr's `slow -f`: then the calls above the threshold as they come. */
  follow?: boolean
}

const DEFAULT_SINCE = 3_600_000
const DEFAULT_THRESHOLD_MS = 500

export async function printSlow(flags: SlowFlags): Promise<void> {
  const since = flags.since ?? DEFAULT_SINCE
  const thresholdMs = flags.threshold ?? DEFAULT_THRESHOLD_MS
  const thresholdUs = Math.round(thresholdMs * 1000)
  await withStore(flags, async (db, path) => {
    // The report stops at the last row now, and the follow starts right after it.
    const lastId = lastExchangeId(db)
    const report = slowCalls(db, {
      since: Date.now() - since,
      thresholdUs,
      limit: flags.limit ?? 20,
      ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
      ...(flags.tool === undefined ? {} : { tool: flags.tool }),
    })
    if (flags.json) {
      for (const row of report.rows) process.stdout.write(`${jsonForTerminal(exchangeJson(row))}\n`)
    } else {
      const title = `SLOW CALLS — ${flags.proxy ?? 'all proxies'} — last ${durationLabel(since)} (threshold: ${formatLatency(thresholdUs)})`
      process.stdout.write(
        renderSlow(report, title, durationLabel(since), useColour(), showsProxy(db, flags)),
      )
    }
    if (!flags.follow) return
    if (!flags.json)
      process.stdout.write(`\nFollowing calls above ${formatLatency(thresholdUs)} as they come:\n`)
    const filter: LogFilter = { minLatencyUs: thresholdUs }
    if (flags.proxy !== undefined) filter.proxy = flags.proxy
    if (flags.tool !== undefined) filter.tool = flags.tool
    const { followRows } = await import('./logs.ts')
    await followRows(db, path, filter, { ...flags, follow: true }, lastId)
  })
}

export function renderSlow(
  report: SlowReport,
  title: string,
  window: string,
  colour: boolean,
  proxyColumn = false,
): string {
  if (report.rows.length === 0) return `${title}\n\n  (no slow calls found)\n`
  const rows = report.rows.map((row) => {
    const cells = [
      nameCell(row) || row.method,
      latencyCell(row),
      formatBytes(row.bytes_in + row.bytes_out),
      formatTime(row.ts),
      sessionCell(row.session_id),
      statusCell(row),
    ]
    return proxyColumn ? [row.proxy, ...cells] : cells
  })
  const headers = ['TOOL', 'LATENCY', 'SIZE', 'TIME', 'SESSION', 'STATUS']
  const align = ['left', 'right', 'right', 'left', 'left', 'left'] as const
  const table = renderTable(proxyColumn ? ['PROXY', ...headers] : headers, rows, {
    align: proxyColumn ? ['left', ...align] : align,
    colour,
    rowColour: (i) => (report.rows[i] && isError(report.rows[i]) ? 'red' : undefined),
  })
  const footer = `\n  ${report.count} call${report.count === 1 ? '' : 's'} above threshold in the last ${window} (avg: ${formatLatency(report.avg_us)})\n`
  return `${title}\n\n${table}${footer}`
}
