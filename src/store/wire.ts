/**
 * How events cross from the proxy's thread to the store writer: one JSON string per batch,
 * each event a positional array instead of an object. Half the bytes, and about 40% less CPU
 * to stringify and parse than keyed objects (measured); structured clone of the objects cost
 * more than either. Absent fields travel as null and come back absent.
 */
import type { ExchangeEvent, NotificationEvent, PorticoEvent } from '../observe/event.ts'

const EXCHANGE_FIELDS = [
  'ts',
  'proxy',
  'backend',
  'transport',
  'era',
  'kind',
  'method',
  'name',
  'targetKind',
  'jsonrpcId',
  'sessionId',
  'protocolVersion',
  'client',
  'userAgent',
  'path',
  'outcome',
  'errorCode',
  'errorMessage',
  'reason',
  'httpStatus',
  'upstreamStatus',
  'firstByteUs',
  'durationUs',
  'bytesIn',
  'bytesOut',
  'params',
  'result',
] as const satisfies readonly Exclude<keyof ExchangeEvent, 'type'>[]

const NOTIFICATION_FIELDS = [
  'ts',
  'proxy',
  'backend',
  'sessionId',
  'transport',
  'era',
  'method',
  'params',
  'bytes',
] as const satisfies readonly Exclude<keyof NotificationEvent, 'type'>[]

// Compile-time guard: a field added to an event type but not to its list above would silently
// never reach the store; these lines fail to compile instead.
type MissingExchange = Exclude<keyof ExchangeEvent, 'type' | (typeof EXCHANGE_FIELDS)[number]>
type MissingNotification = Exclude<
  keyof NotificationEvent,
  'type' | (typeof NOTIFICATION_FIELDS)[number]
>
const exchangeComplete: [MissingExchange] extends [never] ? true : MissingExchange = true
const notificationComplete: [MissingNotification] extends [never] ? true : MissingNotification =
  true
void exchangeComplete
void notificationComplete

/** First element of an encoded event: which event type the rest describes. */
const EXCHANGE = 0
const NOTIFICATION = 1

export function encodeEvents(events: readonly PorticoEvent[]): string {
  const rows: unknown[][] = new Array(events.length)
  for (let i = 0; i < events.length; i++) rows[i] = encode(events[i] as PorticoEvent)
  return JSON.stringify(rows)
}

export function decodeEvents(json: string): PorticoEvent[] {
  const rows = JSON.parse(json) as unknown[][]
  const events: PorticoEvent[] = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) events[i] = decode(rows[i] as unknown[])
  return events
}

function encode(event: PorticoEvent): unknown[] {
  const fields: readonly string[] =
    event.type === 'exchange' ? EXCHANGE_FIELDS : NOTIFICATION_FIELDS
  const row: unknown[] = new Array(fields.length + 1)
  row[0] = event.type === 'exchange' ? EXCHANGE : NOTIFICATION
  const record = event as unknown as Record<string, unknown>
  for (let i = 0; i < fields.length; i++) row[i + 1] = record[fields[i] as string] ?? null
  return row
}

function decode(row: unknown[]): PorticoEvent {
  const exchange = row[0] === EXCHANGE
  const fields: readonly string[] = exchange ? EXCHANGE_FIELDS : NOTIFICATION_FIELDS
  const event: Record<string, unknown> = { type: exchange ? 'exchange' : 'notification' }
  for (let i = 0; i < fields.length; i++) {
    const value = row[i + 1]
    if (value !== null && value !== undefined) event[fields[i] as string] = value
  }
  return event as unknown as PorticoEvent
}
