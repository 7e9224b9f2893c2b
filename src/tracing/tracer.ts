/**
 * Portico's tracer: spans recorded as plain objects and exported over OTLP/HTTP
 * (`POST {endpoint}/v1/traces`), binary protobuf by default as OpenTelemetry's exporters do, or
 * JSON, by the shared BatchPoster (bounded queue, drops counted, retries with backoff, never
 * blocking the proxy). Not the OpenTelemetry SDK: measured
 * here, it cost about 22 µs per traced call (two spans created, about 7.5 µs each to
 * serialize), over a tenth of the proxy's CPU per request; this costs a few µs. With
 * `[observability.tracing]` off nothing is built at all.
 */
import { type BatchFormat, BatchPoster, jsonArray } from '../observe/batch-post.ts'
import type { PipeStats, StatsSource } from '../observe/status.ts'
import {
  randomWord,
  spanIdHex,
  type TraceContext,
  traceIdHex,
  wordsHex,
} from '../pipeline/trace-context.ts'
import { afterTurn } from '../util/after-turn.ts'
import { ProtoWriter, traceRequestHeads, writeSpan } from './otlp-proto.ts'

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const

export type AttributeValue = string | number | boolean

/**
 * A span's attributes as one flat array, key then value: cheap to append to on the request
 * path (no dictionary-mode objects) and encoded in one pass.
 */
export type Attributes = Array<string | AttributeValue>

/** Where a `Describe` puts a span's attributes: an array, or the protobuf writer directly. */
export interface AttributeSink {
  add(key: string, value: AttributeValue): void
}

/**
 * Gives a span its first attributes (into `attributes`) and its name (returned) from what it
 * was started for (`source`), when it is encoded: after the answer is written, not while the
 * request waits. The protobuf encoder passes a sink that writes each attribute as it comes, so
 * no array is built per span.
 */
export type Describe = (source: never, attributes: AttributeSink, span: Span) => string

/** Collects attributes into a flat array (the JSON encoder, and `Span.get`). */
class ArraySink implements AttributeSink {
  readonly attributes: Attributes = []
  add(key: string, value: AttributeValue): void {
    this.attributes.push(key, value)
  }
}

/**
 * A span, which is also the trace context of what runs inside it (`Call.trace`): its ids are
 * words (see pipeline/trace-context.ts), its parent's span id is copied, not referenced.
 */
export class Span implements TraceContext {
  readonly t0: number
  readonly t1: number
  readonly t2: number
  readonly t3: number
  readonly s0: number
  readonly s1: number
  readonly sampled = true
  /** Whether the span has a parent, and the parent's span id. */
  readonly hasParent: boolean
  readonly p0: number
  readonly p1: number
  name: string
  readonly kind: number
  /** Epoch milliseconds (fractional). */
  readonly start: number
  end = 0
  /** `http.response.status_code`, when set (0: not set): a field, as most spans have one. */
  httpStatus = 0
  /** The attributes `Describe` made (see `complete`), encoded before `attributes`. */
  described: Attributes | undefined = undefined
  /** Other attributes (`set`): made only when one is set, which few spans need. */
  attributes: Attributes | undefined
  /** 0 unset, 1 ok, 2 error. */
  status: 0 | 1 | 2 = 0
  statusMessage: string | undefined = undefined
  readonly #tracer: Tracer | undefined
  #describe: Describe | undefined
  #source: unknown

  constructor(
    name: string,
    kind: number,
    parent: TraceContext | undefined,
    attributes?: Attributes,
    describe?: Describe,
    source?: unknown,
    tracer?: Tracer,
  ) {
    if (parent === undefined) {
      do {
        this.t0 = randomWord()
        this.t1 = randomWord()
        this.t2 = randomWord()
        this.t3 = randomWord()
        // All zeros is the one invalid trace id (W3C Trace Context): drawn again, as unlikely as it is.
      } while ((this.t0 | this.t1 | this.t2 | this.t3) === 0)
      this.hasParent = false
      this.p0 = 0
      this.p1 = 0
    } else {
      this.t0 = parent.t0
      this.t1 = parent.t1
      this.t2 = parent.t2
      this.t3 = parent.t3
      this.hasParent = true
      this.p0 = parent.s0
      this.p1 = parent.s1
    }
    do {
      this.s0 = randomWord()
      this.s1 = randomWord()
    } while ((this.s0 | this.s1) === 0)
    this.name = name
    this.kind = kind
    this.start = nowMs()
    this.attributes = attributes
    this.#describe = describe
    this.#source = source
    this.#tracer = tracer
  }

