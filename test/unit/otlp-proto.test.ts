/**
 * OTLP/HTTP binary protobuf encoding of spans, checked by decoding with protobufjs (an
 * independent protobuf implementation) against opentelemetry-proto's field numbers: a whole
 * export request as the tracer's batch format frames it (resource, scope, several spans),
 * every attribute type (negative and large integers, doubles, booleans, non-ASCII and long
 * strings), nanosecond times exact to the nanosecond, and lengths that need more than one
 * varint byte.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseTraceparent } from '../../src/pipeline/trace-context.ts'
import {
  nanosWords,
  ProtoWriter,
  traceRequestHeads,
  varintSize,
  writeSpan,
} from '../../src/tracing/otlp-proto.ts'
import { Span, Tracer } from '../../src/tracing/tracer.ts'
import { decodeTraceRequest, type OtlpPayload } from '../helpers/otlp-proto.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

/** Spans framed as one export request, the way the tracer's batches are. */
function exportRequest(spans: Span[]): OtlpPayload {
  const writer = new ProtoWriter(16)
  for (const span of spans) writeSpan(writer, span)
  const elements = Buffer.from(writer.bytes())
  const head = traceRequestHeads(['service.name', 'portico-test'], {
    name: 'portico',
    version: '9.9.9',
  })(elements.length)
  return decodeTraceRequest(Buffer.concat([head, elements])) as OtlpPayload
}

function nanosOf(ms: number): bigint {
  const [low, high] = nanosWords(ms)
  return (BigInt(high) << 32n) + BigInt(low)
}

