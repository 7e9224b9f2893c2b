/**
 * The exchange event of one gateway call, with the backend that served it, so the store and
 * the CLI reports work per backend exactly as in transparent mode.
 */
import { performance } from 'node:perf_hooks'
import type { JsonObject, JsonRpcErrorObject } from '../jsonrpc/message.ts'
import type { EventBus } from '../observe/bus.ts'
import { type ExchangeEvent, SCHEMA_METHODS } from '../observe/event.ts'
import type { Call } from '../pipeline/types.ts'

export interface CallRecord {
  call: Call
  proxy: string
  startedAt: number
  ts: number
  bytesIn: number
  bytesOut: number
  httpStatus: number
  backend?: string
  result?: JsonObject
  error?: JsonRpcErrorObject
  reason?: string
  sessionId?: string
  userAgent?: string
  firstByteUs?: number
}

export function recordCall(bus: EventBus, record: CallRecord): void {
  if (!bus.hasSinks) return
  const { call } = record
  const event: ExchangeEvent = {
    type: 'exchange',
    ts: record.ts,
    proxy: record.proxy,
    transport: 'streamable-http',
    era: call.era,
    kind: call.kind,
    method: call.method ?? 'response',
    outcome: outcomeOf(record),
    httpStatus: record.httpStatus,
    durationUs: Math.round((performance.now() - record.startedAt) * 1000),
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
  }
  const optional: Partial<ExchangeEvent> = {
    backend: record.backend,
    name: call.target?.name,
    targetKind: call.target?.kind,
    jsonrpcId: call.id,
    sessionId: record.sessionId ?? call.sessionId,
    protocolVersion: call.protocolVersion,
    client: call.client,
    userAgent: record.userAgent,
    errorCode: record.error?.code,
    errorMessage: record.error?.message,
    reason: record.reason,
    firstByteUs: record.firstByteUs,
  }
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (event as unknown as Record<string, unknown>)[key] = value
  }
  if (call.method && SCHEMA_METHODS.has(call.method)) {
    const params = 'params' in call.message ? call.message.params : undefined
    if (params) event.params = params
    if (record.result) event.result = record.result
  }
  bus.publish(event)
}

function outcomeOf(record: CallRecord): ExchangeEvent['outcome'] {
  if (record.reason === 'cancelled') return 'cancelled'
  if (record.error) return 'error'
  if (record.result?.isError === true) return 'tool_error'
  return 'ok'
}
