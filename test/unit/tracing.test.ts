/**
 * The tracer's pure parts: W3C traceparent parsing (what the spec says to ignore is ignored),
 * formatting, OTLP/JSON encoding of a span (hex ids, nanosecond strings, typed attribute
 * values, the last value of a key set twice), the OTLP/HTTP URL and label capping.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { methodLabel, TargetLabels } from '../../src/metrics/labels.ts'
import { MessageReply } from '../../src/pipeline/reply.ts'
import {
  formatTraceparent,
  parseTraceparent,
  spanIdHex,
  type TraceContext,
  traceIdHex,
} from '../../src/pipeline/trace-context.ts'
import { attemptSpans } from '../../src/tracing/middleware.ts'
import { encodeSpan, nanos, SPAN_KIND, Span, Tracer, tracesUrl } from '../../src/tracing/tracer.ts'
import { requestCall } from '../helpers/calls.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN = '00f067aa0ba902b7'

/** A parsed context's ids in hex and its sampled flag. */
function ids(context: TraceContext | undefined): [string, string, boolean] | undefined {
  return context === undefined
    ? undefined
    : [traceIdHex(context), spanIdHex(context), context.sampled]
}

describe('traceparent', () => {
  it('parses valid values and their sampled flag', () => {
    assert.deepEqual(ids(parseTraceparent(`00-${TRACE}-${SPAN}-01`)), [TRACE, SPAN, true])
    assert.deepEqual(ids(parseTraceparent(`00-${TRACE}-${SPAN}-00`)), [TRACE, SPAN, false])
    // A future version may carry more fields.
    assert.deepEqual(ids(parseTraceparent(`01-${TRACE}-${SPAN}-03-extra`)), [TRACE, SPAN, true])
    // High bits set in every word: the words are int32s, the text unsigned.
    const high = 'f'.repeat(32)
    assert.deepEqual(ids(parseTraceparent(`00-${high}-${'8'.repeat(16)}-01`)), [
      high,
      '8'.repeat(16),
      true,
    ])
  })

  it('ignores invalid ones', () => {
    for (const bad of [
      undefined,
      42,
      '',
      `ff-${TRACE}-${SPAN}-01`,
      // Lower-case hex only (W3C Trace Context: HEXDIGLC; OpenTelemetry's parsers agree).
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-${SPAN}-01-extra`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-0g`,
      `00-${TRACE}-${SPAN}-01${'x'.repeat(600)}`,
    ])
      assert.equal(parseTraceparent(bad), undefined, String(bad))
  })

  it('formats what it parses, and makes distinct non-zero ids', () => {
    for (const text of [
      `00-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-00`,
      `00-${'f'.repeat(32)}-${'0'.repeat(15)}1-01`,
    ])
      assert.equal(formatTraceparent(parseTraceparent(text) as TraceContext), text)
    // Spans draw their ids from a pool of random words refilled every 1,024 words: across
    // several refills, every id is new, well formed, and a child keeps its parent's trace.
    const spans = Array.from({ length: 900 }, () => new Span('s', SPAN_KIND.internal, undefined))
    const traceIds = new Set(spans.map((span) => span.traceId))
    const spanIds = new Set(spans.map((span) => span.spanId))
    assert.equal(traceIds.size, spans.length)
    assert.equal(spanIds.size, spans.length)
    for (const span of spans) {
      assert.match(span.traceId, /^[0-9a-f]{32}$/)
      assert.match(span.spanId, /^[0-9a-f]{16}$/)
      assert.equal(span.parentSpanId, undefined)
      assert.match(formatTraceparent(span), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      assert.deepEqual(ids(parseTraceparent(formatTraceparent(span))), [
        span.traceId,
        span.spanId,
        true,
      ])
    }
    const parent = spans[0] as Span
    const child = new Span('c', SPAN_KIND.client, parent)
    assert.equal(child.traceId, parent.traceId)
    assert.equal(child.parentSpanId, parent.spanId)
    assert.notEqual(child.spanId, parent.spanId)
  })
})

/** A tracer that samples everything and exports nothing during a test. */
function quietTracer(): Tracer {
  return new Tracer({
    serviceName: 't',
    serviceVersion: '0',
    endpoint: 'http://127.0.0.1:9/',
    sampleRatio: 1,
    maxQueue: 1,
    batchSize: 1,
    flushIntervalMs: 60_000,
  })
}

describe('OTLP encoding', () => {
  it('describes a span once, when it is encoded: its name, then its first attributes', () => {
    const tracer = quietTracer()
    let described = 0
    const source = { method: 'tools/call', tool: 'echo' }
    const span = tracer.startDescribed(SPAN_KIND.client, undefined, source, (s, attributes) => {
      described++
      attributes.add('gen_ai.tool.name', s.tool)
      return `${s.method} ${s.tool}`
    })
    span.set('http.response.status_code', 200)
    assert.equal(described, 0, 'nothing is described while the request waits')
    const json = JSON.parse(encodeSpan(span))
    assert.equal(json.name, 'tools/call echo')
    assert.deepEqual(
      json.attributes.map((a: { key: string }) => a.key),
      ['gen_ai.tool.name', 'http.response.status_code'],
    )
    encodeSpan(span)
    assert.equal(span.get('gen_ai.tool.name'), 'echo')
    assert.equal(described, 1)
    void tracer.close()
  })

  it("clips what a client chose to 256 characters in a span's name and attributes", async () => {
    const tracer = quietTracer()
    const huge = 'n'.repeat(1_300_000)
    const call = {
      ...requestCall('tools/call', { name: huge, arguments: {} }, huge),
      trace: parseTraceparent(`00-${TRACE}-${SPAN}-01`),
    }
    let attempt: Span | undefined
    await attemptSpans(tracer)(call, async (inner) => {
      attempt = inner.trace as Span
      return MessageReply.of({ jsonrpc: '2.0', id: huge, result: { content: [] } })
    })
    assert.ok(attempt !== undefined)
    // Before: a 1.3 MB name and 1.3 MB attributes, 7.8 MB of OTLP for one call.
    const json = JSON.parse(encodeSpan(attempt))
    assert.ok(json.name.length <= 'tools/call '.length + 256, `name of ${json.name.length}`)
    for (const attribute of json.attributes as Array<{ value: { stringValue?: string } }>) {
      assert.ok((attribute.value.stringValue ?? '').length <= 256)
    }
    assert.ok(encodeSpan(attempt).length < 4096)
    void tracer.close()
  })

  it('writes nanoseconds exactly from fractional milliseconds', () => {
    assert.equal(nanos(1_700_000_000_123.5), '1700000000123500000')
    assert.equal(nanos(1_700_000_000_123.25), '1700000000123250000')
    assert.equal(nanos(5), '5000000')
    assert.equal(nanos(5.9999999), '6000000')
  })

  it('encodes a span as OTLP/JSON', () => {
    const span = new Span(
      'tools/call echo',
      SPAN_KIND.server,
      parseTraceparent(`00-${TRACE}-${SPAN}-01`),
      [
        'mcp.method.name',
        'tools/call',
        'http.response.status_code',
        200,
        'ratio',
        0.5,
        'flag',
        true,
        'portico.outcome',
        'ok',
      ],
    )
    span.set('portico.outcome', 'error')
    span.fail('upstream_timeout')
    span.end = span.start + 1.5
    const json = JSON.parse(encodeSpan(span))
    assert.equal(json.traceId, TRACE)
    assert.equal(json.parentSpanId, SPAN)
    assert.match(json.spanId, /^[0-9a-f]{16}$/)
    assert.equal(json.kind, 2)
    assert.equal(BigInt(json.endTimeUnixNano) - BigInt(json.startTimeUnixNano), 1_500_000n)
    assert.deepEqual(json.attributes, [
      { key: 'mcp.method.name', value: { stringValue: 'tools/call' } },
      { key: 'http.response.status_code', value: { intValue: '200' } },
      { key: 'ratio', value: { doubleValue: 0.5 } },
      { key: 'flag', value: { boolValue: true } },
      { key: 'portico.outcome', value: { stringValue: 'error' } },
      { key: 'error.type', value: { stringValue: 'upstream_timeout' } },
    ])
    assert.deepEqual(json.status, { code: 2, message: 'upstream_timeout' })
  })

  it('escapes attribute values that need it, and only those', () => {
    const texts = [
      'plain',
      'quote " and \\ backslash',
      'line\nbreak\u0001',
      'lone \ud800 surrogate',
      'pair 😀',
      'é',
    ]
    const span = new Span(
      'tools/call x',
      2,
      undefined,
      texts.flatMap((text, i) => [`k${i}`, text]),
    )
    const json = JSON.parse(encodeSpan(span))
    assert.deepEqual(
      json.attributes.map((a: { value: { stringValue: string } }) => a.value.stringValue),
      texts.map((text) => JSON.parse(JSON.stringify(text))),
    )
  })

  it('adds /v1/traces to a bare endpoint only', () => {
    assert.equal(tracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces')
    assert.equal(tracesUrl('http://collector:4318/'), 'http://collector:4318/v1/traces')
    assert.equal(tracesUrl('https://x.example/otlp/v1/traces'), 'https://x.example/otlp/v1/traces')
  })
})

describe('metric labels', () => {
  it('caps target names, admitting only names of successful calls', () => {
    const labels = new TargetLabels(2)
    assert.equal(labels.label(undefined, true), '')
    assert.equal(labels.label('made_up', false), 'other')
    assert.equal(labels.label('a', true), 'a')
    assert.equal(labels.label('made_up', false), 'other')
    assert.equal(labels.label('b', true), 'b')
    assert.equal(labels.label('c', true), 'other')
    assert.equal(labels.label('a', false), 'a')
    assert.equal(labels.label('x'.repeat(200), true), 'other')
    // A control character in a name is no label value (the terminal of whoever curls /metrics).
    const fresh = new TargetLabels(10)
    for (const name of ['evil\u001b[2J', 'a\rb', 'c\u009bd', 'e\u0000'])
      assert.equal(fresh.label(name, true), 'other', JSON.stringify(name))
    assert.equal(fresh.size, 0)
    assert.equal(methodLabel('tools/call'), 'tools/call')
    assert.equal(methodLabel('x/made-up'), 'other')
    assert.equal(methodLabel('notifications/made-up'), 'notifications/other')
    // An HTTP method not listed is no MCP request (mcp_proxy_requests_total counted it).
    assert.equal(methodLabel('PROPFIND'), 'OTHER')
    assert.equal(methodLabel('GET'), 'GET')
  })
})
