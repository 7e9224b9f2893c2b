/**
 * The one recorder of both modes. `CallRecorder` follows one HTTP exchange that carried
 * JSON-RPC messages (a POST body, a legacy POST): timing, bytes, and each call's outcome as its
 * answer is written; it publishes one ExchangeEvent per call. `HttpRecorder` does the same for
 * an exchange that carried no JSON-RPC message (GET stream, DELETE, widget asset, a refusal
 * before the body was read). Cheap by construction: a few numbers per call, no body copies, and
 * nothing is built when no sink listens.
 */
import { performance } from 'node:perf_hooks'
import type { PorticoError } from '../errors.ts'
import { bigIdLiteral, isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Identity } from '../pipeline/identity.ts'
import type { Summary } from '../protocol/summarize.ts'
import type { EventBus } from './bus.ts'
import {
  type ExchangeEvent,
  type Outcome,
  RECORDED_NOTIFICATIONS,
  SCHEMA_METHODS,
  type Transport,
} from './event.ts'

export interface ExchangeBase {
  proxy: string
  transport: Transport
  userAgent?: string
  clientAddress?: string
  /** `'tunnel'` for a request that came through the tunnel (http/via.ts). */
  via?: 'tunnel'
  bytesIn: number
}

interface Track {
  call: Call
  outcome?: Outcome
  errorCode?: number
  errorMessage?: string
  reason?: string
  result?: JsonObject
  bytesOut: number
  /** Microseconds from the start of the exchange until this call's answer was complete. */
  doneUs?: number
}

/** Outcome details for a call Portico answered or gave up on. */
export interface Failure {
  errorCode?: number
  errorMessage?: string
  reason?: string
}

/** Describes a failure as the recorder stores it (the error's public message, never a cause). */
export function failureOf(error: PorticoError): Failure {
  return { errorCode: error.code, errorMessage: error.message, reason: error.reason }
}

abstract class Timed {
  readonly ts: number
  readonly #start: number
  protected firstByteUs: number | undefined

