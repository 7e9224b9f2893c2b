/**
 * The tunnel bench: the latency the tunnel path adds to a call, against the same Portico
 * reached directly. Three processes: the bench fixture (a fast MCP server), `portico relay`,
 * and one `portico run --tunnel` in front of the fixture (store off). Each round sends the same
 * calls both ways, alternately (direct to Portico's own port; through the relay with
 * `Host: bench.relay.test`), so a busy machine slows both alike; the difference of the
 * percentiles is what the relay, the WebSocket hop and the in-memory HTTP into Portico cost.
 *
 * Run: `npm run build && node dist/bench/tunnel.js [--rounds 5] [--calls 300] [--out FILE.md]`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { start, stopAll } from './lib/procs.ts'
import { formatUs, type LatencySummary, summarize } from './lib/stats.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js')
const FIXTURE = join(ROOT, 'dist', 'bench', 'fixtures', 'http-server.js')
const HOST = 'bench.relay.test'

function argValue(name: string, fallback: string): string {
  const index = process.argv.indexOf(name)
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback)
}

interface Path {
  name: 'direct' | 'tunnel'
  pool: Pool
  host: string
  session?: string
}

async function post(
  path: Path,
  body: string,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    host: path.host,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
  }
  if (path.session) headers['mcp-session-id'] = path.session
  const response = await path.pool.request({ path: '/mcp', method: 'POST', headers, body })
  const text = await response.body.text()
  return { status: response.statusCode, text, headers: response.headers }
}

async function open(path: Path): Promise<void> {
  const init = await post(
    path,
    JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'bench', version: '1' },
      },
    }),
  )
  if (init.status !== 200)
    throw new Error(`${path.name}: initialize answered ${init.status}: ${init.text}`)
  path.session = String(init.headers['mcp-session-id'])
  await post(path, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }))
}

/** `calls` calls, `concurrency` at a time; latency of each in µs. */
async function run(
  path: Path,
  tool: string,
  calls: number,
  concurrency: number,
): Promise<number[]> {
  const samples: number[] = []
  let next = 0
  const worker = async () => {
    while (next < calls) {
      const id = ++next
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name: tool, arguments: { text: `m${id}` } },
      })
      const started = performance.now()
      const answer = await post(path, body)
      samples.push((performance.now() - started) * 1000)
      if (answer.status !== 200 || !answer.text.includes(`m${id}`)) {
        throw new Error(
          `${path.name}: call ${id} answered ${answer.status}: ${answer.text.slice(0, 200)}`,
        )
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return samples
}

interface Case {
  label: string
  tool: string
  concurrency: number
  calls: number
}

async function main(): Promise<void> {
  const rounds = Number(argValue('--rounds', '5'))
  const calls = Number(argValue('--calls', '300'))
  const out = argValue('--out', '')
  const loadBefore = loadavg()
  // Recording off: the bench compares paths, and must not write into anyone's store.
  const dir = mkdtempSync(join(tmpdir(), 'portico-tunnel-bench-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const noStore = join(dir, 'portico.toml')
  writeFileSync(noStore, '[store]\nenabled = false\n')
  // The per-tunnel request rate limit (100/s by default) would be the bench's bottleneck.
  const relayToml = join(noStore, '..', 'relay.toml')
  writeFileSync(relayToml, '[relay]\ndomain = "relay.test"\nrequests_per_second = 1000000\n')
  const fixture = await start(process.execPath, [FIXTURE, '--port', '0'], {
    waitFor: /listening on (http:\/\/\S+)/,
  })
  const relay = await start(
    process.execPath,
    [CLI, 'relay', '-c', relayToml, '--port', '0', '--log-level', 'warn'],
    { waitFor: /relay listening on http:\/\/127\.0\.0\.1:(\d+)/ },
  )
  // The relay's access log goes to its stdout, which the bench reads and discards.
  const relayPort = Number(relay.match?.[1])
  const portico = await start(
    process.execPath,
    [
      CLI,
      'run',
      '--upstream',
      fixture.match?.[1] ?? '',
      '--port',
      '0',
      '--tunnel',
      `http://127.0.0.1:${relayPort}`,
      '--tunnel-token',
      'bench',
      '--tunnel-subdomain',
      'bench',
      '--log-level',
      'warn',
      '-c',
      noStore,
    ],
    { waitFor: /listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/ },
  )
  const porticoPort = Number(portico.match?.[1])
  const cases: Case[] = [
    { label: 'echo, 1 at a time', tool: 'echo', concurrency: 1, calls },
    { label: 'echo, 8 at a time', tool: 'echo', concurrency: 8, calls: calls * 2 },
    {
      label: '1 MiB answer, 1 at a time',
      tool: 'big',
      concurrency: 1,
      calls: Math.ceil(calls / 5),
    },
  ]
  const direct: Path = {
    name: 'direct',
    pool: new Pool(`http://127.0.0.1:${porticoPort}`, { connections: 16 }),
    host: `127.0.0.1:${porticoPort}`,
  }
  const tunnel: Path = {
    name: 'tunnel',
    pool: new Pool(`http://127.0.0.1:${relayPort}`, { connections: 16 }),
    host: HOST,
  }
  await open(direct)
  await open(tunnel)
  const results: Array<{ case: Case; direct: LatencySummary; tunnel: LatencySummary }> = []
  try {
    for (const item of cases) {
      // Warm-up, then alternate the two paths round by round.
      await run(direct, item.tool, 50, item.concurrency)
      await run(tunnel, item.tool, 50, item.concurrency)
      const samples = { direct: [] as number[], tunnel: [] as number[] }
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? [direct, tunnel] : [tunnel, direct]
        for (const path of order) {
          samples[path.name].push(...(await run(path, item.tool, item.calls, item.concurrency)))
        }
      }
      results.push({
        case: item,
        direct: summarize(samples.direct),
        tunnel: summarize(samples.tunnel),
      })
    }
  } finally {
    await direct.pool.destroy()
    await tunnel.pool.destroy()
    await stopAll()
  }
  const loadAfter = loadavg()
  const report = render(results, rounds, loadBefore, loadAfter)
  process.stdout.write(report)
  if (out) writeFileSync(out, report)
}

function render(
  results: Array<{ case: Case; direct: LatencySummary; tunnel: LatencySummary }>,
  rounds: number,
  before: number[],
  after: number[],
): string {
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' / ')
  const lines = [
    `Tunnel bench (${new Date().toISOString()}), ${rounds} alternating rounds per case`,
    `load average (1/5/15 min) before: ${load(before)}, after: ${load(after)}`,
    '',
    '| case | path | calls | p50 | p90 | p99 | added p50 | added p99 |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const { case: item, direct, tunnel } of results) {
    lines.push(
      `| ${item.label} | direct | ${direct.count} | ${formatUs(direct.p50)} | ${formatUs(direct.p90)} | ${formatUs(direct.p99)} | | |`,
      `| ${item.label} | tunnel | ${tunnel.count} | ${formatUs(tunnel.p50)} | ${formatUs(tunnel.p90)} | ${formatUs(tunnel.p99)} | ${formatUs(tunnel.p50 - direct.p50)} | ${formatUs(tunnel.p99 - direct.p99)} |`,
    )
  }
  return `${lines.join('\n')}\n`
}

main().catch(async (error: unknown) => {
  process.stderr.write(
    `tunnel bench failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  )
  await stopAll()
  process.exit(1)
})
