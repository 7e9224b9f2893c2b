/**
 * Spans in OTLP's binary protobuf encoding (opentelemetry-proto `trace/v1`, the default of
 * OpenTelemetry's exporters, `http/protobuf`), written field by field into one reusable buffer.
 * Why not JSON: a span's JSON is dozens of string pieces joined (and escaped) on the proxy's
 * thread; here ids go in as 16 and 8 bytes, times as two 32-bit words, strings as one UTF-8
 * write each, keys as precomputed bytes, and nothing is concatenated.
 *
 * Only the fields Portico sets are written. Field numbers (proto3):
 * - ExportTraceServiceRequest: resource_spans 1
 * - ResourceSpans: resource 1, scope_spans 2; Resource: attributes 1
 * - ScopeSpans: scope 1, spans 2; InstrumentationScope: name 1, version 2
 * - Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6,
 *   start_time_unix_nano 7 (fixed64), end_time_unix_nano 8 (fixed64), attributes 9, status 15
 * - Status: message 2, code 3; KeyValue: key 1, value 2
 * - AnyValue: string_value 1, bool_value 2, int_value 3 (int64), double_value 4
 */
import { withRoom } from '../util/body-writer.ts'
import type { AttributeSink, Attributes, AttributeValue, Span } from './tracer.ts'

const LENGTH_DELIMITED = 2
const VARINT = 0
const FIXED64 = 1

/** A message or string whose length prefix waits for its end: where it started. */
type Mark = number

/** A buffer grown past this for one large span is not kept for the next. */
const MAX_KEPT_BYTES = 1024 * 1024

/** A growable buffer that protobuf fields are appended to. */
export class ProtoWriter {
  readonly #initial: number
  #buffer: Buffer
  #length = 0

  constructor(initialBytes = 4096) {
    this.#initial = initialBytes
    this.#buffer = Buffer.allocUnsafeSlow(initialBytes)
  }

