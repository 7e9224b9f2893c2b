/**
 * `node dist/bench/operate-cost.js`: the CPU each operating surface spends per call, measured
 * in process with process.cpuUsage (CPU time, not wall time: steadier than throughput on a
 * shared machine). Real modules, realistic events: the metrics sink, the audit sink (JSON, to
 * /dev/null), and tracing (the exchange and attempt middleware around a gateway-like reply,
 * plus the OTLP/JSON encoding of both spans). Compare the sum with the proxy's CPU per request
 * (S8's "off" rows).
 */
import { openSync, writeSync } from 'node:fs'
import { decodeBody } from '../src/jsonrpc/message.ts'
import { PorticoMetrics } from '../src/metrics/metrics.ts'
import { auditSink } from '../src/observe/audit-sink.ts'
import type { ExchangeEvent } from '../src/observe/event.ts'
import { Logger } from '../src/observe/logger.ts'
import { buildCalls, type Call } from '../src/pipeline/call.ts'
import { MessageReply } from '../src/pipeline/reply.ts'
import { attemptSpans, exchangeSpans } from '../src/tracing/middleware.ts'
import { encodeSpan, type Span, Tracer } from '../src/tracing/tracer.ts'

const N = 50_000
const ROUNDS = 5

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
      host: 'localhost',
      encrypted: false,
    },
    signal: new AbortController().signal,
    transport: 'streamable-http',
    body,
  })
  return built as Call
}

/** Median CPU µs per call of `work` over rounds (each round does N calls' worth). */
function cpuPerCall(prepare: () => () => void): number {
  const results: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const work = prepare()
    const before = process.cpuUsage()
    work()
    const used = process.cpuUsage(before)
    results.push((used.user + used.system) / N)
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
  const metricsUs = cpuPerCall(() => {
    const events = Array.from({ length: N }, (_, i) => event(i))
    return () => {
      for (let i = 0; i < N; i += 8) metrics.sink.write(events.slice(i, i + 8))
    }
  })
  const devNull = openSync('/dev/null', 'w')
  const logger = new Logger({
    level: 'info',
    json: true,
    write: (line) => writeSync(devNull, line),
  })
  const audit = auditSink(logger)
  const auditUs = cpuPerCall(() => {
    const events = Array.from({ length: N }, (_, i) => event(i))
    return () => {
      for (let i = 0; i < N; i += 8) audit.write(events.slice(i, i + 8))
    }
  })
  await audit.close()
  // Spans are captured instead of exported, then encoded as the exporter would.
  const tracer = new Tracer({
    serviceName: 'portico',
    serviceVersion: '0',
    endpoint: 'http://127.0.0.1:9/',
    sampleRatio: 1,
    maxQueue: 1,
    batchSize: 512,
    flushIntervalMs: 3_600_000,
  })
  const ended: Span[] = []
  tracer.end = (span: Span) => {
    span.end = performance.timeOrigin + performance.now()
    ended.push(span)
  }
  const exchange = exchangeSpans(tracer)
  const attempt = attemptSpans(tracer)
  const reply = MessageReply.of({ jsonrpc: '2.0', id: 1, result: { content: [] } })
  const answer = async () => reply
  const tracingUs = cpuPerCall(() => {
    const calls = Array.from({ length: N }, (_, i) => call(i))
    ended.length = 0
    return () => {
      for (const c of calls) {
        void exchange(c, (inner) => attempt({ ...inner, upstream: 'fx' }, answer))
      }
    }
  })
  // The attempt spans end on a later microtask; the exchange spans when the answer ends.
  await new Promise((resolve) => setImmediate(resolve))
  const endUs = cpuPerCall(() => {
    const calls = Array.from({ length: N }, (_, i) => call(i))
    for (const c of calls)
      void exchange(c, (inner) => attempt({ ...inner, upstream: 'fx' }, answer))
    return () => {
      for (const c of calls) {
        c.notes.outcome = 'ok'
        c.lifetime.end()
      }
    }
  })
  await new Promise((resolve) => setImmediate(resolve))
  const spans = ended.slice(0, 2 * N)
  const encodeUs = cpuPerCall(() => () => {
    for (let i = 0; i < N; i++) {
      encodeSpan(spans[2 * i] as Span)
      encodeSpan(spans[2 * i + 1] as Span)
    }
  })
  const rows: Array<[string, number]> = [
    ['metrics sink (per event)', metricsUs],
    ['audit sink, JSON (per event)', auditUs],
    ['tracing middleware, two spans started', tracingUs],
    ['tracing, exchange span ended', endUs],
    ['tracing, two spans encoded to OTLP/JSON', encodeUs],
  ]
  const total = rows.reduce((sum, [, us]) => sum + us, 0)
  process.stdout.write('| surface | CPU µs per call |\n| --- | ---: |\n')
  for (const [name, us] of rows) process.stdout.write(`| ${name} | ${us.toFixed(2)} |\n`)
  process.stdout.write(`| **all three** | **${total.toFixed(2)}** |\n`)
  process.exit(0)
}

await main()
