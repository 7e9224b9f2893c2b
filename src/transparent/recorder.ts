/**
 * Per-HTTP-exchange bookkeeping for observability: timing (first byte, completion), bytes,
 * and the outcome of each call in the body. Emits one ExchangeEvent per call when the
 * exchange ends. Cheap by construction: a few numbers per call, no copies of bodies.
 */
import { performance } from 'node:perf_hooks'
import type { JsonObject, JsonRpcId } from '../jsonrpc/message.ts'
import { isObject } from '../jsonrpc/message.ts'
import type { EventBus } from '../observe/bus.ts'
import {
  type ExchangeEvent,
  type Outcome,
  SCHEMA_METHODS,
  type Transport,
} from '../observe/event.ts'
import type { Call } from '../pipeline/types.ts'
import type { Era } from '../protocol/classify.ts'
import type { Summary } from './summarize.ts'

export interface RecorderBase {
  proxy: string
  transport: Transport
  userAgent?: string
  bytesIn: number
  /** Describes a non-JSON-RPC exchange (GET stream, DELETE, widget request): one event, no calls. */
  http?: { method: string; kind: 'stream' | 'http'; path: string; sessionId?: string }
}

interface CallRecord {
  call: Call
  outcome?: Outcome
  errorCode?: number
  errorMessage?: string
  reason?: string
  result?: JsonObject
  /** Set once the call's answer has been seen. */
  answered: boolean
}

export class Recorder {
  readonly ts = Date.now()
  readonly #start = performance.now()
  readonly #bus: EventBus
  readonly #base: RecorderBase
  readonly #records: CallRecord[]
  #firstByteUs: number | undefined
  #bytesOut = 0
  #done = false
  #httpOutcome: Outcome | undefined
  #httpReason: string | undefined
  sessionId: string | undefined
  upstreamStatus: number | undefined

  constructor(bus: EventBus, base: RecorderBase, calls: readonly Call[]) {
    this.#bus = bus
    this.#base = base
    this.#records = calls.map((call) => ({ call, answered: false }))
    this.sessionId = calls[0]?.sessionId ?? base.http?.sessionId
  }

  /** Client-facing transport of this exchange. */
  get transport(): Transport {
    return this.#base.transport
  }

  /** Era of the exchange's first call (a stream's notifications share it). */
  get era(): Era {
    return this.#records[0]?.call.era ?? 'legacy'
  }

  get active(): boolean {
    return this.#bus.hasSinks
  }

  /** True when an answer must be parsed so its result can be recorded (schema methods). */
  get needsResults(): boolean {
    if (!this.#bus.hasSinks) return false
    return this.#records.some(
      (r) => r.call.method !== undefined && SCHEMA_METHODS.has(r.call.method),
    )
  }

