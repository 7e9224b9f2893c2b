/**
 * `node dist/bench/operate-cost.js`: the CPU each operating surface spends per call, measured
 * in process with process.cpuUsage (CPU time, not wall time: steadier than throughput on a
 * shared machine). Real modules, realistic events: the metrics sink, the audit sink (JSON, to
 * /dev/null), and tracing (the exchange and attempt middleware around a gateway-like reply,
 * plus the OTLP encoding of both spans, protobuf and JSON). Compare the sum with the proxy's CPU per request
 * (S8's "off" rows). Inputs are built in chunks of 500 outside the timed work, so the
 * harness's own garbage stays out; the attempt span's end runs on a later microtask, untimed
 * (it sets two attributes and queues the span).
 */
import { openSync, writeSync } from 'node:fs'
import { decodeBody } from '../src/jsonrpc/message.ts'
import { PorticoMetrics } from '../src/metrics/metrics.ts'
import { auditSink } from '../src/observe/audit-sink.ts'
import type { ExchangeEvent } from '../src/observe/event.ts'
import { Logger } from '../src/observe/logger.ts'
import { buildCalls, type Call } from '../src/pipeline/call.ts'
import { MessageReply } from '../src/pipeline/reply.ts'
import { CallController } from '../src/pipeline/signal.ts'
import { attemptSpans, exchangeSpans } from '../src/tracing/middleware.ts'
import { ProtoWriter, writeSpan } from '../src/tracing/otlp-proto.ts'
import { encodeSpan, type Span, Tracer } from '../src/tracing/tracer.ts'
import { BodyWriter } from '../src/util/body-writer.ts'

const N = 50_000
const ROUNDS = 5
/** Calls prepared at a time. */
const CHUNK = 500

function event(i: number): ExchangeEvent {
  return {
    type: 'exchange',
    ts: Date.now(),
    proxy: 'p',
    backend: 'fx',
    transport: 'streamable-http',
    era: 'legacy',
    kind: 'request',
    method: 'tools/call',
    name: 'fx__echo',
    targetKind: 'tool',
    jsonrpcId: i,
    sessionId: 'a1b2c3d4-aaaa-bbbb-cccc-1234567890ab',
    client: { name: 'claude-ai', version: '1.0' },
    userAgent: 'node',
    clientAddress: '127.0.0.1',
    outcome: 'ok',
    httpStatus: 200,
    durationUs: 350 + (i % 100),
    firstByteUs: 300,
    bytesIn: 120,
    bytesOut: 200,
  }
}

function call(i: number): Call {
  const body = Buffer.from(
    JSON.stringify({
      jsonrpc: '2.0',
      id: i,
      method: 'tools/call',
      params: { name: 'fx__echo', arguments: { i } },
    }),
  )
  const [built] = buildCalls(decodeBody(body), {
    headers: { 'mcp-session-id': 'a1b2c3d4-aaaa-bbbb-cccc-1234567890ab' },
    request: {
      path: '/mcp',
      search: '',
      remoteAddress: '127.0.0.1',
      clientAddress: '127.0.0.1',
      host: 'localhost',
      encrypted: false,
    },
    signal: new CallController().signal,
    transport: 'streamable-http',
    body,
  })
  return built as Call
}

/**
 * Median CPU µs per call over rounds of N calls, timed chunk by chunk: `prepare` builds a
 * chunk's inputs (not timed) and returns the work (timed); between chunks the event loop turns
 * (promise callbacks run, untimed), so few objects live at once and the harness's own garbage
 * stays out of the figure.
 */
async function cpuPerCall(prepare: (size: number) => () => void): Promise<number> {
  const results: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    let used = 0
    for (let done = 0; done < N; done += CHUNK) {
      const work = prepare(CHUNK)
      const before = process.cpuUsage()
      work()
      const chunk = process.cpuUsage(before)
      used += chunk.user + chunk.system
      await new Promise((resolve) => setImmediate(resolve))
    }
    results.push(used / N)
  }
  results.sort((a, b) => a - b)
  return results[Math.floor(results.length / 2)] as number
}

