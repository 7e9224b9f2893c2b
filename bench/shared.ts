/**
 * `node dist/bench/shared.js [--rounds 3] [--seconds 4]`: what `[shared]` (caches and rate
 * limits in Redis, for replicas) costs, side by side with the same tables in memory. Needs
 * `redis-server` on the PATH (Debian's package); it is started on a free port, in memory only.
 *
 * Contenders, in rotated rounds against the bench's HTTP fixture (`echo` answers at once, the
 * worst case for a round trip to Redis), store off:
 * - cache hits (`tool_ttl_seconds`, one fixed argument, one session): direct, Portico with the
 *   cache in memory, with the cache in Redis, and Portico with no cache (forwarded);
 * - a rate limit that never trips (`[proxy.rate_limit.per_client]`), distinct arguments: in
 *   memory and in Redis, at 1 and 16 sessions, with the proxy's CPU per request (Redis's own
 *   CPU is not in it).
 * Prints one table per part: medians over rounds, and each contender's ratio to the first.
 */
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { closedLoop, openSessions, type Session, Target } from './lib/client.ts'
import { ROOT, startFixture } from './lib/contenders.ts'
import { freePort, runScript, start, treeCpuUs } from './lib/procs.ts'
import { summarize } from './lib/stats.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
  },
})
const ROUNDS = Number(values.rounds)
const DURATION_MS = Number(values.seconds) * 1000
const WARMUP_MS = 1000

interface Cell {
  rps: number
  p50: number
  p99: number
  cpuUs: number
}

function configFile(name: string, toml: string): string {
  const path = join(tmpdir(), `portico-bench-shared-${process.pid}-${name}.toml`)
  writeFileSync(path, `[store]\nenabled = false\n${toml}`)
  return path
}

/** A Portico in front of the fixture with `config`; resolves with its URL and pid. */
async function portico(upstream: string, config: string): Promise<{ url: string; pid: number }> {
  const started = await start(
    process.execPath,
    [join(ROOT, 'dist/src/cli/main.js'), 'run', '--upstream', upstream, '--port', '0'].concat([
      '--config',
      config,
      '--log-level',
      'warn',
    ]),
    { waitFor: /listening on (http:\/\/\S+)/ },
  )
  return { url: started.match?.[1] as string, pid: started.child.pid ?? 0 }
}

async function measure(
  url: string,
  pid: number,
  sessions: number,
  argument: (n: number) => string,
): Promise<Cell> {
  const target = new Target(url, sessions)
  const open: Session[] = await openSessions(target, sessions)
  const send = (session: Session, n: number) => session.call('echo', argument(n))
  await closedLoop(open, send, 0, WARMUP_MS)
  const before = pid ? treeCpuUs(pid) : 0
  const load = await closedLoop(open, send, 0, DURATION_MS)
  const cpu = pid ? treeCpuUs(pid) - before : 0
  await target.close()
  const summary = summarize(load.latenciesUs)
  return {
    rps: load.requests / load.seconds,
    p50: summary.p50,
    p99: summary.p99,
    cpuUs: cpu / Math.max(1, load.requests),
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

function table(title: string, rows: Map<string, Cell[]>): void {
  console.log(`\n${title}`)
  console.log('| contender | req/s | ratio | p50 | p99 | proxy CPU/req |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  const first = median([...rows.values()][0]?.map((c) => c.rps) ?? [])
  for (const [name, cells] of rows) {
    const rps = median(cells.map((c) => c.rps))
    const cpu = median(cells.map((c) => c.cpuUs))
    console.log(
      `| ${name} | ${rps.toFixed(0)} | ${(rps / first).toFixed(2)}× | ${median(cells.map((c) => c.p50)).toFixed(0)} µs | ${median(cells.map((c) => c.p99)).toFixed(0)} µs | ${cpu > 0 ? `${cpu.toFixed(0)} µs` : '—'} |`,
    )
  }
}

async function main(): Promise<void> {
  const redisPort = await freePort()
  await start(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      waitFor: /Ready to accept connections/,
    },
  )
  const shared = `[shared]\nredis = "redis://127.0.0.1:${redisPort}"\n`
  const fixture = await startFixture()
  const cache = '[cache]\ntool_ttl_seconds = 600\n'
  const limit = '[proxy.rate_limit.per_client]\nrequests = 1000000000\nperiod_seconds = 1\n'
  const cacheContenders: Array<[string, string | undefined]> = [
    ['direct', undefined],
    ['cache in memory', configFile('cache-memory', cache)],
    ['cache in Redis', configFile('cache-redis', cache + shared)],
    ['no cache (forwarded)', configFile('plain', '')],
  ]
  const limitContenders: Array<[string, string]> = [
    ['rate limit in memory', configFile('limit-memory', limit)],
    ['rate limit in Redis', configFile('limit-redis', limit + shared)],
  ]
  const running = new Map<string, { url: string; pid: number }>()
  for (const [name, config] of [...cacheContenders, ...limitContenders]) {
    running.set(
      name,
      config === undefined ? { url: fixture.url, pid: 0 } : await portico(fixture.url, config),
    )
  }
  const hits = new Map<string, Cell[]>()
  const limited = new Map<string, Map<string, Cell[]>>([
    ['1', new Map()],
    ['16', new Map()],
  ])
  for (let round = 0; round < ROUNDS; round++) {
    // Rotated, so no contender always runs first (or right after another's load).
    const order = [...cacheContenders.keys()].map(
      (i) => cacheContenders[(i + round) % cacheContenders.length],
    )
    for (const [name] of order as Array<[string, string | undefined]>) {
      const { url, pid } = running.get(name) as { url: string; pid: number }
      const cell = await measure(url, pid, 1, () => 'the same argument')
      hits.set(name, [...(hits.get(name) ?? []), cell])
    }
    for (const sessions of ['1', '16']) {
      const rows = limited.get(sessions) as Map<string, Cell[]>
      const ordered = round % 2 === 0 ? limitContenders : [...limitContenders].reverse()
      for (const [name] of ordered) {
        const { url, pid } = running.get(name) as { url: string; pid: number }
        const cell = await measure(url, pid, Number(sessions), (n) => `call ${round}-${n}`)
        rows.set(name, [...(rows.get(name) ?? []), cell])
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done`)
  }
  table('Cache hits, 1 session (ratio to direct):', hits)
  for (const [sessions, rows] of limited) {
    table(`Rate limit that never trips, ${sessions} session(s) (ratio to in memory):`, rows)
  }
  await fixture.stop()
}

runScript(main)
