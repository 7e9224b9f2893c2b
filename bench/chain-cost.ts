/**
 * The CPU cost of Portico's middleware per call, in process: calls built the way the edge
 * builds them go through the per-upstream protection chain (and `[proxy.rate_limit]`) to a
 * terminal that answers at once, so no socket, no upstream and no other process blurs the
 * figure. It attributes S8's cost (issue 12) to each policy: the full stack, then each table
 * alone, as µs per call over an empty chain. Not a scenario of the report; a tool for the
 * optimisation log.
 *
 * Usage: node dist/bench/chain-cost.js [--calls 200000] [--rounds 5]
 *
 * `--bytes` measures the garbage instead: bytes left on the heap per call, with no collection
 * during the measured batch (calls built beforehand). Deterministic where CPU time is not, so
 * it shows a change of a hundred bytes. It needs a collector it can call and a young
 * generation large enough for a batch:
 *   node --expose-gc --min-semi-space-size=256 --max-semi-space-size=256 \
 *     dist/bench/chain-cost.js --bytes
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { decodeBody } from '../src/jsonrpc/message.ts'
import { Logger } from '../src/observe/logger.ts'
import { buildCalls } from '../src/pipeline/call.ts'
import { compose, type Handler, type Middleware } from '../src/pipeline/compose.ts'
import { MessageReply } from '../src/pipeline/reply.ts'
import { CallController } from '../src/pipeline/signal.ts'
import { OutlierGroup } from '../src/protect/outlier.ts'
import { topLevelProtect, UpstreamProtection } from '../src/protect/policies.ts'
import { globalRateLimit } from '../src/protect/rate-limit.ts'
import { systemClock } from '../src/util/clock.ts'
import { PROTECT_ALL_TOML } from './lib/contenders.ts'

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback)
}

const CALLS = Number(arg('calls', '200000'))
const ROUNDS = Number(arg('rounds', '5'))
const dir = mkdtempSync(join(tmpdir(), 'portico-chain-cost-'))
process.once('exit', () => rmSync(dir, { recursive: true, force: true }))

/** The tables of PROTECT_ALL_TOML, one at a time (by their TOML heading). */
function tables(): Map<string, string> {
  const out = new Map<string, string>()
  for (const block of PROTECT_ALL_TOML.split(/\n(?=\[)/)) {
    const heading = /^\[([^\]]+)\]/.exec(block)?.[1]
    if (heading && heading !== 'store') out.set(heading, block)
  }
  return out
}

function chainOf(toml: string): Handler {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.toml`)
  writeFileSync(file, `upstream = "http://127.0.0.1:1/mcp"\n${toml}\n`)
  const { config } = loadConfig({ file, env: {} })
  const protection = new UpstreamProtection('bench', topLevelProtect(config), {
    clock: systemClock,
    logger: new Logger({ level: 'silent' }),
    coalesce: config.performance.coalesce_requests,
    group: new OutlierGroup(systemClock),
  })
  const global = config.proxy?.rate_limit
    ? globalRateLimit(config.proxy.rate_limit, systemClock)
    : undefined
  const middleware: Middleware[] = [...(global ? [global] : []), ...protection.middleware]
  // As in S8: `echo` is listed read-only, so retries, hedging and coalescing take part.
  protection.hints.learn({ tools: [{ name: 'echo', annotations: { readOnlyHint: true } }] })
  return compose(middleware, terminal)
}

const ANSWER = Buffer.from(
  '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}',
)
const terminal: Handler = async () =>
  MessageReply.fromBytes(ANSWER, { status: 200, headers: { 'content-type': 'application/json' } })

let unique = 0
function nextCall() {
  const body = Buffer.from(
    JSON.stringify({
      jsonrpc: '2.0',
      id: ++unique,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: `t${unique}` } },
    }),
  )
  const [call] = buildCalls(decodeBody(body), {
    headers: { 'mcp-session-id': 's1', 'content-type': 'application/json' },
    request: { path: '/mcp', query: '', remoteAddress: '127.0.0.1' } as never,
    signal: new CallController().signal,
    transport: 'streamable-http',
    body,
    identity: undefined,
  })
  return call as NonNullable<typeof call>
}

/** ns per call through `handle`, the answer read and the call's lifetime ended. */
async function measure(handle: Handler): Promise<number> {
  const run = async (n: number) => {
    const started = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      const call = nextCall()
      const reply = await handle(call)
      if (reply.kind === 'message') await reply.json()
      call.lifetime.end()
    }
    return Number(process.hrtime.bigint() - started) / n
  }
  await run(Math.min(5_000, CALLS))
  return run(CALLS)
}

/** µs a chain adds over the empty one: both measured in alternation, the median difference. */
async function added(handle: Handler, empty: Handler): Promise<number> {
  const differences: number[] = []
  for (let r = 0; r < ROUNDS; r++)
    differences.push((await measure(handle)) - (await measure(empty)))
  differences.sort((a, b) => a - b)
  return (differences[Math.floor(differences.length / 2)] as number) / 1000
}

/** Bytes allocated per call through `handle` (median of rounds; no GC in a measured batch). */
async function garbage(handle: Handler, batch = 6000, rounds = 9): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('--bytes needs node --expose-gc (see the usage above)')
  const runBatch = async (calls: ReturnType<typeof nextCall>[]) => {
    for (const call of calls) {
      const reply = await handle(call)
      if (reply.kind === 'message') await reply.json()
      call.lifetime.end()
    }
    // Work the chain deferred to the end of the loop turn (a cache entry stored) counts too.
    await new Promise((resolve) => setImmediate(resolve))
  }
  const batchOf = () => Array.from({ length: batch }, nextCall)
  for (let i = 0; i < 5; i++) await runBatch(batchOf())
  const perCall: number[] = []
  for (let r = 0; r < rounds; r++) {
    const calls = batchOf()
    gc()
    const before = process.memoryUsage().heapUsed
    await runBatch(calls)
    perCall.push((process.memoryUsage().heapUsed - before) / batch)
  }
  perCall.sort((a, b) => a - b)
  return perCall[Math.floor(rounds / 2)] as number
}

const empty = compose([], terminal)
if (process.argv.includes('--bytes')) {
  const base = await garbage(empty)
  console.log(`empty chain: ${base.toFixed(0)} bytes per call (the call built beforehand)`)
  const all = await garbage(chainOf(PROTECT_ALL_TOML.replace('[store]\nenabled = false\n', '')))
  console.log(`full stack: +${(all - base).toFixed(0)} bytes per call`)
  for (const [heading, block] of tables()) {
    const added = (await garbage(chainOf(block))) - base
    console.log(`  ${heading.padEnd(20)} +${added.toFixed(0)} bytes`)
  }
  process.exit(0)
}
console.log(
  `empty chain: ${((await measure(empty)) / 1000).toFixed(2)} µs per call (building the call included)`,
)
const full = chainOf(PROTECT_ALL_TOML.replace('[store]\nenabled = false\n', ''))
console.log(`full stack: +${(await added(full, empty)).toFixed(2)} µs per call`)
for (const [heading, block] of tables()) {
  console.log(`  ${heading.padEnd(20)} +${(await added(chainOf(block), empty)).toFixed(2)} µs`)
}
process.exit(0)