async function main(): Promise<void> {
  const metrics = new PorticoMetrics({
    maxTargets: 100,
    processMetrics: false,
    version: '0',
    mode: 'gateway',
    proxy: 'p',
  })
  const metricsUs = await cpuPerCall((size) => {
    const events = Array.from({ length: size }, (_, i) => event(i))
    return () => {
      for (let i = 0; i < size; i += 8) metrics.sink.write(events.slice(i, i + 8))
    }
  })
  const devNull = openSync('/dev/null', 'w')
  const logger = new Logger({
    level: 'info',
    json: true,
    write: (line) => writeSync(devNull, line),
  })
  const audit = auditSink(logger)
  const auditUs = await cpuPerCall((size) => {
    const events = Array.from({ length: size }, (_, i) => event(i))
    return () => {
      for (let i = 0; i < size; i += 8) audit.write(events.slice(i, i + 8))
    }
  })
  await audit.close()
  // Spans are captured instead of exported (a few kept), then encoded as the exporter would.
  const tracer = new Tracer({
    serviceName: 'portico',
    serviceVersion: '0',
    endpoint: 'http://127.0.0.1:9/',
    sampleRatio: 1,
    maxQueue: 1,
    batchSize: 512,
    flushIntervalMs: 3_600_000,
  })
  const kept: Span[] = []
  tracer.end = (span: Span) => {
    span.end = performance.timeOrigin + performance.now()
    if (kept.length < 2 * CHUNK) kept.push(span)
  }
  const exchange = exchangeSpans(tracer)
  const attempt = attemptSpans(tracer)
  const reply = MessageReply.of({ jsonrpc: '2.0', id: 1, result: { content: [] } })
  const answer = async () => reply
  const run = (c: Call) => exchange(c, (inner) => attempt({ ...inner, upstream: 'fx' }, answer))
  const tracingUs = await cpuPerCall((size) => {
    const calls = Array.from({ length: size }, (_, i) => call(i))
    return () => {
      for (const c of calls) void run(c)
    }
  })
  const endUs = await cpuPerCall((size) => {
    const calls = Array.from({ length: size }, (_, i) => call(i))
    for (const c of calls) void run(c)
    return () => {
      for (const c of calls) {
        c.notes.outcome = 'ok'
        c.lifetime.end()
      }
    }
  })
  const spans = kept.slice(0, 2 * CHUNK)
  // Each span is encoded many times here: its described attributes are made once and kept, so
  // that every pass writes them (the exporter describes a span as it encodes it, once).
  for (const span of spans) span.complete()
  // Both encodings end with the span's bytes in a batch buffer, as the exporter's do (a JSON
  // text is a string of many pieces until that write flattens it).
  const batch = new BodyWriter(1 << 20)
  const encodeUs = await cpuPerCall((size) => () => {
    batch.reset()
    for (let i = 0; i < size; i++) {
      batch.text(encodeSpan(spans[(2 * i) % spans.length] as Span))
      batch.text(encodeSpan(spans[(2 * i + 1) % spans.length] as Span))
    }
  })
  const proto = new ProtoWriter()
  const protoUs = await cpuPerCall((size) => () => {
    batch.reset()
    for (let i = 0; i < size; i++) {
      proto.reset()
      writeSpan(proto, spans[(2 * i) % spans.length] as Span)
      batch.append(proto.bytes())
      proto.reset()
      writeSpan(proto, spans[(2 * i + 1) % spans.length] as Span)
      batch.append(proto.bytes())
    }
  })
  const rows: Array<[string, number]> = [
    ['metrics sink (per event)', metricsUs],
    ['audit sink, JSON (per event)', auditUs],
    ['tracing middleware, two spans started', tracingUs],
    ['tracing, exchange span ended', endUs],
    ['tracing, two spans encoded to OTLP/protobuf (the default)', protoUs],
  ]
  const jsonRow: [string, number] = ['tracing, two spans encoded to OTLP/JSON instead', encodeUs]
  const total = rows.reduce((sum, [, us]) => sum + us, 0)
  process.stdout.write('| surface | CPU µs per call |\n| --- | ---: |\n')
  for (const [name, us] of rows) process.stdout.write(`| ${name} | ${us.toFixed(2)} |\n`)
  process.stdout.write(`| **all three** | **${total.toFixed(2)}** |\n`)
  process.stdout.write(`| ${jsonRow[0]} | ${jsonRow[1].toFixed(2)} |\n`)
  process.exit(0)
}

await main()
