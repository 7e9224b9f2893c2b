/** Cells shared by the reports that list exchanges (logs, slow, session). */

import { RECORDED_NOTIFICATIONS } from '../observe/event.ts'
import type { ExchangeRow } from '../store/report-logs.ts'
import { formatLatency, middleTruncate } from './format.ts'

/** `ok`, `error -32602 "Unknown tool"`, `tool_error "boom"`, `http_error 502`, `cancelled`. */
export function statusCell(row: ExchangeRow): string {
  const message = row.error_message ? ` "${middleTruncate(row.error_message, 60)}"` : ''
  switch (row.outcome) {
    case 'ok':
    case 'cancelled':
      return row.outcome
    case 'error':
      return `error ${row.error_code ?? ''}${message}`.replace('  ', ' ')
    case 'http_error':
      return `http_error ${row.http_status}${message}`
    default:
      return `${row.outcome}${message}`
  }
}

/**
 * Latency of the exchange; `—` for a notification the server sent (resource updated, list
 * changed): nothing was waited for, and `0µs` would read as a measurement.
 */
export function latencyCell(row: ExchangeRow): string {
  return RECORDED_NOTIFICATIONS.has(row.method) ? '—' : formatLatency(row.latency_us)
}

/** Tool name, prompt name or resource URI; empty for other methods. */
export function nameCell(row: ExchangeRow, max = 40): string {
  return row.name ? middleTruncate(row.name, max) : ''
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
  return { time: new Date(row.ts).toISOString(), ...row }
}