  /** Forgets what was written (the buffer is kept, unless one span made it huge). */
  reset(): void {
    this.#length = 0
    if (this.#buffer.length > MAX_KEPT_BYTES) this.#buffer = Buffer.allocUnsafeSlow(this.#initial)
  }

  /** What was written since the last reset (a view, valid until the next write or reset). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType)
  }

  /** An unsigned varint below 2^53. */
  varint(value: number): void {
    this.#room(10)
    const buffer = this.#buffer
    let at = this.#length
    while (value >= 0x80) {
      buffer[at++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    buffer[at++] = value
    this.#length = at
  }

  /** A 64-bit varint from its two's-complement words (negative int64s take ten bytes). */
  varint64(low: number, high: number): void {
    this.#room(10)
    const buffer = this.#buffer
    let at = this.#length
    while (high !== 0 || low >= 0x80) {
      buffer[at++] = (low & 0x7f) | 0x80
      low = ((low >>> 7) | (high << 25)) >>> 0
      high >>>= 7
    }
    buffer[at++] = low
    this.#length = at
  }

  /**
   * A string field. Short ASCII text (names, ids, addresses: nearly every attribute) is copied
   * byte by byte after a one-byte length, which costs less than a call into Buffer's UTF-8
   * writer; anything else is written by that writer and its length fixed up by `end`.
   */
  string(field: number, text: string): void {
    this.tag(field, LENGTH_DELIMITED)
    const length = text.length
    this.#room(length * 3 + 1)
    const mark = this.#length
    const buffer = this.#buffer
    if (length < 0x80) {
      let at = mark + 1
      let i = 0
      for (; i < length; i++) {
        const code = text.charCodeAt(i)
        if (code >= 0x80) break
        buffer[at++] = code
      }
      if (i === length) {
        buffer[mark] = length
        this.#length = at
        return
      }
    }
    this.#length = mark + 1
    this.#length += buffer.write(text, this.#length, 'utf8')
    this.end(mark)
  }

  /**
   * A bytes field from 32-bit words, most significant byte first (trace and span ids: see
   * pipeline/trace-context.ts). Written by hand: for 8 or 16 bytes a call into C++ costs more.
   */
  words(field: number, w0: number, w1: number, w2?: number, w3?: number): void {
    const length = w2 === undefined ? 8 : 16
    this.tag(field, LENGTH_DELIMITED)
    this.varint(length)
    this.#room(length)
    const buffer = this.#buffer
    const at = this.#length
    putWord(buffer, at, w0)
    putWord(buffer, at + 4, w1)
    if (w2 !== undefined) {
      putWord(buffer, at + 8, w2)
      putWord(buffer, at + 12, w3 as number)
    }
    this.#length = at + length
  }

  /** Bytes as they are (precomputed fields). */
  raw(bytes: Uint8Array): void {
    this.#room(bytes.length)
    this.#buffer.set(bytes, this.#length)
    this.#length += bytes.length
  }

  /** Epoch milliseconds (fractional) as a fixed64 count of nanoseconds. */
  nanos(field: number, ms: number): void {
    this.tag(field, FIXED64)
    this.#room(8)
    const [low, high] = nanosWords(ms)
    this.#buffer.writeUInt32LE(low, this.#length)
    this.#buffer.writeUInt32LE(high, this.#length + 4)
    this.#length += 8
  }

  double(field: number, value: number): void {
    this.tag(field, FIXED64)
    this.#room(8)
    this.#buffer.writeDoubleLE(value, this.#length)
    this.#length += 8
  }

  /** Opens an embedded message (one byte kept for its length; see `end`). */
  begin(field: number): Mark {
    this.tag(field, LENGTH_DELIMITED)
    this.#room(1)
    const mark = this.#length
    this.#length = mark + 1
    return mark
  }

  /**
   * Writes the length of what followed `mark` into the byte kept for it; a length of 128 or
   * more needs more bytes, so the content moves up (a span's few hundred bytes, once).
   */
  end(mark: Mark): void {
    const length = this.#length - mark - 1
    if (length < 0x80) {
      this.#buffer[mark] = length
      return
    }
    const size = varintSize(length)
    this.#room(size - 1)
    this.#buffer.copyWithin(mark + size, mark + 1, this.#length)
    this.#length += size - 1
    let at = mark
    let value = length
    while (value >= 0x80) {
      this.#buffer[at++] = (value & 0x7f) | 0x80
      value >>>= 7
    }
    this.#buffer[at] = value
  }

  #room(bytes: number): void {
    if (this.#buffer.length - this.#length < bytes)
      this.#buffer = withRoom(this.#buffer, this.#length, bytes)
  }
}

export function varintSize(value: number): number {
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    size++
  }
  return size
}

/**
 * Epoch ms (fractional, below 2^42) as the low and high 32-bit words of its nanoseconds.
 * Exact without BigInt: ms = a·2^21 + b, so ns = (a·10^6)·2^21 + (b·10^6 + fraction), each
 * product below 2^53.
 */
export function nanosWords(ms: number): [number, number] {
  let whole = Math.floor(ms)
  let fraction = Math.round((ms - whole) * 1e6)
  if (fraction >= 1e6) {
    whole += 1
    fraction -= 1e6
  }
  const a = Math.floor(whole / 0x200000)
  const b = whole - a * 0x200000
  const upper = a * 1e6
  const lower = b * 1e6 + fraction
  // upper·2^21 = (upper mod 2^11)·2^21 + floor(upper / 2^11)·2^32
  let low = (upper % 0x800) * 0x200000 + lower
  let high = Math.floor(upper / 0x800)
  const carry = Math.floor(low / 0x100000000)
  low -= carry * 0x100000000
  high += carry
  return [low, high]
}

/**
 * Attribute keys whose values come from a small set (methods, versions, outcomes, status
 * codes, tool and backend names): their whole KeyValue fields are kept encoded, per value.
 * A traced call writes about eighteen attributes, thirteen of them of these keys.
 */
const FEW_VALUES: ReadonlySet<string> = new Set([
  'mcp.method.name',
  'jsonrpc.protocol.version',
  'gen_ai.tool.name',
  'gen_ai.operation.name',
  'gen_ai.prompt.name',
  'network.protocol.name',
  'mcp.protocol.version',
  'portico.backend',
  'portico.outcome',
  'http.response.status_code',
  'rpc.response.status_code',
  'error.type',
])
/** Values kept encoded per key: past this, a key's other values are encoded each time (a bound on what a client's names can make Portico keep). */
const MAX_VALUES_PER_KEY = 128

interface KeyInfo {
  /** The KeyValue's key field, with the value field's tag after it. */
  bytes: Buffer
  /** For keys of `FEW_VALUES`: whole KeyValue fields (span attributes, field 9) by value. */
  pairs: Map<AttributeValue, Buffer> | undefined
}

const KEYS = new Map<string, KeyInfo>()

function keyInfo(key: string): KeyInfo {
  let info = KEYS.get(key)
  if (info !== undefined) return info
  const writer = new ProtoWriter(64)
  writer.string(1, key)
  info = { bytes: Buffer.from(writer.bytes()), pairs: FEW_VALUES.has(key) ? new Map() : undefined }
  if (KEYS.size < 256) KEYS.set(key, info)
  return info
}

/** Attributes as repeated KeyValue messages under `field`. */
export function writeAttributes(writer: ProtoWriter, field: number, attributes: Attributes): void {
  for (let i = 0; i < attributes.length; i += 2) {
    writeAttribute(writer, field, attributes[i] as string, attributes[i + 1] as AttributeValue)
  }
}

/** One attribute as a KeyValue message under `field`. */
function writeAttribute(
  writer: ProtoWriter,
  field: number,
  key: string,
  value: AttributeValue,
): void {
  const info = keyInfo(key)
  const pairs = field === SPAN_ATTRIBUTES ? info.pairs : undefined
  const known = pairs?.get(value)
  if (known !== undefined) writer.raw(known)
  else if (pairs !== undefined && pairs.size < MAX_VALUES_PER_KEY && isShort(value)) {
    const pair = new ProtoWriter(64)
    writeKeyValue(pair, field, info, value)
    const bytes = Buffer.from(pair.bytes())
    pairs.set(value, bytes)
    writer.raw(bytes)
  } else writeKeyValue(writer, field, info, value)
}

/**
 * Writes a span's described attributes straight into the writer of the span being written
 * (`writeSpan` points it there) as its `Describe` names them: one sink, reused, so nothing is
 * allocated per span.
 */
class SpanAttributeSink implements AttributeSink {
  writer = new ProtoWriter(0)
  add(key: string, value: AttributeValue): void {
    writeAttribute(this.writer, SPAN_ATTRIBUTES, key, value)
  }
}

const SINK = new SpanAttributeSink()

/**
 * Only short values are kept: a client names its own tools (transparent mode), and what is
 * kept must stay small whatever it sends.
 */
function isShort(value: AttributeValue): boolean {
  return typeof value !== 'string' || value.length <= MAX_KEPT_VALUE_LENGTH
}

const MAX_KEPT_VALUE_LENGTH = 64

/** A span's `attributes` field number. */
const SPAN_ATTRIBUTES = 9

function writeKeyValue(
  writer: ProtoWriter,
  field: number,
  info: KeyInfo,
  value: AttributeValue,
): void {
  const pair = writer.begin(field)
  writer.raw(info.bytes)
  const any = writer.begin(2)
  writeValue(writer, value)
  writer.end(any)
  writer.end(pair)
}

function writeValue(writer: ProtoWriter, value: AttributeValue): void {
  if (typeof value === 'string') writer.string(1, value)
  else if (typeof value === 'boolean') {
    writer.tag(2, VARINT)
    writer.varint(value ? 1 : 0)
  } else if (Number.isSafeInteger(value)) {
    writer.tag(3, VARINT)
    const high = Math.floor(value / 0x100000000)
    writer.varint64((value - high * 0x100000000) >>> 0, high >>> 0)
  } else writer.double(4, value)
}

/** One span as the `spans` field (2) of a ScopeSpans message: spans written one after another concatenate into the repeated field. */
export function writeSpan(writer: ProtoWriter, span: Span): void {
  const message = writer.begin(2)
  writer.words(1, span.t0, span.t1, span.t2, span.t3)
  writer.words(2, span.s0, span.s1)
  if (span.hasParent) writer.words(4, span.p0, span.p1)
  writer.tag(6, VARINT)
  writer.varint(span.kind)
  writer.nanos(7, span.start)
  writer.nanos(8, span.end)
  // The described attributes go first, written as the span's `Describe` names them; it also
  // gives the name, written after them (protobuf fields may come in any order).
  SINK.writer = writer
  if (!span.describeInto(SINK) && span.described !== undefined)
    writeAttributes(writer, SPAN_ATTRIBUTES, span.described)
  writer.string(5, span.name)
  if (span.httpStatus !== 0)
    writeAttribute(writer, SPAN_ATTRIBUTES, 'http.response.status_code', span.httpStatus)
  if (span.attributes !== undefined) writeAttributes(writer, SPAN_ATTRIBUTES, span.attributes)
  if (span.status !== 0) {
    const status = writer.begin(15)
    if (span.statusMessage) writer.string(2, span.statusMessage)
    writer.tag(3, VARINT)
    writer.varint(span.status)
    writer.end(status)
  }
  writer.end(message)
}

/**
 * The ExportTraceServiceRequest around a batch of spans (each written by `writeSpan`), as a
 * function of the spans' total length: the resource and scope fields are encoded once, and only
 * the two enclosing lengths, which include the spans', are written per batch.
 */
export function traceRequestHeads(
  resourceAttributes: Attributes,
  scope: { name: string; version: string },
): (spansLength: number) => Buffer {
  const resourceWriter = new ProtoWriter(512)
  const mark = resourceWriter.begin(1)
  writeAttributes(resourceWriter, 1, resourceAttributes)
  resourceWriter.end(mark)
  const resource = Buffer.from(resourceWriter.bytes())
  const scopeWriter = new ProtoWriter(128)
  const scopeMark = scopeWriter.begin(1)
  scopeWriter.string(1, scope.name)
  scopeWriter.string(2, scope.version)
  scopeWriter.end(scopeMark)
  const scopeField = Buffer.from(scopeWriter.bytes())
  return (spansLength) => {
    const scopeSpansLength = scopeField.length + spansLength
    const resourceSpansLength =
      resource.length + 1 + varintSize(scopeSpansLength) + scopeSpansLength
    const head = new ProtoWriter(resource.length + scopeField.length + 32)
    head.tag(1, LENGTH_DELIMITED)
    head.varint(resourceSpansLength)
    head.raw(resource)
    head.tag(2, LENGTH_DELIMITED)
    head.varint(scopeSpansLength)
    head.raw(scopeField)
    return Buffer.from(head.bytes())
  }
}

/** A 32-bit word's four bytes, most significant first. */
function putWord(buffer: Buffer, at: number, word: number): void {
  buffer[at] = word >>> 24
  buffer[at + 1] = (word >>> 16) & 0xff
  buffer[at + 2] = (word >>> 8) & 0xff
  buffer[at + 3] = word & 0xff
}