  /** `startedAt`: when the request arrived (`performance.now()`), else now. */
  constructor(startedAt: number | undefined) {
    const now = performance.now()
    this.#start = startedAt ?? now
    this.ts = Date.now() - Math.round(now - this.#start)
  }

  protected elapsedUs(): number {
    return Math.round((performance.now() - this.#start) * 1000)
  }

  /** Stamps the time to first byte (the first call wins). */
  protected stampFirstByte(): void {
    if (this.firstByteUs === undefined) this.firstByteUs = this.elapsedUs()
  }
}

export class CallRecorder extends Timed {
  readonly #bus: EventBus
  readonly #base: ExchangeBase
  readonly #tracks: Track[]
  #done = false

  constructor(bus: EventBus, base: ExchangeBase, calls: readonly Call[], startedAt?: number) {
    super(startedAt)
    this.#bus = bus
    this.#base = base
    this.#tracks = calls.map((call) => ({ call, bytesOut: 0 }))
    bus.expect()
  }

  /** True when an answer must be parsed so its result can be recorded (schema methods). */
  needsResult(index: number): boolean {
    if (!this.#bus.wantsResults) return false
    const method = this.#tracks[index]?.call.method
    return method !== undefined && SCHEMA_METHODS.has(method)
  }

  /** Counts bytes sent to the client for one call; the first write stamps time to first byte. */
  wrote(index: number, bytes: number): void {
    this.stampFirstByte()
    const track = this.#tracks[index]
    if (track) track.bytesOut += bytes
  }

  /** Records a call's answer (the response as summarized when it was written). */
  answer(index: number, summary: Summary | undefined): void {
    const track = this.#tracks[index]
    if (track === undefined || track.outcome !== undefined) return
    if (summary === undefined || !summary.isResponse) {
      track.outcome = 'error'
      track.reason = 'upstream_bad_response'
      track.errorMessage = 'the answer is not a JSON-RPC response'
      return
    }
    track.outcome = summary.outcome
    track.errorCode = summary.errorCode
    track.errorMessage = summary.errorMessage
    track.reason = summary.reason
    const method = track.call.method
    if (method !== undefined && SCHEMA_METHODS.has(method) && isObject(summary.parsed)) {
      const result = summary.parsed.result
      if (isObject(result)) track.result = result
    }
  }

  /** Records an outcome for a call not answered yet (a refusal, an upstream failure, a cancel). */
  fail(index: number, outcome: Outcome, failure: Failure = {}): void {
    const track = this.#tracks[index]
    if (track === undefined || track.outcome !== undefined) return
    track.outcome = outcome
    track.errorCode = failure.errorCode
    track.errorMessage = failure.errorMessage
    track.reason = failure.reason
  }

  /** Marks a call's answer complete (its latency ends here). */
  done(index: number): void {
    const track = this.#tracks[index]
    if (track !== undefined && track.doneUs === undefined) track.doneUs = this.elapsedUs()
  }

  /** Whether the call already has an outcome. */
  answered(index: number): boolean {
    return this.#tracks[index]?.outcome !== undefined
  }

  /** Emits one event per call; idempotent. */
  finish(httpStatus: number): void {
    if (this.#done) return
    this.#done = true
    this.#bus.settle()
    for (const track of this.#tracks) {
      // Middleware that outlive the answer (a trace span) read how it ended.
      const notes = track.call.notes
      notes.outcome = outcomeOf(track, notes.reason, track.call, httpStatus)
      if (track.errorCode !== undefined) notes.errorCode = track.errorCode
      notes.httpStatus = httpStatus
    }
    if (!this.#bus.hasSinks) return
    const endUs = this.elapsedUs()
    const share = this.#tracks.length || 1
    for (const track of this.#tracks) {
      this.#bus.publish(this.#event(track, httpStatus, endUs, share))
    }
  }

  #event(track: Track, httpStatus: number, endUs: number, share: number): ExchangeEvent {
    const { call } = track
    const notes = call.notes
    const event: ExchangeEvent = {
      type: 'exchange',
      ts: this.ts,
      proxy: this.#base.proxy,
      transport: this.#base.transport,
      era: call.era,
      kind: call.kind,
      // No method: a client's response, or a batch element that is not JSON-RPC (decoded as a
      // bare request): recorded as a lone invalid body is, by its HTTP method.
      method: call.method ?? (call.kind === 'response' ? 'response' : 'POST'),
      outcome: outcomeOf(track, notes.reason, call, httpStatus),
      httpStatus,
      durationUs: track.doneUs ?? endUs,
      firstByteUs: this.firstByteUs,
      // Bytes in of a batch are split evenly: per-message sizes are not observable on one body.
      bytesIn: Math.round(this.#base.bytesIn / share),
      bytesOut: track.bytesOut,
    }
    // Field by field rather than a generic copy: this runs once per recorded call.
    if (notes.backend !== undefined) event.backend = notes.backend
    if (notes.ranTool !== undefined) {
      event.name = notes.ranTool
      event.targetKind = 'tool'
    } else if (call.target?.name !== undefined) {
      event.name = call.target.name
      if (call.target.kind !== undefined) event.targetKind = call.target.kind
    }
    if (call.id !== undefined) event.jsonrpcId = bigIdLiteral(call.id) ?? call.id
    const sessionId = call.sessionId ?? notes.sessionId
    if (sessionId !== undefined) event.sessionId = sessionId
    if (call.protocolVersion !== undefined) event.protocolVersion = call.protocolVersion
    if (call.client !== undefined) event.client = call.client
    if (this.#base.userAgent !== undefined) event.userAgent = this.#base.userAgent
    const identity = call.identity
    if (identity !== undefined) {
      event.subject = identity.subject
      if (identity.clientId !== undefined) event.authClient = identity.clientId
    }
    if (this.#base.clientAddress !== undefined) event.clientAddress = this.#base.clientAddress
    if (this.#base.via !== undefined) event.via = this.#base.via
    if (track.errorCode !== undefined) event.errorCode = track.errorCode
    if (track.errorMessage !== undefined) event.errorMessage = track.errorMessage
    const reason = track.reason ?? notes.reason
    if (reason !== undefined) event.reason = reason
    if (notes.upstreamStatus !== undefined) event.upstreamStatus = notes.upstreamStatus
    if (notes.cache !== undefined) event.cache = notes.cache
    if (notes.queuedMs !== undefined) event.queuedMs = notes.queuedMs
    if (notes.retries !== undefined) event.retries = notes.retries
    if (notes.hedges !== undefined) event.hedges = notes.hedges
    if (notes.breaker !== undefined) event.breaker = notes.breaker
    if (track.result !== undefined) event.result = track.result
    const params = schemaParams(call)
    if (params !== undefined) event.params = params
    return event
  }
}

/** A call answered with an error because it was cancelled counts as cancelled. */
function outcomeOf(
  track: Track,
  reason: string | undefined,
  call: Call,
  httpStatus: number,
): Outcome {
  if ((track.reason ?? reason) === 'cancelled') return 'cancelled'
  if (track.outcome !== undefined) return track.outcome
  return call.kind === 'request' && httpStatus >= 400 ? 'http_error' : 'ok'
}

function schemaParams(call: Call): JsonObject | undefined {
  if (call.method === undefined || !SCHEMA_METHODS.has(call.method)) return undefined
  const message = call.message
  return 'params' in message && isObject(message.params) ? message.params : undefined
}

export interface HttpExchange extends ExchangeBase {
  method: string
  kind: 'stream' | 'http'
  path: string
  sessionId?: string
  /** The verified caller (authentication ran before the exchange was handled). */
  identity?: Identity
}

/** One exchange that carried no JSON-RPC message: GET stream, DELETE, widget, early refusal. */
export class HttpRecorder extends Timed {
  readonly #bus: EventBus
  readonly #exchange: HttpExchange
  #bytesOut = 0
  #outcome: Outcome | undefined
  #failure: Failure = {}
  #done = false
  upstreamStatus: number | undefined
  backend: string | undefined
  /** A session learned during the exchange (a legacy stream's `endpoint` event names it). */
  sessionId: string | undefined

  constructor(bus: EventBus, exchange: HttpExchange, startedAt?: number) {
    super(startedAt)
    this.#bus = bus
    this.#exchange = exchange
    bus.expect()
  }

  wrote(bytes: number): void {
    this.stampFirstByte()
    this.#bytesOut += bytes
  }

  /** Outcome override (cancelled, an upstream failure, a refusal). */
  fail(outcome: Outcome, failure: Failure = {}): void {
    this.#outcome = outcome
    this.#failure = failure
  }

  finish(httpStatus: number): void {
    if (this.#done) return
    this.#done = true
    this.#bus.settle()
    if (!this.#bus.hasSinks) return
    const exchange = this.#exchange
    const event: ExchangeEvent = {
      type: 'exchange',
      ts: this.ts,
      proxy: exchange.proxy,
      transport: exchange.transport,
      era: 'legacy',
      kind: exchange.kind,
      method: exchange.method,
      path: exchange.path,
      outcome: this.#outcome ?? (httpStatus >= 400 ? 'http_error' : 'ok'),
      httpStatus,
      durationUs: this.elapsedUs(),
      bytesIn: exchange.bytesIn,
      bytesOut: this.#bytesOut,
    }
    if (this.firstByteUs !== undefined) event.firstByteUs = this.firstByteUs
    const sessionId = exchange.sessionId ?? this.sessionId
    if (sessionId !== undefined) event.sessionId = sessionId
    if (exchange.userAgent !== undefined) event.userAgent = exchange.userAgent
    if (exchange.identity !== undefined) {
      event.subject = exchange.identity.subject
      if (exchange.identity.clientId !== undefined) event.authClient = exchange.identity.clientId
    }
    if (exchange.clientAddress !== undefined) event.clientAddress = exchange.clientAddress
    if (exchange.via !== undefined) event.via = exchange.via
    if (this.upstreamStatus !== undefined) event.upstreamStatus = this.upstreamStatus
    if (this.backend !== undefined) event.backend = this.backend
    if (this.#failure.reason !== undefined) event.reason = this.#failure.reason
    if (this.#failure.errorCode !== undefined) event.errorCode = this.#failure.errorCode
    if (this.#failure.errorMessage !== undefined) event.errorMessage = this.#failure.errorMessage
    this.#bus.publish(event)
  }
}

/** Where a server notification was seen, for `publishNotification`. */
export interface NotificationPlace {
  proxy: string
  transport: Transport
  era: Call['era']
  sessionId?: string
}

/**
 * Records a server notification worth keeping (list changes, resource updates) seen on a
 * client's stream. The summary is parsed already (notifications always are).
 */
export function publishNotification(
  bus: EventBus,
  place: NotificationPlace,
  summary: Summary,
  bytes: number,
): void {
  if (summary.method === undefined || !RECORDED_NOTIFICATIONS.has(summary.method)) return
  if (!bus.hasSinks) return
  const parsed = summary.parsed
  bus.publish({
    type: 'notification',
    ts: Date.now(),
    proxy: place.proxy,
    ...(place.sessionId === undefined ? {} : { sessionId: place.sessionId }),
    transport: place.transport,
    era: place.era,
    method: summary.method,
    bytes,
    ...(isObject(parsed) && isObject(parsed.params) ? { params: parsed.params } : {}),
  })
}