  get traceId(): string {
    return traceIdHex(this)
  }

  get spanId(): string {
    return spanIdHex(this)
  }

  get parentSpanId(): string | undefined {
    return this.hasParent ? wordsHex(this.p0, this.p1) : undefined
  }

  /**
   * Ends the span when the call it was started for ends (`CallLifetime.onEnd(span)`): an object
   * with a method, not a closure per call.
   */
  callEnded(): void {
    this.#tracer?.end(this)
  }

  /**
   * Runs the span's `Describe`, once: its name, and the attributes encoded first, before those
   * set since it started (kept apart: joining the two arrays per span cost more than writing
   * them one after the other). The encoders call it; anyone reading a span's name or
   * attributes before it is encoded calls it first.
   */
  complete(): void {
    if (this.#describe === undefined) return
    const sink = new ArraySink()
    this.describeInto(sink)
    this.described = sink.attributes
  }

  /**
   * Runs the span's `Describe` into `sink`, once, and sets the span's name; false when it has
   * none left to run (never had one, or `complete` ran it).
   */
  describeInto(sink: AttributeSink): boolean {
    const describe = this.#describe
    if (describe === undefined) return false
    this.#describe = undefined
    this.name = describe(this.#source as never, sink, this)
    this.#source = undefined
    return true
  }

  /** Sets an attribute; a key set again keeps its last value (encoding then skips no duplicates). */
  set(key: string, value: AttributeValue): void {
    const attributes = this.attributes
    if (attributes === undefined) {
      this.attributes = [key, value]
      return
    }
    for (let i = 0; i < attributes.length; i += 2) {
      if (attributes[i] === key) {
        attributes[i + 1] = value
        return
      }
    }
    attributes.push(key, value)
  }

  /** The value of an attribute (the last one set under `key`). */
  get(key: string): AttributeValue | undefined {
    this.complete()
    if (key === 'http.response.status_code' && this.httpStatus !== 0) return this.httpStatus
    return lastValue(this.attributes ?? [], key) ?? lastValue(this.described ?? [], key)
  }

  /** Marks the span failed with `type` (its `error.type` and status message). */
  fail(type: string): void {
    this.set('error.type', type)
    this.failedAs(type)
  }

  /** The status of a failed span, for a `Describe` that writes `error.type` itself. */
  failedAs(type: string): void {
    this.status = 2
    this.statusMessage = type
  }
}

function lastValue(attributes: Attributes, key: string): AttributeValue | undefined {
  for (let i = attributes.length - 2; i >= 0; i -= 2) {
    if (attributes[i] === key) return attributes[i + 1] as AttributeValue
  }
  return undefined
}

/** OTLP/HTTP's two encodings, named as OTEL_EXPORTER_OTLP_PROTOCOL names them. */
export type OtlpProtocol = 'http/protobuf' | 'http/json'

export interface TracerOptions {
  /** Default `http/protobuf`. */
  protocol?: OtlpProtocol
  serviceName: string
  serviceVersion: string
  endpoint: string
  headers?: Record<string, string>
  sampleRatio: number
  maxQueue: number
  batchSize: number
  flushIntervalMs: number
  onError?: (message: string) => void
  /** Test seam: decides sampling of new traces (default Math.random). */
  random?: () => number
}

/** Read once: in Node 20 each read of `performance.timeOrigin` is a call into C++ (~40 ns). */
const TIME_ORIGIN = performance.timeOrigin

/** Epoch ms with sub-ms precision, monotonic within the process. */
export function nowMs(): number {
  return TIME_ORIGIN + performance.now()
}

export class Tracer implements StatsSource {
  readonly name = 'tracing'
  /**
   * Spans are encoded at the end of the loop turn they end in, straight into the open batch's
   * bytes: the span objects die young, and nothing per span waits for the batch (a string of
   * dozens of pieces, then a Buffer per span, alive across young-generation collections, made
   * GC the largest cost of tracing).
   */
  readonly #poster: BatchPoster
  readonly #ratio: number
  readonly #random: () => number
  /** Protobuf: the span being encoded (then copied into the open batch); undefined for JSON. */
  readonly #proto: ProtoWriter | undefined
  /** Spans ended in this loop turn, encoded at its end (see `end`). */
  readonly #ended: Span[] = []
  readonly #onError: ((message: string) => void) | undefined

  constructor(options: TracerOptions) {
    this.#ratio = options.sampleRatio
    this.#random = options.random ?? Math.random
    const json = options.protocol === 'http/json'
    this.#proto = json ? undefined : new ProtoWriter()
    this.#onError = options.onError
    const resource = resourceAttributes(options.serviceName, options.serviceVersion)
    this.#poster = new BatchPoster({
      name: 'tracing',
      url: tracesUrl(options.endpoint),
      headers: options.headers ?? {},
      batchSize: options.batchSize,
      flushIntervalMs: options.flushIntervalMs,
      maxBuffer: options.maxQueue,
      maxAttempts: 3,
      backoffMs: 1000,
      format: json
        ? jsonFormat(resource, options.serviceVersion)
        : protobufFormat(resource, options.serviceVersion),
      ...(options.onError ? { onError: options.onError } : {}),
    })
  }

