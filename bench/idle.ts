/**
 * `node dist/bench/idle.js [--contender portico|bare-node] [--idle 5,50] [--forced-gc]
 * [--config FILE] [--flags "..."]`: what a proxy's calls look like just after it idled, at one
 * session (issue 18, item 3). S1's contenders idle about a minute between their turns, and its
 * worst rounds' p99 came from the first second after such an idle.
 *
 * For each idle length: 4 s of calls, the idle, then the first 1.25 s of calls and the next
 * 1.25 s, each with its count, p50 and p99 as the client sees them (the upstream is the bench's
 * HTTP fixture, so these are whole round trips, not added latency). Also counted: full
 * collections in the proxy during the idle (a preloaded probe, fixtures/gc-probe.ts). With
 * `--forced-gc` the probe runs three full collections in the middle of each idle, to compare a
 * collection's after-effect with an idle's.
 */
import { openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openSessions, type Session, Target } from './lib/client.ts'
import { ROOT, startFixture } from './lib/contenders.ts'
import { runScript, start } from './lib/procs.ts'

const { values } = parseArgs({
  options: {
    contender: { type: 'string', default: 'portico' },
    idle: { type: 'string', default: '5,50' },
    'forced-gc': { type: 'boolean', default: false },
    config: { type: 'string' },
    flags: { type: 'string', default: '' },
  },
})

const WARM_MS = 8000
const BEFORE_MS = 4000
const WINDOW_MS = 1250
const LOG = '/tmp/portico-bench-idle.log'

interface Window {
  count: number
  p50: number
  p99: number
}

async function window(session: Session, ms: number): Promise<Window> {
  const latencies: number[] = []
  const end = Date.now() + ms
  for (let n = 0; Date.now() < end; n++) {
    const at = performance.now()
    await session.call('echo', `idle-${n}-${at}`)
    latencies.push((performance.now() - at) * 1000)
  }
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { count: latencies.length, p50: at(0.5), p99: at(0.99) }
}

const show = (w: Window) =>
  `${w.count} calls, p50 ${w.p50.toFixed(0)} µs, p99 ${w.p99.toFixed(0)} µs`
/** Full collections of the proxy's main thread so far (a store writer thread has its own heap). */
const majors = () =>
  readFileSync(LOG, 'utf8').match(/gc-probe: major .*\(main thread\)/g)?.length ?? 0
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function main(): Promise<void> {
  const fixture = await startFixture()
  const flags = ['--expose-gc', '--import', join(ROOT, 'dist/bench/fixtures/gc-probe.js')]
  flags.push(...(values.flags ?? '').split(' ').filter(Boolean))
  const args =
    values.contender === 'bare-node'
      ? [join(ROOT, 'dist/bench/fixtures/bare-proxy.js'), '--upstream', fixture.url]
      : [join(ROOT, 'dist/src/cli/main.js'), 'run', '--upstream', fixture.url, '--port', '0']
  if (values.contender !== 'bare-node') {
    args.push('--log-level', 'warn', ...(values.config ? ['--config', values.config] : []))
  }
  openSync(LOG, 'w')
  const proxy = await start(process.execPath, [...flags, ...args], {
    waitFor: /listening on (http:\/\/\S+)/,
    stderrTo: LOG,
  })
  const target = new Target(proxy.match?.[1] as string, 1)
  const [session] = await openSessions(target, 1)
  if (session === undefined || proxy.child.pid === undefined) throw new Error('no session')
  console.log(`${values.contender}${values.config ? ` (${values.config})` : ''}, ${values.flags}`)
  await window(session, WARM_MS)
  for (const idle of (values.idle ?? '').split(',').map(Number)) {
    await window(session, BEFORE_MS)
    const majorsBefore = majors()
    await sleep((idle * 1000) / 2)
    if (values['forced-gc']) proxy.child.kill('SIGUSR2')
    await sleep((idle * 1000) / 2)
    const during = majors() - majorsBefore
    const first = await window(session, WINDOW_MS)
    const next = await window(session, WINDOW_MS)
    console.log(
      `idle ${idle} s (${during} full collections): first ${WINDOW_MS} ms ${show(first)}; next ${show(next)}`,
    )
  }
  await target.close()
  await fixture.stop()
}

runScript(main)
