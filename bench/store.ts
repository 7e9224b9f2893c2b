/**
 * Store benchmark (scenario S7): (1) the sink's sustained and peak events/s and drops at the
 * default queue size; (2) proxy throughput with recording on vs off (same scenario, one run,
 * alternating rounds, medians and ratio); (3) `portico status` over 1,000,000 stored exchanges,
 * with its percentiles checked against the exact nearest-rank values.
 *
 * Run: `npm run build && node dist/bench/store.js [--quick]`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import type { ExchangeEvent } from '../src/observe/event.ts'
import { nearestRank } from '../src/store/histogram.ts'
import { Ingestor } from '../src/store/ingest.ts'
import { openStore } from '../src/store/open.ts'
import { statusReport } from '../src/store/report-status.ts'
import { DEFAULT_CAPACITY, storeSink } from '../src/store/sink.ts'

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))

export interface StoreBenchOptions {
  quick?: boolean
  /** Run one part only. */
  only?: 'sink' | 'proxy' | 'status'
}

export interface StoreBenchResult {
  sink: {
    capacity: number
    paced: {
      target_per_s: number
      seconds: number
      events: number
      dropped: number
      drain_ms: number
    }
    peak: { events: number; events_per_s: number; dropped: number }
  }
  proxy: {
    rounds: number
    seconds_per_round: number
    concurrency: number
    off_rps: number[]
    on_rps: number[]
    median_off_rps: number
    median_on_rps: number
    /** Median of the per-round on/off ratios (each pair ran back to back, so drift cancels). */
    ratio_on_off: number
    on_written: number
    on_dropped: number
  }
  status: {
    rows: number
    insert_s: number
    report_ms: number[]
    median_report_ms: number
    cli_ms: number
    cli_startup_ms: number
    max_percentile_error_pct: number
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const TOOLS = ['search_docs', 'get_weather', 'run_query', 'create_order', 'send_email']

export function syntheticEvent(i: number, ts: number, proxy = 'bench'): ExchangeEvent {
  const tool = TOOLS[i % TOOLS.length] as string
  // Log-normal-ish latencies, deterministic: 1 ms … ~2 s.
  const latency = Math.round(1000 * Math.exp(((i * 7919) % 1000) / 131))
  return {
    type: 'exchange',
    ts,
    proxy,
    transport: 'streamable-http',
    era: 'legacy',
    kind: 'request',
    method: 'tools/call',
    name: tool,
    targetKind: 'tool',
    jsonrpcId: i,
    sessionId: `session-${i % 50}`,
    outcome: i % 40 === 0 ? 'error' : 'ok',
    ...(i % 40 === 0 ? { errorCode: -32603, errorMessage: 'boom' } : {}),
    httpStatus: 200,
    durationUs: latency,
    bytesIn: 120 + (i % 300),
    bytesOut: 400 + (i % 5000),
  }
}

/** (1) The sink alone: paced at a target rate, then a burst as large as the queue. */
async function benchSink(dir: string, quick: boolean): Promise<StoreBenchResult['sink']> {
  const target = 20_000
  const seconds = quick ? 2 : 5
  const paced = storeSink({ path: join(dir, 'sink-paced.db'), proxy: 'bench' })
  const start = performance.now()
  let sent = 0
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * target)
    const batch: ExchangeEvent[] = []
    while (sent < due) batch.push(syntheticEvent(sent++, Date.now()))
    if (batch.length) paced.write(batch)
    await sleep(5)
  }
  const drainStart = performance.now()
  await paced.close()
  const drainMs = performance.now() - drainStart
  const pacedStats = paced.stats()

  const burst = quick ? 50_000 : DEFAULT_CAPACITY
  const peak = storeSink({ path: join(dir, 'sink-peak.db'), proxy: 'bench' })
  const t0 = performance.now()
  for (let i = 0; i < burst; i += 512) {
    const batch: ExchangeEvent[] = []
    for (let j = i; j < Math.min(burst, i + 512); j++) batch.push(syntheticEvent(j, Date.now()))
    peak.write(batch)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await peak.close()
  const elapsed = (performance.now() - t0) / 1000
  return {
    capacity: DEFAULT_CAPACITY,
    paced: {
      target_per_s: target,
      seconds,
      events: sent,
      dropped: pacedStats.dropped,
      drain_ms: Math.round(drainMs),
    },
    peak: {
      events: burst,
      events_per_s: Math.round(peak.stats().written / elapsed),
      dropped: peak.stats().dropped,
    },
  }
}

/** A minimal stateless MCP upstream: answers every tools/call at once with a small result. */
async function startUpstream(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let id: unknown = null
      try {
        id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown }).id ?? null
      } catch {}
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id,
        result: { content: [{ type: 'text', text: 'ok '.repeat(40) }] },
      })
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server }
}