  /** Whether a new trace (no sampled parent) is recorded. */
  sampleNew(): boolean {
    return this.#ratio >= 1 || (this.#ratio > 0 && this.#random() < this.#ratio)
  }

  /**
   * A span whose name and first attributes `describe` makes from `source` when the span is
   * encoded (after the loop turn's writes): building them is then off the request's path.
   * What `describe` reads of `source` must not change meanwhile.
   */
  startDescribed<T>(
    kind: number,
    parent: TraceContext | undefined,
    source: T,
    describe: (source: T, attributes: AttributeSink, span: Span) => string,
  ): Span {
    return new Span('', kind, parent, undefined, describe as Describe, source, this)
  }

  /**
   * Ends the span now; it is encoded and queued for export once the current I/O callbacks are
   * done (`afterTurn`: one task per turn for all the spans that ended in it). Why: an attempt span ends as its answer comes back, before that
   * answer is written to the client, and encoding it there added its cost to every traced
   * call's latency; after the write, it overlaps with the client's next turn. Spans wait only
   * until then (still young for the GC), and at most as many as ended in one loop turn.
   */
  end(span: Span): void {
    span.end = nowMs()
    this.#ended.push(span)
    if (this.#ended.length === 1) afterTurn(this.#encodeEnded)
  }

  /** Encodes the spans ended since the last turn; one that fails to encode is reported and skipped. */
  readonly #encodeEnded = (): void => {
    const spans = this.#ended
    for (let i = 0; i < spans.length; i++) {
      try {
        this.#encode(spans[i] as Span)
      } catch (error) {
        this.#onError?.(`tracing: a span could not be encoded: ${String(error)}`)
      }
    }
    spans.length = 0
  }

  #encode(span: Span): void {
    const proto = this.#proto
    if (proto === undefined) {
      this.#poster.push(encodeSpan(span))
      return
    }
    proto.reset()
    writeSpan(proto, span)
    this.#poster.push(proto.bytes())
  }

  pipeStats(): PipeStats {
    return this.#poster.pipeStats()
  }

  close(): Promise<void> {
    this.#encodeEnded()
    return this.#poster.close()
  }
}

/** OTLP/HTTP: the signal path is added to an endpoint given without one. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint)
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces'
  return url.toString()
}

function resourceAttributes(serviceName: string, version: string): Attributes {
  return [
    'service.name',
    serviceName,
    'service.version',
    version,
    'telemetry.sdk.name',
    'portico',
    'telemetry.sdk.language',
    'nodejs',
  ]
}

/** OTLP/JSON: one ExportTraceServiceRequest whose spans array holds the batch. */
function jsonFormat(resource: Attributes, version: string): BatchFormat {
  const scope = `{"name":"portico","version":${JSON.stringify(version)}}`
  const head = `{"resourceSpans":[{"resource":{"attributes":${encodeAttributes(resource)}},"scopeSpans":[{"scope":${scope},"spans":[`
  return jsonArray(head, ']}]}]}')
}

