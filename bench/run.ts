/**
 * `npm run bench [-- --quick] [--only S1,C2] [--rounds N] [--with a,b] [--out FILE] [--wait-quiet S]`: runs the
 * scenarios side by side against direct, nginx, a bare Node pass-through, Portico and the npm
 * peers, plus the cost curves C1–C4, and updates the current report of each scenario set it ran
 * (bench/reports/<set>.md, see lib/output.ts) with a history row each. Not a test: timings live
 * here, never in `npm test`.
 */
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join, relative } from 'node:path'
import {
  bare,
  bareUndici,
  civic,
  direct,
  findNginx,
  gatewayUnavailable,
  type Launcher,
  mcpProxy,
  nginx,
  nginxVersion,
  peerVersion,
  porticoAccessLog,
  porticoBaseline,
  porticoCache,
  porticoGateway,
  porticoGatewayBaseline,
  porticoPlain,
  porticoProtected,
  porticoStoreOff,
  porticoStoreOn,
  porticoTwoWorkers,
  ROOT,
  supergateway,
} from './lib/contenders.ts'
import { c3 } from './lib/curves/backends.ts'
import { httpGateway } from './lib/curves/common.ts'
import { c4 } from './lib/curves/concurrency.ts'
import { c2 } from './lib/curves/payload.ts'
import { c1 } from './lib/curves/sessions.ts'
import {
  git,
  type Measured,
  measuredCommit,
  type RunInfo,
  writeCurrent,
  writeStandalone,
} from './lib/output.ts'
import { stopAll } from './lib/procs.ts'
import { MAX_LOAD_FOR_VERDICTS, type Section, verdictsAtLoad } from './lib/report.ts'
import { type Figures, type Plan, s1, s2, s3, s4, s5, s6, s7, s8, s9 } from './lib/scenarios.ts'
import { ALL_SCENARIOS } from './lib/sets.ts'
import { verdicts } from './lib/targets.ts'