async function startProxy(
  upstream: string,
  dir: string,
  record: boolean,
): Promise<{ url: string; child: ChildProcess }> {
  const config = join(dir, record ? 'on.toml' : 'off.toml')
  writeFileSync(
    config,
    `upstream = "${upstream}"\nname = "${record ? 'bench-on' : 'bench-off'}"\nlog_level = "error"\naccess_log = false\n[store]\nenabled = ${record}\npath = "${join(dir, 'proxy.db')}"\n`,
  )
  const child = spawn(process.execPath, [CLI, 'run', '--config', config, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    out += chunk
  })
  for (let i = 0; i < 200; i++) {
    const url = /listening on (\S+)/.exec(out)?.[1]
    if (url) return { url, child }
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error('proxy did not start')
}

const REQUEST_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'get_weather',
    arguments: { city: 'Paris' },
    _meta: { 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' } },
  },
})

async function load(url: string, seconds: number, concurrency: number): Promise<number> {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections: concurrency })
  let done = 0
  const deadline = performance.now() + seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      const response = await pool.request({
        path: target.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: REQUEST_BODY,
      })
      await response.body.dump()
      done++
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (performance.now() - start) / 1000
  await pool.close()
  return done / elapsed
}

/** (2) Proxy throughput, recording off vs on, alternating rounds against the same upstream. */
async function benchProxy(dir: string, quick: boolean): Promise<StoreBenchResult['proxy']> {
  const rounds = quick ? 3 : 15
  // Quick is a smoke test (npm run bench -- --quick stays under 3 minutes): short rounds.
  const seconds = quick ? 0.5 : 1.5
  const concurrency = 16
  const upstream = await startUpstream()
  const off = await startProxy(upstream.url, dir, false)
  const on = await startProxy(upstream.url, dir, true)
  const offRps: number[] = []
  const onRps: number[] = []
  try {
    // Warm-up, both sides (JIT, connection pools, the store's first pages).
    await load(off.url, quick ? 0.5 : 3, concurrency)
    await load(on.url, quick ? 0.5 : 3, concurrency)
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so neither side always runs on a warmer machine.
      if (round % 2 === 0) {
        offRps.push(await load(off.url, seconds, concurrency))
        onRps.push(await load(on.url, seconds, concurrency))
      } else {
        onRps.push(await load(on.url, seconds, concurrency))
        offRps.push(await load(off.url, seconds, concurrency))
      }
    }
  } finally {
    for (const proxy of [off, on]) {
      proxy.child.kill('SIGTERM')
      await once(proxy.child, 'exit')
    }
    upstream.server.closeAllConnections()
    upstream.server.close()
  }
  const db = openStore(join(dir, 'proxy.db'))
  const written = db
    .prepare("SELECT count(*) FROM exchanges WHERE proxy = 'bench-on'")
    .pluck()
    .get() as number
  const dropped =
    (db
      .prepare("SELECT dropped_events FROM proxies WHERE name = 'bench-on'")
      .pluck()
      .get() as number) ?? 0
  db.close()
  const medianOff = median(offRps)
  const medianOn = median(onRps)
  return {
    rounds,
    seconds_per_round: seconds,
    concurrency,
    off_rps: offRps.map(Math.round),
    on_rps: onRps.map(Math.round),
    median_off_rps: Math.round(medianOff),
    median_on_rps: Math.round(medianOn),
    ratio_on_off:
      Math.round(median(onRps.map((on, i) => on / (offRps[i] as number))) * 1000) / 1000,
    on_written: written,
    on_dropped: dropped,
  }
}

