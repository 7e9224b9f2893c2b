/**
 * A/B of two Portico builds (or one build with two configs) by CPU per request: both started
 * side by side on one fixture, measured in short alternating slices so that a noisy, shared
 * machine weighs on both alike; medians over slices. For the optimisation log (issue 18), not a
 * scenario of the report.
 *
 * `--together` loads both at once in every slice (each with its own `--c` sessions) instead
 * of one after the other: the two share every moment of a noisy machine, so their ratio
 * drifts less (check it with the same build on both sides first: an A/A run).
 *
 * `--sse` makes every call one answered with an SSE stream (the fixture's `size` tool, one
 * 256-byte result event), as servers built on the MCP SDKs answer by default.
 *
 * Usage: node dist/bench/ab.js --a PATH/main.js --b PATH/main.js [--slices 12] [--ms 1500]
 *        [--c 16] [--sse] [--log-level warn] [--log-level-a/-b LEVEL] [--config-a FILE] [--config-b FILE] [--flags-a "NODE FLAGS"] [--flags-b …]
 */
import { openSessions, type Session, Target } from './lib/client.ts'
import { scratchPath, startFixture } from './lib/contenders.ts'
import { start } from './lib/procs.ts'
import { median } from './lib/stats.ts'
import { type LoadedSide, pairedRatio, type SliceFigures, sliceTogether } from './lib/together.ts'

const NODE = process.execPath

interface Side {
  name: string
  url: string
  pid: number
  stop: () => Promise<void>
  cpu: number[]
  rps: number[]
  p50: number[]
  p99: number[]
}

function arg(name: string, fallback?: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? fallback : process.argv[index + 1]
}

async function launch(
  name: string,
  entry: string,
  upstream: string,
  config?: string,
  flags = '',
): Promise<Side> {
  const args = [
    ...flags.split(' ').filter(Boolean),
    entry,
    'run',
    '--upstream',
    upstream,
    '--port',
    '0',
    '--log-level',
    // `--log-level info` to measure the audit log (its lines are info lines); `--log-level-a`
    // and `--log-level-b` set one side only.
    (arg(`log-level-${name.toLowerCase()}`) ?? arg('log-level', 'warn')) as string,
  ]
  if (config) args.push('--config', config)
  else args.push('--db', scratchPath(`ab-${name}.db`))
  // Its log (the audit lines, at --log-level info) to a file, not through the load generator.
  const started = await start(NODE, args, {
    waitFor: /listening on (http:\/\/\S+)/,
    stderrTo: scratchPath(`ab-${name}.log`),
  })
  return {
    name,
    url: started.match?.[1] as string,
    pid: started.child.pid as number,
    stop: started.stop,
    cpu: [],
    rps: [],
    p50: [],
    p99: [],
  }
}

async function main(): Promise<void> {
  const slices = Number(arg('slices', '12'))
  const ms = Number(arg('ms', '1500'))
  const c = Number(arg('c', '16'))
  const together = process.argv.includes('--together')
  const fixture = await startFixture()
  const sides = [
    await launch('A', arg('a') as string, fixture.url, arg('config-a'), arg('flags-a')),
    await launch('B', arg('b') as string, fixture.url, arg('config-b'), arg('flags-b')),
  ]
  const loads = await Promise.all(
    sides.map(async (side) => {
      const target = new Target(side.url, c)
      const sessions = await openSessions(target, c)
      // As S8 does: Portico learns from tools/list that `echo` is read-only.
      await sessions[0]?.request('tools/list', {})
      return { target, sessions }
    }),
  )
  let n = 0
  const call = process.argv.includes('--sse')
    ? (s: Session) => s.call('size', `v${n++}`, { bytes: 256, sse: true })
    : (s: Session) => s.call('echo', `v${n++}`)
  const loaded: LoadedSide[] = loads.map((load, i) => ({
    pid: sides[i]?.pid,
    sessions: load.sessions,
    call,
  }))
  for (const side of loaded) await sliceTogether([side], 1000)
  const record = (side: Side, figures: SliceFigures | undefined) => {
    if (figures === undefined) return
    side.cpu.push(figures.cpu)
    side.rps.push(figures.rps)
    side.p50.push(figures.p50)
    side.p99.push(figures.p99)
  }
  for (let slice = 0; slice < slices; slice++) {
    if (together) {
      const figures = await sliceTogether(loaded, ms)
      for (const [i, side] of sides.entries()) record(side, figures[i])
      continue
    }
    const order = slice % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) {
      const [figures] = await sliceTogether([loaded[i] as LoadedSide], ms)
      record(sides[i] as Side, figures)
    }
  }
  for (const side of sides) {
    console.log(
      `${side.name}: CPU/req ${median(side.cpu).toFixed(1)} µs, req/s ${median(side.rps).toFixed(0)}, p50 ${median(side.p50).toFixed(0)} µs, p99 ${median(side.p99).toFixed(0)} µs`,
    )
  }
  const ratio = sides[1] && sides[0] ? median(sides[1].cpu) / median(sides[0].cpu) : Number.NaN
  console.log(
    `B ÷ A CPU/req: ${ratio.toFixed(3)} (c=${c}${together ? ' each, loaded together' : ''}, ${slices} slices of ${ms} ms)`,
  )
  // Each slice of B against the A slice next to it: steadier than the ratio of medians when
  // the shared machine's speed drifts during the run.
  for (const [what, of] of [
    ['CPU/req', (side: Side) => side.cpu],
    ['req/s', (side: Side) => side.rps],
  ] as const) {
    const paired = pairedRatio(sides[0] ? of(sides[0]) : [], sides[1] ? of(sides[1]) : [])
    console.log(
      `B ÷ A ${what}, paired slices: median ${paired.median.toFixed(3)}, quartiles ${paired.q1.toFixed(3)} – ${paired.q3.toFixed(3)}`,
    )
  }
  await Promise.all(loads.map((l) => l.target.close()))
  await Promise.all(sides.map((s) => s.stop()))
  await fixture.stop()
}

await main()