/** OTLP/protobuf: the spans are concatenated fields; the head carries their total length. */
function protobufFormat(resource: Attributes, version: string): BatchFormat {
  const tail = Buffer.alloc(0)
  const headFor = traceRequestHeads(resource, { name: 'portico', version })
  return {
    contentType: 'application/x-protobuf',
    separator: '',
    frame: (spans) => ({ head: headFor(spans.length), tail }),
  }
}

/** One span in OTLP/JSON (ids in hex, times as nanosecond strings, int64 as strings). */
export function encodeSpan(span: Span): string {
  span.complete()
  const parent = span.parentSpanId === undefined ? '' : `,"parentSpanId":"${span.parentSpanId}"`
  const status =
    span.status === 0
      ? '{}'
      : `{"code":${span.status}${span.statusMessage ? `,"message":${JSON.stringify(span.statusMessage)}` : ''}}`
  return `{"traceId":"${span.traceId}","spanId":"${span.spanId}"${parent},"name":${JSON.stringify(span.name)},"kind":${span.kind},"startTimeUnixNano":"${nanos(span.start)}","endTimeUnixNano":"${nanos(span.end)}","attributes":${encodeAttributes(span.described ?? [], ownAttributes(span))},"status":${status}}`
}

/** A span's attributes other than the described ones, its status code field included. */
function ownAttributes(span: Span): Attributes {
  const set = span.attributes ?? []
  return span.httpStatus === 0 ? set : ['http.response.status_code', span.httpStatus, ...set]
}

/**
 * Key/value pairs as OTLP `KeyValue`s. A span's keys are unique (`Span.set` replaces); the
 * resource's are written once. Values are escaped each time: they are new strings per call
 * (ids, session ids, names read from the request), which a cache keyed by text only hashed
 * and compared before escaping them anyway (in the proxy, dropping it made encoding 27 %
 * cheaper: perf2 log, step 15).
 */
function encodeAttributes(attributes: Attributes, more: Attributes = []): string {
  return `[${keyValuesJson(attributes)}${attributes.length > 0 && more.length > 0 ? ',' : ''}${keyValuesJson(more)}]`
}

function keyValuesJson(attributes: Attributes): string {
  let out = ''
  for (let i = 0; i < attributes.length; i += 2) {
    const value = attributes[i + 1] as AttributeValue
    const encoded =
      typeof value === 'string'
        ? `{"stringValue":${JSON.stringify(value)}}`
        : typeof value === 'boolean'
          ? `{"boolValue":${value}}`
          : Number.isInteger(value)
            ? `{"intValue":"${value}"}`
            : `{"doubleValue":${value}}`
    out += `${i === 0 ? '' : ','}${keyJson(attributes[i] as string)}${encoded}}`
  }
  return out
}

/**
 * `{"key":KEY,"value":` per attribute key. Keys are the few constants the middleware names
 * (their hashes are computed once, so this lookup is cheap, unlike one keyed by values).
 * Bounded: keys past the bound are escaped each time.
 */
const KEY_JSON = new Map<string, string>()

function keyJson(key: string): string {
  let out = KEY_JSON.get(key)
  if (out !== undefined) return out
  out = `{"key":${JSON.stringify(key)},"value":`
  if (KEY_JSON.size < 256) KEY_JSON.set(key, out)
  return out
}

/** Epoch ms (fractional) as an integer count of nanoseconds, in decimal. */
export function nanos(ms: number): string {
  const whole = Math.floor(ms)
  const fraction = Math.round((ms - whole) * 1e6)
  if (fraction >= 1e6) return `${whole + 1}000000`
  // Six digits, zero-padded: 1e6 + fraction has seven, the first one dropped.
  return `${whole}${String(1e6 + fraction).slice(1)}`
}