interface Args {
  quick: boolean
  only: Set<string> | undefined
  rounds: number | undefined
  out: string | undefined
  /** Only these contenders (by name), for profiling and reruns of key figures. */
  with: Set<string> | undefined
  /** Seconds each section may wait for the machine to be quiet (`--wait-quiet`). */
  waitQuiet: number
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: false,
    only: undefined,
    rounds: undefined,
    out: undefined,
    with: undefined,
    waitQuiet: 0,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--quick') args.quick = true
    else if (arg === '--only') args.only = new Set((argv[++i] ?? '').toUpperCase().split(','))
    else if (arg === '--rounds') args.rounds = Number(argv[++i])
    else if (arg === '--out') args.out = argv[++i]
    else if (arg === '--with') args.with = new Set((argv[++i] ?? '').split(','))
    else if (arg === '--wait-quiet') args.waitQuiet = Number(argv[++i])
    else
      throw new Error(
        `unknown argument ${arg} (use --quick, --only S1,C2, --with direct,portico, --rounds N, --out FILE, --wait-quiet SECONDS)`,
      )
  }
  if (!Number.isFinite(args.waitQuiet) || args.waitQuiet < 0) {
    throw new Error('--wait-quiet takes a number of seconds (0 or more)')
  }
  const unknown = [...(args.only ?? [])].filter((id) => !ALL_SCENARIOS.includes(id))
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${ALL_SCENARIOS.join(', ')})`)
  return args
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

/**
 * Waits up to `seconds` for the 1-minute load average to fall to the bound under which targets
 * are compared, saying what it waits for every 15 s. Our own previous section counts in it
 * too: it decays with a one-minute time constant.
 */
async function waitForQuiet(id: string, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000
  let said = 0
  while ((loadavg()[0] ?? 0) > MAX_LOAD_FOR_VERDICTS && Date.now() < until) {
    if (Date.now() - said >= 15_000) {
      said = Date.now()
      log(
        `${id}: waiting for load average ≤ ${MAX_LOAD_FOR_VERDICTS} (now ${(loadavg()[0] ?? 0).toFixed(2)}, ${Math.ceil((until - Date.now()) / 1000)} s left)`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

function machine(): string[] {
  const cpu = cpus()
  return [
    `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} logical cores; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    `- OS: Linux ${release()}; Node ${process.version}`,
    `- Load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (1, 5, 15 min)`,
  ]
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const plan: Plan = {
    quick: args.quick,
    // --quick is a smoke test of every scenario that must stay under 3 minutes with the build
    // on a shared 2-core machine: one short round each, not a measurement.
    rounds: args.rounds ?? (args.quick ? 1 : 5),
    warmupMs: args.quick ? 100 : 500,
    durationMs: args.quick ? 300 : 3000,
    log,
  }
  // The curves measure many points, so each point is shorter: a full curve set stays near
  // 10 minutes, and --quick runs a smaller version of each (fewer points, one round).
  const curvePlan: Plan = {
    ...plan,
    rounds: args.rounds ?? (args.quick ? 1 : 3),
    warmupMs: args.quick ? 50 : 250,
    durationMs: args.quick ? 200 : 1000,
  }
  const wants = (id: string): boolean => args.only === undefined || args.only.has(id)
  const started = Date.now()
  const startLines = machine()
  const skippedTools: string[] = []
  if (!findNginx(log))
    skippedTools.push(
      'nginx: not installed and could not be installed (needs root and apt-get); nginx rows are skipped',
    )
  const gatewayReason = gatewayUnavailable()
  if (gatewayReason)
    skippedTools.push(`Portico gateway: ${gatewayReason}; S4/S5 gateway rows are skipped`)

  const chosen = (list: Launcher[]): Launcher[] =>
    list.filter((l) => args.with === undefined || args.with.has(l.name))
  const httpContenders = chosen([
    direct,
    nginx,
    bare,
    bareUndici,
    porticoStoreOn,
    porticoTwoWorkers,
    ...porticoBaseline(),
    porticoStoreOff,
    porticoAccessLog,
    civic(log),
  ])
  const stdioContenders = chosen([
    porticoGateway([{ name: 'fx', stdio: true }]),
    ...porticoGatewayBaseline([{ name: 'fx', stdio: true }]),
    supergateway(log),
    mcpProxy(log),
  ])
  const gatewayWhat =
    'Portico gateway (`[[backends]]`) with one HTTP backend `fx`, the same fixture, tools called as `fx__echo`; recording on as by default'
  // C1 holds up to 10,000 sessions from one client address: the gateway's limits go above it.
  const sessionGateway = httpGateway('portico-gateway', gatewayWhat, [
    'max_sessions = 20000',
    'max_sessions_per_client = 20000',
  ])
  const curveContenders = chosen([
    direct,
    nginx,
    bare,
    porticoStoreOn,
    httpGateway('portico-gateway', gatewayWhat),
  ])
  const figures: Figures = new Map()
  const measured: Measured[] = []
  const commit = measuredCommit(ROOT)
  const run = async (id: string, body: () => Promise<Section>): Promise<void> => {
    if (!wants(id)) return
    if (args.waitQuiet > 0) await waitForQuiet(id, args.waitQuiet)
    log(`${id}…`)
    const t0 = Date.now()
    const load = loadavg()
    const section = await body()
    section.measured = `Measured ${new Date(t0).toISOString().slice(0, 16).replace('T', ' ')} UTC on Portico ${commit}, load average ${load.map((l) => l.toFixed(2)).join(', ')} (1, 5, 15 min) at the start of this section, in ${((Date.now() - t0) / 1000).toFixed(0)} s; \`node dist/bench/run.js ${process.argv.slice(2).join(' ')}\`${args.quick ? ' (quick: a smoke test, not a measurement)' : ''}.`
    measured.push({ section, load: load[0] ?? Number.NaN })
    log(`${id} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }
  await run('S1', () => s1(plan, httpContenders, figures))
  await run('S2', () =>
    s2(
      plan,
      chosen([direct, nginx, bare, porticoStoreOn, ...porticoBaseline(), porticoAccessLog]),
      figures,
    ),
  )
  await run('S3', () => s3(plan, httpContenders, figures))
  await run('S4', () => s4(plan, stdioContenders, figures))
  await run('S5', () =>
    s5(plan, (urls) => porticoGateway(urls.map((url, i) => ({ name: `b${i}`, url }))), figures),
  )
  await run('S6', () =>
    s6(
      args.quick
        ? chosen([nginx, bare, porticoStoreOn])
        : chosen([nginx, bare, porticoStoreOn, porticoStoreOff, civic(log), ...stdioContenders]),
      figures,
      (name) =>
        name === 'supergateway'
          ? 'in --stateful mode supergateway spawns one stdio child per session (1,000 Node processes)'
          : undefined,
      args.quick ? 1 : 3,
    ),
  )
  await run('S7', () => s7(plan, figures))
  await run('S8', () =>
    s8(
      plan,
      { direct, plain: porticoPlain, protected: porticoProtected, cache: porticoCache },
      figures,
    ),
  )
  await run('S9', () => s9(plan, join(ROOT, 'dist/src/cli/main.js'), figures))
  await run('C1', () =>
    c1(curvePlan, chosen([direct, bare, porticoStoreOn, sessionGateway]), figures),
  )
  await run('C2', () => c2(curvePlan, curveContenders, figures))
  await run('C3', () => c3(curvePlan, figures))
  await run('C4', () => c4(curvePlan, curveContenders, figures))

  // Each target shows in the section of its scenario.
  for (const m of measured) {
    m.section.verdicts = verdictsAtLoad(
      verdicts(figures).filter((v) => v.scenario === m.section.id),
      m.load,
    )
  }
  const contenderLines = (list: Launcher[]) => list.map((l) => `- **${l.name}**: ${l.what}`)
  // S9 and C3 start their own Porticos, described in their sections.
  const contendersOf: Record<string, Launcher[]> = {
    's1-s7': [...httpContenders, ...stdioContenders],
    protect: chosen([direct, porticoPlain, porticoProtected, porticoCache]),
    curves: curveContenders,
  }
  const info: RunInfo = {
    date: new Date(started).toISOString().slice(0, 10),
    commit,
    machine: [
      ...startLines,
      `- Load average at end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')}`,
      `- Portico ${commit} (${git(ROOT, 'log', '-1', '--format=%s')})`,
      `- nginx ${nginxVersion()}; supergateway ${peerVersion('supergateway')}; mcp-proxy ${peerVersion('mcp-proxy')}; @civic/passthrough-mcp-server ${peerVersion('@civic/passthrough-mcp-server')}`,
      `- The run took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    ],
    method: [
      `- Everything on loopback (127.0.0.1). Upstream: \`bench/fixtures/http-server.ts\` (node:http, hand-rolled minimal MCP with real sessions) or its stdio twin. Load client: \`bench/lib/client.ts\` (undici, raw JSON-RPC over Streamable HTTP: initialize once per session, \`notifications/initialized\`, then requests with \`mcp-session-id\`; every answer read in full and checked to echo its distinct argument).`,
      '- Each scenario starts all its contenders once, then runs rounds; in each round every contender takes its turn (order rotated per round). Figures are medians over rounds; "added" latencies are per-round differences against direct, then the median. Percentiles are nearest-rank over all samples of a round.',
      `- Load generator, proxy and upstream share the machine's cores, so absolute numbers are lower than on a dedicated box; compare the side-by-side columns, not these numbers with other machines'. The machine is shared: read the load average of each section before its figures.`,
      ...skippedTools.map((s) => `- Skipped: ${s}`),
    ],
    contenders: (sets) => {
      const lines = sets.flatMap((set) => contenderLines(contendersOf[set.id] ?? []))
      return [...new Set(lines)]
    },
  }
  if (args.out !== undefined || args.quick) {
    const out = args.out ?? join(tmpdir(), 'portico-bench-quick.md')
    const title = `Portico benchmark, ${info.date}${args.quick ? ' (quick run)' : ''}`
    writeStandalone(out, title, info, measured)
    log(`report written to ${relative(process.cwd(), out) || out}`)
    return
  }
  for (const file of writeCurrent(join(ROOT, 'bench/reports'), info, measured, figures))
    log(`updated ${relative(process.cwd(), file)}`)
}

main()
  .catch((error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  })
  .finally(() => stopAll())