describe('OTLP protobuf encoding', () => {
  it('encodes spans that protobufjs decodes to the same ids, times, attributes and status', () => {
    const long = 'x'.repeat(300)
    const server = new Span('tools/call echo', 2, parseTraceparent(`00-${TRACE}-${PARENT}-01`), [
      'mcp.method.name',
      'tools/call',
      'http.response.status_code',
      200,
      'big',
      2 ** 40 + 7,
      'negative',
      -32603,
      'ratio',
      0.25,
      'on',
      true,
      'off',
      false,
      'unicode',
      'é 😀 \u0001',
      'long',
      long,
    ])
    server.fail('upstream_timeout')
    server.end = server.start + 1.5
    const client = new Span('tools/call echo', 3, server, [])
    client.end = client.start + 0.25
    const decoded = exportRequest([server, client])
    const resource = decoded.resourceSpans[0]
    assert.deepEqual(resource?.resource.attributes, [
      { key: 'service.name', value: { stringValue: 'portico-test' } },
    ])
    const scope = resource?.scopeSpans[0]
    assert.deepEqual(scope?.scope, { name: 'portico', version: '9.9.9', attributes: [] })
    const [first, second] = scope?.spans ?? []
    assert.equal(scope?.spans.length, 2)
    assert.equal(first?.traceId, TRACE)
    assert.equal(first?.spanId, server.spanId)
    assert.equal(first?.parentSpanId, PARENT)
    assert.equal(first?.name, 'tools/call echo')
    assert.equal(first?.kind, 2)
    assert.equal(BigInt(first?.startTimeUnixNano ?? 0), nanosOf(server.start))
    assert.equal(
      BigInt(first?.endTimeUnixNano ?? 0) - BigInt(first?.startTimeUnixNano ?? 0),
      1_500_000n,
    )
    assert.deepEqual(first?.attributes, [
      { key: 'mcp.method.name', value: { stringValue: 'tools/call' } },
      { key: 'http.response.status_code', value: { intValue: '200' } },
      { key: 'big', value: { intValue: String(2 ** 40 + 7) } },
      { key: 'negative', value: { intValue: '-32603' } },
      { key: 'ratio', value: { doubleValue: 0.25 } },
      { key: 'on', value: { boolValue: true } },
      { key: 'off', value: { boolValue: false } },
      { key: 'unicode', value: { stringValue: 'é 😀 \u0001' } },
      { key: 'long', value: { stringValue: long } },
      { key: 'error.type', value: { stringValue: 'upstream_timeout' } },
    ])
    assert.deepEqual(first?.status, { code: 2, message: 'upstream_timeout' })
    assert.equal(second?.parentSpanId, server.spanId)
    assert.equal(second?.kind, 3)
    assert.deepEqual(second?.attributes, [])
    assert.deepEqual(second?.status, {})
    assert.equal(
      BigInt(second?.endTimeUnixNano ?? 0) - BigInt(second?.startTimeUnixNano ?? 0),
      250_000n,
    )
  })

  it('frames hundreds of spans (lengths of several varint bytes) as one request', () => {
    const spans = Array.from({ length: 600 }, (_, i) => {
      const span = new Span(`call ${i}`, 2, undefined, ['i', i, 'pad', 'p'.repeat(i)])
      span.end = span.start + 1
      return span
    })
    const decoded = exportRequest(spans)
    const out = decoded.resourceSpans[0]?.scopeSpans[0]?.spans ?? []
    assert.equal(out.length, 600)
    for (const [i, span] of out.entries()) {
      assert.equal(span.name, `call ${i}`)
      assert.equal(span.traceId, spans[i]?.traceId)
      assert.equal(span.parentSpanId, undefined)
      assert.deepEqual(span.attributes[1], { key: 'pad', value: { stringValue: 'p'.repeat(i) } })
    }
  })

  it('writes the same attributes whether their encoding is kept or not: repeated values, a number and its text, long names and more names than are kept', () => {
    // Keys of few values (tool names, status codes) keep each value's encoding; past 128
    // values per key, or for a value over 64 characters, it is written each time.
    const names = Array.from({ length: 300 }, (_, i) =>
      i % 7 === 0 ? `t${i}${'x'.repeat(80)}` : `t${i}`,
    )
    const spans: Span[] = []
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        const span = new Span('tools/call', 2, undefined, ['gen_ai.tool.name', name])
        span.set('http.response.status_code', round === 0 ? 200 : '200')
        span.end = span.start
        spans.push(span)
      }
    }
    const out = exportRequest(spans).resourceSpans[0]?.scopeSpans[0]?.spans ?? []
    assert.equal(out.length, 600)
    for (const [i, span] of out.entries()) {
      assert.deepEqual(span.attributes, [
        { key: 'gen_ai.tool.name', value: { stringValue: names[i % 300] } },
        {
          key: 'http.response.status_code',
          value: i < 300 ? { intValue: '200' } : { stringValue: '200' },
        },
      ])
    }
  })

  it('writes the attributes a span was described with before those set on it', async () => {
    const tracer = new Tracer({
      serviceName: 's',
      serviceVersion: '1',
      endpoint: 'http://127.0.0.1:9',
      sampleRatio: 1,
      maxQueue: 1,
      batchSize: 1,
      flushIntervalMs: 60_000,
    })
    const span = tracer.startDescribed(2, undefined, 'echo', (tool, attributes) => {
      attributes.add('gen_ai.tool.name', tool)
      return `tools/call ${tool}`
    })
    span.set('portico.outcome', 'ok')
    assert.equal(span.get('gen_ai.tool.name'), 'echo')
    assert.equal(span.get('portico.outcome'), 'ok')
    span.end = span.start
    const [decoded] = exportRequest([span]).resourceSpans[0]?.scopeSpans[0]?.spans ?? []
    assert.equal(decoded?.name, 'tools/call echo')
    assert.deepEqual(
      decoded?.attributes.map((a) => a.key),
      ['gen_ai.tool.name', 'portico.outcome'],
    )
    // Not read before it is encoded: its described attributes go straight into the bytes,
    // still before the ones set on it, and its name after them.
    const unread = tracer.startDescribed(3, undefined, 'fetch', (tool, attributes) => {
      attributes.add('gen_ai.tool.name', tool)
      attributes.add('jsonrpc.request.id', '7')
      return `tools/call ${tool}`
    })
    unread.set('http.response.status_code', 200)
    unread.end = unread.start
    const [streamed] = exportRequest([unread]).resourceSpans[0]?.scopeSpans[0]?.spans ?? []
    assert.equal(streamed?.name, 'tools/call fetch')
    assert.deepEqual(
      streamed?.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue]),
      [
        ['gen_ai.tool.name', 'fetch'],
        ['jsonrpc.request.id', '7'],
        ['http.response.status_code', '200'],
      ],
    )
    assert.equal(unread.name, 'tools/call fetch')
    await tracer.close()
  })

  it('encodes a span larger than the buffer it keeps, then small ones again', () => {
    const writer = new ProtoWriter(64)
    const huge = new Span('huge', 2, undefined, ['blob', 'é'.repeat(1_500_000)])
    huge.end = huge.start
    writeSpan(writer, huge)
    const hugeBytes = Buffer.from(writer.bytes())
    assert.ok(hugeBytes.length > 3_000_000)
    const hugeHead = traceRequestHeads([], { name: 'p', version: '1' })(hugeBytes.length)
    const hugeDecoded = decodeTraceRequest(Buffer.concat([hugeHead, hugeBytes])) as OtlpPayload
    const blob = hugeDecoded.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.attributes[0]
    assert.equal(blob?.value.stringValue?.length, 1_500_000)
    writer.reset()
    const small = new Span('small', 2, undefined, ['k', 'v'])
    small.end = small.start
    writeSpan(writer, small)
    const head = traceRequestHeads([], { name: 'p', version: '1' })(writer.bytes().length)
    const decoded = decodeTraceRequest(Buffer.concat([head, writer.bytes()])) as OtlpPayload
    assert.equal(decoded.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name, 'small')
  })

  it('converts epoch milliseconds to nanoseconds exactly', () => {
    for (const ms of [
      0,
      1,
      1.000_001,
      1_764_633_600_123 + 0.456_7,
      2 ** 42 - 0.5,
      5 + 0.999_999_9,
    ]) {
      const whole = Math.floor(ms)
      const fraction = Math.round((ms - whole) * 1e6)
      assert.equal(nanosOf(ms), BigInt(whole) * 1_000_000n + BigInt(fraction), `at ${ms} ms`)
    }
  })

  it('sizes varints', () => {
    assert.deepEqual(
      [0, 127, 128, 16_383, 16_384, 2 ** 21, 2 ** 35].map(varintSize),
      [1, 1, 2, 2, 3, 4, 6],
    )
  })
})
