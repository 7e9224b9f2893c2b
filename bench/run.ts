/**
 * `npm run bench [-- --quick] [--only S1,S4] [--rounds N] [--out FILE]`: runs the scenarios
 * side by side against direct, nginx, a bare Node pass-through, Portico and the npm peers,
 * and writes the Markdown report (bench/reports/DATE.md by default). Not a test: timings
 * live here, never in `npm test`.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, release, totalmem } from 'node:os'
import { dirname, join, relative } from 'node:path'
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
import { stopAll } from './lib/procs.ts'
import { renderSection, renderVerdicts, type Section } from './lib/report.ts'
import { type Figures, type Plan, s1, s2, s3, s4, s5, s6, s7, s8, s9 } from './lib/scenarios.ts'
import { verdicts } from './lib/targets.ts'

interface Args {
  quick: boolean
  only: Set<string> | undefined
  rounds: number | undefined
  out: string | undefined
  /** Only these contenders (by name), for profiling and reruns of key figures. */
  with: Set<string> | undefined
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: false,
    only: undefined,
    rounds: undefined,
    out: undefined,
    with: undefined,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--quick') args.quick = true
    else if (arg === '--only') args.only = new Set((argv[++i] ?? '').toUpperCase().split(','))
    else if (arg === '--rounds') args.rounds = Number(argv[++i])
    else if (arg === '--out') args.out = argv[++i]
    else if (arg === '--with') args.with = new Set((argv[++i] ?? '').split(','))
    else
      throw new Error(
        `unknown argument ${arg} (use --quick, --only S1,S2, --with direct,portico, --rounds N, --out FILE)`,
      )
  }
  return args
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
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
    rounds: args.rounds ?? (args.quick ? 2 : 5),
    warmupMs: args.quick ? 100 : 500,
    durationMs: args.quick ? 500 : 3000,
    log,
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
  const figures: Figures = new Map()
  const sections: Section[] = []
  const run = async (id: string, body: () => Promise<Section>): Promise<void> => {
    if (!wants(id)) return
    log(`${id}…`)
    const t0 = Date.now()
    sections.push(await body())
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

  const date = new Date().toISOString().slice(0, 10)
  const out = args.out ?? join(ROOT, 'bench/reports', `${date}${args.quick ? '-quick' : ''}.md`)
  const report = [
    `# Portico benchmark, ${date}${args.quick ? ' (quick run)' : ''}`,
    '',
    `Generated by \`npm run bench${args.quick ? ' -- --quick' : ''}\` in ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    '',
    '## Machine and versions',
    '',
    ...startLines,
    `- Load average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
    `- Portico ${git('rev-parse', '--short', 'HEAD')} (${git('log', '-1', '--format=%s')})`,
    `- nginx ${nginxVersion()}; supergateway ${peerVersion('supergateway')}; mcp-proxy ${peerVersion('mcp-proxy')}; @civic/passthrough-mcp-server ${peerVersion('@civic/passthrough-mcp-server')}`,
    '',
    '## Method',
    '',
    `- Everything on loopback (127.0.0.1). Upstream: \`bench/fixtures/http-server.ts\` (node:http, hand-rolled minimal MCP with real sessions) or its stdio twin. Load client: \`bench/lib/client.ts\` (undici, raw JSON-RPC over Streamable HTTP: initialize once per session, \`notifications/initialized\`, then requests with \`mcp-session-id\`; every answer read in full and checked to echo its distinct argument).`,
    `- Each scenario starts all its contenders once, then runs ${plan.rounds} rounds; in each round every contender takes its turn (order rotated per round). Figures are medians over rounds; "added" latencies are per-round differences against direct, then the median. Percentiles are nearest-rank over all samples of a round.`,
    `- Load generator, proxy and upstream share the machine's cores, so absolute numbers are lower than on a dedicated box; compare the side-by-side columns, not these numbers with other machines'.`,
    ...skippedTools.map((s) => `- Skipped: ${s}`),
    '',
    '## Targets',
    '',
    renderVerdicts(verdicts(figures)),
    '',
    '## Contenders',
    '',
    ...[...httpContenders, ...stdioContenders].map((l) => `- **${l.name}**: ${l.what}`),
    '',
    ...sections.map(renderSection),
  ].join('\n')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, report)
  writeFileSync(
    out.replace(/\.md$/, '.json'),
    `${JSON.stringify(Object.fromEntries(figures), null, 1)}\n`,
  )
  log(`report written to ${relative(process.cwd(), out)}`)
}

main()
  .catch((error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  })
  .finally(() => stopAll())
