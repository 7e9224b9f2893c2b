/** Cells shared by the reports that list exchanges (logs, slow, session). */

import { RECORDED_NOTIFICATIONS } from '../observe/event.ts'
import { cutText } from '../store/bound.ts'
import type { ExchangeRow } from '../store/report-logs.ts'
import { formatLatency, isoTime, middleTruncate } from './format.ts'

/** Longest error message shown in a table cell (`--json` has it whole). */
const MESSAGE_CELL = 80

/**
 * `ok`, `error -32602 "Unknown tool"`, `tool_error "boom"`, `http_error 502`, `cancelled`,
 * with Portico's reason when it produced the error (`error -32603 upstream_timeout "…"`). The
 * message is cut at its end, on a word: its start says what failed and where.
 */
export function statusCell(row: ExchangeRow): string {
  const message = row.error_message ? ` "${cutText(row.error_message, MESSAGE_CELL)}"` : ''
  const reason = row.reason ? ` ${row.reason}` : ''
  switch (row.outcome) {
    case 'ok':
    case 'cancelled':
      return row.outcome
    case 'error':
      return `error${row.error_code === null ? '' : ` ${row.error_code}`}${reason}${message}`
    case 'http_error':
      return `http_error ${row.http_status}${reason}${message}`
    default:
      return `${row.outcome}${reason}${message}`
  }
}

/**
 * Latency of the exchange; `—` when nothing was measured: a notification the server sent
 * (resource updated, list changed) was not waited for, and an exchange recorded with no
 * duration (Portico refused it before timing started, e.g. a parse error) has none. `0µs`
 * would read as a measurement.
 */
export function latencyCell(row: ExchangeRow): string {
  if (RECORDED_NOTIFICATIONS.has(row.method) || row.latency_us <= 0) return '—'
  return formatLatency(row.latency_us)
}

/** Tool name, prompt name or resource URI; empty for other methods. */
export function nameCell(row: ExchangeRow, max = 40): string {
  return row.name ? middleTruncate(row.name, max) : ''
}

/**
 * A client's name (and version) cut to `max` cells, as a tool's is: the client chose it, and
 * one 256-character name widened every row of the table to hundreds of columns.
 */
export function clientCell(label: string | null, max = 40): string {
  return label ? middleTruncate(label, max) : ''
}

/** The first 8 characters of a session id (enough for `portico session PREFIX`); Portico's own `~` ids whole. */
export function sessionCell(id: string | null): string {
  if (!id) return ''
  return id.startsWith('~') ? id : id.slice(0, 8)
}

export function isError(row: ExchangeRow): boolean {
  return row.status === 'error'
}

/** The JSON form of an exchange row: the stored fields plus an ISO time. */
export function exchangeJson(row: ExchangeRow): Record<string, unknown> {
  return { time: isoTime(row.ts), ...row }
}