/** (3) `status` over a large store: rows spread over the last 50 minutes. */
async function benchStatus(dir: string, quick: boolean): Promise<StoreBenchResult['status']> {
  const rows = quick ? 200_000 : 1_000_000
  const path = join(dir, 'status.db')
  const db = openStore(path, { create: true })
  const ingestor = new Ingestor(db)
  const now = Date.now()
  const span = 50 * 60_000
  const t0 = performance.now()
  const batch: ExchangeEvent[] = []
  for (let i = 0; i < rows; i++) {
    batch.push(syntheticEvent(i, now - span + Math.floor((i / rows) * span)))
    if (batch.length === 10_000) {
      ingestor.write(batch)
      batch.length = 0
    }
  }
  if (batch.length) ingestor.write(batch)
  const insertS = (performance.now() - t0) / 1000
  const timings: number[] = []
  let report = statusReport(db, { since: now - 3_600_000 + 17_000, now })
  for (let i = 0; i < 5; i++) {
    const start = performance.now()
    report = statusReport(db, { since: Date.now() - 3_600_000 + 17_000, now: Date.now() })
    timings.push(performance.now() - start)
  }
  // Percentiles checked against the exact nearest-rank values of the raw rows.
  let maxError = 0
  for (const tool of report.tools) {
    const latencies = db
      .prepare(
        "SELECT latency_us FROM exchanges WHERE name = ? AND kind = 'request' ORDER BY latency_us",
      )
      .pluck()
      .all(tool.name) as number[]
    for (const [p, got] of [
      [0.5, tool.p50_us],
      [0.95, tool.p95_us],
      [0.99, tool.p99_us],
    ] as const) {
      const want = nearestRank(latencies, p) as number
      maxError = Math.max(maxError, Math.abs(got - want) / want)
    }
  }
  db.close()
  const timeCli = (args: string[]) => {
    const start = performance.now()
    execFileSync(process.execPath, [CLI, ...args], { stdio: 'ignore' })
    return performance.now() - start
  }
  // Whole-command wall time, and Node + CLI startup alone (`--version`) to tell them apart.
  const cliMs = median([0, 1, 2].map(() => timeCli(['status', '--db', path])))
  const startupMs = median([0, 1, 2].map(() => timeCli(['--version'])))
  return {
    rows,
    insert_s: Math.round(insertS * 10) / 10,
    report_ms: timings.map((t) => Math.round(t * 10) / 10),
    median_report_ms: Math.round(median(timings) * 10) / 10,
    cli_ms: Math.round(cliMs),
    cli_startup_ms: Math.round(startupMs),
    max_percentile_error_pct: Math.round(maxError * 10_000) / 100,
  }
}

export async function runStoreBench(
  options: StoreBenchOptions = {},
): Promise<Partial<StoreBenchResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-store-'))
  const only = options.only
  try {
    const quick = options.quick === true
    const result: Partial<StoreBenchResult> = {}
    if (!only || only === 'sink') result.sink = await benchSink(dir, quick)
    if (!only || only === 'proxy') result.proxy = await benchProxy(dir, quick)
    if (!only || only === 'status') result.status = await benchStatus(dir, quick)
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function summary(r: Partial<StoreBenchResult>): string {
  const lines = ['S7 — store']
  if (r.sink) lines.push(...sinkLines(r.sink))
  if (r.proxy) lines.push(...proxyLines(r.proxy))
  if (r.status) lines.push(...statusLines(r.status))
  return lines.join('\n')
}

function sinkLines(r: StoreBenchResult['sink']): string[] {
  return [
    `  sink paced:   ${r.paced.events} events at ${r.paced.target_per_s}/s for ${r.paced.seconds}s, dropped ${r.paced.dropped}, drained in ${r.paced.drain_ms} ms (queue ${r.capacity})`,
    `  sink peak:    ${r.peak.events_per_s} events/s committed (${r.peak.events} events, dropped ${r.peak.dropped})`,
  ]
}

function proxyLines(r: StoreBenchResult['proxy']): string[] {
  return [
    `  proxy off:    ${r.off_rps.join(', ')} req/s (median ${r.median_off_rps})`,
    `  proxy on:     ${r.on_rps.join(', ')} req/s (median ${r.median_on_rps})`,
    `  on/off ratio: ${r.ratio_on_off} (median of paired rounds; cost ${Math.round((1 - r.ratio_on_off) * 1000) / 10}%), recorded ${r.on_written} rows, dropped ${r.on_dropped}`,
  ]
}

function statusLines(r: StoreBenchResult['status']): string[] {
  return [
    `  status:       ${r.rows} rows (inserted in ${r.insert_s}s), report ${r.report_ms.join(', ')} ms (median ${r.median_report_ms}), CLI ${r.cli_ms} ms (of which startup ${r.cli_startup_ms} ms), max percentile error ${r.max_percentile_error_pct}%`,
  ]
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const onlyArg = process.argv.find((arg) => arg.startsWith('--only='))?.slice(7)
  const only =
    onlyArg === 'sink' || onlyArg === 'proxy' || onlyArg === 'status' ? onlyArg : undefined
  const result = await runStoreBench({
    quick: process.argv.includes('--quick'),
    ...(only ? { only } : {}),
  })
  process.stdout.write(`${summary(result)}\n`)
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`)
}
