/**
 * C3: what backends cost the gateway. For 1, 10 and 50 HTTP backends: the merged
 * `tools/list` and a `tools/call` through the gateway (list cache on, as by default, and off),
 * against a client that asks the same backends itself, plus the gateway's RSS.
 */
import { lineChart } from '../chart.ts'
import { closedLoop, Session, Target } from '../client.ts'
import { type Comparison, compare, type Metrics, med } from '../compare.ts'
import { type Launcher, porticoGateway, type Running, startFixture } from '../contenders.ts'
import { treeRss } from '../procs.ts'
import type { Section } from '../report.ts'
import { distinct, type Figures, type Plan, skippedNotes } from '../scenarios.ts'
import { formatMb, formatUs, summarize } from '../stats.ts'
import {
  errorNotes,
  formatMbAxis,
  formatMs,
  pointTable,
  rssSeries,
  seriesOf,
  timing,
} from './common.ts'

/** Tools per backend: 50 backends list 500 tools, the size of S5's merged list. */
const TOOLS = 10

interface Context {
  target: Target
  /** One merged list: the gateway's tools/list, or the client's own fan-out and merge. */
  list: () => Promise<number>
  call: () => Promise<unknown>
  tools: number
  /** The session the closed loop is counted on (direct's list uses all of them). */
  first: Session
}

export async function c3(plan: Plan, figures: Figures): Promise<Section> {
  const counts = plan.quick ? [1, 10] : [1, 10, 50]
  // One fixture process serves every backend (each gateway backend is its own session in
  // it): the curve shows what the gateway adds per backend, not 50 servers fighting for the
  // machine's 2 cores.
  const fixture = await startFixture(TOOLS, 'fx')
  const notes: string[] = []
  const merged: Comparison = { names: [], rounds: new Map(), skipped: [] }
  try {
    for (const count of counts) {
      const comparison = await compare<Context>({
        launchers: [
          direct(count),
          gateway(count, 'portico-gateway', []),
          gateway(count, 'portico-gateway-nocache', ['list_cache_ttl = 0']),
        ],
        upstream: fixture.url,
        rounds: plan.rounds,
        log: plan.log,
        prepare: (running) => prepare(running, count),
        measure: (context, running) => measure(plan, context, running, count),
        cleanup: (context) => context.target.close(),
      })
      // Fold this count's rounds into one comparison keyed by count, for the tables and charts.
      for (const name of comparison.names) {
        if (!merged.rounds.has(name)) {
          merged.names.push(name)
          merged.rounds.set(name, [])
        }
        merged.rounds.get(name)?.push(...(comparison.rounds.get(name) ?? []))
        for (const key of ['listP50', 'listP99', 'callP50', 'callP99', 'rss', 'tools']) {
          figures.set(`C3.${name}.${count}.${key}`, med(comparison, name, `${count}.${key}`))
        }
      }
      notes.push(
        ...skippedNotes(comparison),
        ...errorNotes(comparison, `lists or calls (${count} backends)`),
      )
      plan.log(`  C3: ${count} backends measured`)
    }
  } finally {
    await fixture.stop()
  }
  const value = (name: string, key: string) => med(merged, name, key)
  const col = (n: number) => `${n} backend${n === 1 ? '' : 's'}`
  const gateways = { ...merged, names: merged.names.filter((n) => n !== 'direct') }
  return {
    id: 'C3',
    title: 'cost curve: backends behind the gateway (1, 10, 50)',
    method:
      `N HTTP backends \`b0\`…, each with ${TOOLS} tools, all served by one fixture process (each backend is its own session in it). ` +
      '"list" = one complete merged `tools/list`: through the gateway one request; for direct the client opens a session to each backend and asks all N in parallel, as a client without a gateway must. ' +
      '"call" = `tools/call echo` on the first backend (`b0__echo` through the gateway). Both closed-loop, one at a time, ' +
      `${timing(plan, 'each')} per N, medians. ` +
      '`portico-gateway` runs with the default list cache (`list_cache_ttl`; the fixture does not announce list changes, so a merged list is reused for up to 5 s), `portico-gateway-nocache` with `list_cache_ttl = 0` (every list asks every backend). RSS: the gateway process after the rounds.',
    charts: [
      {
        file: 'c3-list.svg',
        alt: 'C3: merged tools/list p50 and p99 against the number of backends',
        svg: lineChart({
          title: 'Merged tools/list: p50 (solid), p99 (dashed)',
          xLabel: 'backends',
          yLabel: 'latency',
          formatX: String,
          formatY: formatMs,
          series: [
            ...seriesOf(merged, counts, (n) => `${n}.listP50`, { suffix: ' p50' }),
            ...seriesOf(merged, counts, (n) => `${n}.listP99`, { suffix: ' p99', dashed: true }),
          ],
        }),
      },
      {
        file: 'c3-rss.svg',
        alt: 'C3: gateway RSS against the number of backends',
        svg: lineChart({
          title: 'Gateway RSS',
          xLabel: 'backends',
          yLabel: 'RSS',
          formatX: String,
          formatY: formatMbAxis,
          series: rssSeries(gateways, counts),
        }),
      },
    ],
    tables: [
      pointTable('tools in the list', merged.names, counts, col, (n, c) =>
        String(value(n, `${c}.tools`)),
      ),
      pointTable(
        'list p50 / p99',
        merged.names,
        counts,
        col,
        (n, c) => `${formatUs(value(n, `${c}.listP50`))} / ${formatUs(value(n, `${c}.listP99`))}`,
      ),
      pointTable(
        'call p50 / p99',
        merged.names,
        counts,
        col,
        (n, c) => `${formatUs(value(n, `${c}.callP50`))} / ${formatUs(value(n, `${c}.callP99`))}`,
      ),
      pointTable('RSS', gateways.names, counts, col, (n, c) => formatMb(value(n, `${c}.rss`))),
    ],
    notes,
  }
}