  /** Counts bytes sent to the client; the first call stamps time to first byte. */
  wrote(bytes: number): void {
    if (this.#firstByteUs === undefined) this.#firstByteUs = this.#elapsedUs()
    this.#bytesOut += bytes
  }

  /** Records a response message; returns false when it matched no pending call. */
  answer(summary: Summary): boolean {
    const record = this.#pick(summary.id)
    if (record === undefined) return false
    record.answered = true
    record.outcome = summary.outcome
    record.errorCode = summary.errorCode
    record.errorMessage = summary.errorMessage
    const method = record.call.method
    if (method !== undefined && SCHEMA_METHODS.has(method) && isObject(summary.parsed)) {
      const result = summary.parsed.result
      if (isObject(result)) record.result = result
    }
    return true
  }

  /** Marks every unanswered call with this outcome (HTTP failure, Portico error, cancel). */
  fail(
    outcome: Outcome,
    detail: { errorCode?: number; errorMessage?: string; reason?: string } = {},
  ): void {
    for (const record of this.#records) {
      if (record.answered) continue
      record.answered = true
      record.outcome = outcome
      record.errorCode = detail.errorCode
      record.errorMessage = detail.errorMessage
      record.reason = detail.reason
    }
  }

  /** Emits one event per call; idempotent. Unanswered requests count as `http_error`. */
  finish(httpStatus: number): void {
    if (this.#done) return
    this.#done = true
    if (!this.#bus.hasSinks) return
    const durationUs = this.#elapsedUs()
    if (this.#base.http) {
      this.#bus.publish(this.#httpEvent(this.#base.http, httpStatus, durationUs))
      return
    }
    const share = this.#records.length || 1
    for (const record of this.#records) {
      this.#bus.publish(this.#event(record, httpStatus, durationUs, share))
    }
  }

  #event(record: CallRecord, httpStatus: number, durationUs: number, share: number): ExchangeEvent {
    const { call } = record
    const outcome =
      record.outcome ?? (call.kind === 'request' && httpStatus >= 400 ? 'http_error' : 'ok')
    const event: ExchangeEvent = {
      type: 'exchange',
      ts: this.ts,
      proxy: this.#base.proxy,
      transport: this.#base.transport,
      era: call.era,
      kind: call.kind,
      method: call.method ?? 'response',
      outcome,
      httpStatus,
      durationUs,
      firstByteUs: this.#firstByteUs,
      // A batch's bytes are split evenly: per-message sizes are not observable on one body.
      bytesIn: Math.round(this.#base.bytesIn / share),
      bytesOut: Math.round(this.#bytesOut / share),
    }
    // Field by field rather than assignDefined: this runs once per recorded call.
    if (call.target) {
      event.name = call.target.name
      event.targetKind = call.target.kind
    }
    if (call.id !== undefined) event.jsonrpcId = call.id
    const sessionId = call.sessionId ?? this.sessionId
    if (sessionId !== undefined) event.sessionId = sessionId
    if (call.protocolVersion !== undefined) event.protocolVersion = call.protocolVersion
    if (call.client !== undefined) event.client = call.client
    if (this.#base.userAgent !== undefined) event.userAgent = this.#base.userAgent
    if (record.errorCode !== undefined) event.errorCode = record.errorCode
    if (record.errorMessage !== undefined) event.errorMessage = record.errorMessage
    if (record.reason !== undefined) event.reason = record.reason
    if (this.upstreamStatus !== undefined) event.upstreamStatus = this.upstreamStatus
    if (record.result !== undefined) event.result = record.result
    const params = schemaParams(call)
    if (params !== undefined) event.params = params
    return event
  }

  #httpEvent(
    http: NonNullable<RecorderBase['http']>,
    httpStatus: number,
    durationUs: number,
  ): ExchangeEvent {
    const event: ExchangeEvent = {
      type: 'exchange',
      ts: this.ts,
      proxy: this.#base.proxy,
      transport: this.#base.transport,
      era: 'legacy',
      kind: http.kind,
      method: http.method,
      path: http.path,
      outcome: this.#httpOutcome ?? (httpStatus >= 400 ? 'http_error' : 'ok'),
      httpStatus,
      durationUs,
      bytesIn: this.#base.bytesIn,
      bytesOut: this.#bytesOut,
    }
    assignDefined(event, {
      firstByteUs: this.#firstByteUs,
      sessionId: http.sessionId ?? this.sessionId,
      userAgent: this.#base.userAgent,
      upstreamStatus: this.upstreamStatus,
      reason: this.#httpReason,
    })
    return event
  }

  /** Outcome override for an HTTP-only exchange (e.g. cancelled, upstream unreachable). */
  failHttp(outcome: Outcome, reason?: string): void {
    this.#httpOutcome = outcome
    this.#httpReason = reason
  }

  /** True once every request in the exchange has its answer. */
  get settled(): boolean {
    return this.#records.every((r) => r.answered || r.call.kind !== 'request')
  }

  #pick(id: JsonRpcId | null | undefined): CallRecord | undefined {
    const pending = this.#records.filter((r) => !r.answered && r.call.kind === 'request')
    if (id === undefined || id === null) return pending.length === 1 ? pending[0] : undefined
    return pending.find((r) => r.call.id === id)
  }

  #elapsedUs(): number {
    return Math.round((performance.now() - this.#start) * 1000)
  }
}

function schemaParams(call: Call): JsonObject | undefined {
  if (call.method === undefined || !SCHEMA_METHODS.has(call.method)) return undefined
  const message = call.message
  return 'params' in message && isObject(message.params) ? message.params : undefined
}

function assignDefined<T extends object>(target: T, values: Partial<T>): void {
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) (target as Record<string, unknown>)[key] = value
  }
}

export type { JsonRpcId }
