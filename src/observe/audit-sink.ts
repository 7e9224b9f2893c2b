/**
 * The audit log (`[observability] audit = true`): one structured line per call on stderr,
 * whatever the access log says: who (the verified user and OAuth client when `[auth]` is set,
 * client address, client name and version, session prefix), what (method and tool, prompt or resource), where
 * (backend), and how it ended (outcome, reason, error code, HTTP status, duration). JSON when
 * `json_logs`, else one text line starting with `audit`. Secrets never appear: no params, no
 * headers, session ids cut to 8 characters, client-chosen text clipped. Lines are written
 * together every 50 ms (or 64 KB): one write for many calls, not a write per call; `close`
 * writes what is left.
 */

import type { ClientInfo } from '../protocol/classify.ts'
import { BodyWriter } from '../util/body-writer.ts'
import { clipText, jsonForTerminal, printable } from '../util/format.ts'
import type { Sink } from './bus.ts'
import type { ExchangeEvent } from './event.ts'
import type { Logger } from './logger.ts'
import { SessionClients } from './session-clients.ts'

/** Audit lines wait at most this long to be written together (one write, not one per line). */
const FLUSH_MS = 50
const FLUSH_BYTES = 64 * 1024

export function auditSink(logger: Logger): Sink {
  const clients = new SessionClients()
  // Lines waiting for the next write, as UTF-8 bytes: a line kept as the string it was built
  // as (dozens of pieces) would be copied by every young-generation GC while it waits.
  const pending = new BodyWriter(FLUSH_BYTES)
  let timer: NodeJS.Timeout | undefined
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (pending.length === 0) return
    const text = pending.bytes().toString('utf8')
    pending.reset()
    logger.line('info', text)
  }
  return {
    name: 'audit',
    write(events) {
      if (!logger.enabled('info')) return
      for (const event of events) {
        if (event.type !== 'exchange' || !audited(event)) continue
        const client = clients.of(event)
        const line = logger.json
          ? jsonForTerminal(auditRecord(client === event.client ? event : { ...event, client }))
          : auditText(event, client)
        if (pending.length > 0) pending.text('\n')
        pending.text(line)
      }
      if (pending.length >= FLUSH_BYTES) flush()
      else if (pending.length > 0 && timer === undefined) {
        timer = setTimeout(flush, FLUSH_MS)
        timer.unref()
      }
    },
    async close() {
      flush()
    },
  }
}

/** Calls, and HTTP exchanges Portico refused (someone tried and was turned away). */
function audited(event: ExchangeEvent): boolean {
  return event.kind === 'request' || event.reason !== undefined
}

export function auditRecord(event: ExchangeEvent): Record<string, unknown> {
  const record: Record<string, unknown> = {
    time: new Date(event.ts).toISOString(),
    level: 'info',
    target: 'audit',
    method: clipText(event.method),
  }
  if (event.name !== undefined) record[event.targetKind ?? 'name'] = clipText(event.name)
  if (event.backend !== undefined) record.backend = event.backend
  record.outcome = event.outcome
  if (event.reason !== undefined) record.reason = event.reason
  if (event.errorCode !== undefined) record.error_code = event.errorCode
  record.status = event.httpStatus
  record.duration_ms = Math.round(event.durationUs / 100) / 10
  if (event.jsonrpcId !== undefined) record.request_id = clipText(String(event.jsonrpcId), 64)
  if (event.subject !== undefined) record.user = clipText(event.subject)
  if (event.authClient !== undefined) record.auth_client = clipText(event.authClient)
  if (event.clientAddress !== undefined) record.client_address = event.clientAddress
  if (event.via !== undefined) record.via = event.via
  if (event.client !== undefined) {
    record.client = clipText(event.client.name)
    if (event.client.version !== undefined)
      record.client_version = clipText(event.client.version, 64)
  }
  if (event.sessionId !== undefined) record.session = event.sessionId.slice(0, 8)
  if (event.userAgent !== undefined) record.user_agent = clipText(event.userAgent)
  return record
}

/**
 * The text line, written straight from the event: the same fields in the same order as
 * `auditRecord`, without building the record and walking its entries. This runs once per
 * call, and the record's allocations were most of the audit log's cost.
 */
function auditText(event: ExchangeEvent, client: ClientInfo | undefined): string {
  let text = `${timeOfDay(event.ts)} audit method=${shown(clipText(event.method))}`
  if (event.name !== undefined)
    text += ` ${event.targetKind ?? 'name'}=${shown(clipText(event.name))}`
  if (event.backend !== undefined) text += ` backend=${shown(event.backend)}`
  text += ` outcome=${event.outcome}`
  if (event.reason !== undefined) text += ` reason=${shown(event.reason)}`
  if (event.errorCode !== undefined) text += ` error_code=${event.errorCode}`
  text += ` status=${event.httpStatus} duration_ms=${Math.round(event.durationUs / 100) / 10}`
  if (event.jsonrpcId !== undefined)
    text += ` request_id=${shown(clipText(String(event.jsonrpcId), 64))}`
  if (event.subject !== undefined) text += ` user=${shown(clipText(event.subject))}`
  if (event.authClient !== undefined) text += ` auth_client=${shown(clipText(event.authClient))}`
  if (event.clientAddress !== undefined) text += ` client_address=${shown(event.clientAddress)}`
  if (event.via !== undefined) text += ` via=${shown(event.via)}`
  if (client !== undefined) {
    text += ` client=${shown(clipText(client.name))}`
    if (client.version !== undefined)
      text += ` client_version=${shown(clipText(client.version, 64))}`
  }
  if (event.sessionId !== undefined) text += ` session=${shown(event.sessionId.slice(0, 8))}`
  if (event.userAgent !== undefined) text += ` user_agent=${shown(clipText(event.userAgent))}`
  // Never a control character (clients choose tool names and their clientInfo): escape
  // sequences, bells and C1 codes are shown as `\xNN` (JSON quoting escapes C0 only), so a line
  // read on a terminal cannot drive it, erase lines above it or hide its own fields. Once per
  // line, not per field: the line's own text has none, and one scan costs less than twelve.
  return printable(text)
}

/** A value as the text line shows it: quoted when it holds a space, a quote or `=`. */
function shown(value: string): string {
  return NEEDS_QUOTES.test(value) ? JSON.stringify(value) : value
}

const NEEDS_QUOTES = /[\s"=]/

/**
 * `HH:MM:SS.mmm` (UTC) of epoch ms: the seconds formatted once per second, the milliseconds
 * from a table. Events reach the sink in the order calls end, not the order they started (their
 * `ts`), so consecutive lines rarely share a millisecond: a cache per millisecond formatted a
 * `Date` for most lines (1.5 µs per call in S9's profile, perf2 step 22).
 */
let lastSecond = Number.NaN
let secondText = ''
const MILLIS = Array.from({ length: 1000 }, (_, ms) => `.${String(ms).padStart(3, '0')}`)

function timeOfDay(ms: number): string {
  const second = Math.floor(ms / 1000)
  if (second !== lastSecond) {
    lastSecond = second
    secondText = new Date(second * 1000).toISOString().slice(11, 19)
  }
  return secondText + MILLIS[(ms - second * 1000) | 0]
}