function backendsOf(upstream: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({ name: `b${i}`, url: upstream }))
}

function gateway(count: number, label: string, proxy: string[]): Launcher {
  return {
    name: label,
    what: `Portico gateway with N HTTP backends${proxy.length ? ` (${proxy.join(', ')})` : ''}`,
    start: (upstream) =>
      porticoGateway(backendsOf(upstream, count), label, undefined, proxy).start(''),
  }
}

/** The client itself: its sessions go straight to the backends (here all the fixture). */
function direct(count: number): Launcher {
  return {
    name: 'direct',
    what: `the client opens ${count} sessions itself and merges the lists`,
    start: async (upstream): Promise<Running> => ({
      name: 'direct',
      url: upstream,
      pid: 0,
      stop: async () => undefined,
    }),
  }
}

async function prepare(running: Running, count: number): Promise<Context> {
  const isDirect = running.name === 'direct'
  const target = new Target(running.url, isDirect ? count : 1)
  const sessions = await Promise.all(
    Array.from({ length: isDirect ? count : 1 }, async () => {
      const session = new Session(target)
      await session.open()
      return session
    }),
  )
  const first = sessions[0] as Session
  const list = async (): Promise<number> => {
    const answers = await Promise.all(sessions.map((s) => s.request('tools/list', {})))
    let tools = 0
    for (const answer of answers) {
      if (answer.status !== 200) throw new Error(`tools/list: HTTP ${answer.status}`)
      tools += answer.text.split('"inputSchema"').length - 1
    }
    return tools
  }
  const tool = isDirect ? 'echo' : 'b0__echo'
  return { target, list, call: () => first.call(tool, distinct()), tools: await list(), first }
}

async function measure(
  plan: Plan,
  context: Context,
  running: Running,
  count: number,
): Promise<Metrics> {
  const out: Metrics = { [`${count}.tools`]: context.tools }
  for (const [name, send] of [
    ['list', context.list],
    ['call', context.call],
  ] as const) {
    await closedLoop([context.first], () => send(), 0, plan.warmupMs)
    const load = await closedLoop([context.first], () => send(), 0, plan.durationMs)
    const summary = summarize(load.latenciesUs)
    out[`${count}.${name}P50`] = summary.p50
    out[`${count}.${name}P99`] = summary.p99
    out[`${count}.${name}Errors`] = load.errors
  }
  out[`${count}.rss`] = running.pid ? treeRss(running.pid) : Number.NaN
  return out
}
