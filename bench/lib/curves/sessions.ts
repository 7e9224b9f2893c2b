/**
 * C1: what open sessions cost. Each contender gets its own fixture (so direct's upstream holds
 * only its own sessions), then the session count climbs 10 → 100 → 1,000 → 10,000 while 16 of
 * them stay busy: at each step every contender measures the 16 active sessions in rotated
 * rounds, and its process tree's RSS is read after.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { lineChart } from '../chart.ts'
import { openSessions, type Session, Target } from '../client.ts'
import { type Comparison, type Metrics, med } from '../compare.ts'
import { type Launcher, type Running, Skip, startFixture } from '../contenders.ts'
import { treeRss } from '../procs.ts'
import type { Section } from '../report.ts'
import { cells, type Figures, type Plan } from '../scenarios.ts'
import { formatCount, formatMb, formatUs, median } from '../stats.ts'
import {
  errorNotes,
  formatInt,
  formatMbAxis,
  formatMs,
  pointTable,
  rssSeries,
  seriesOf,
  timing,
} from './common.ts'

const ACTIVE = 16

interface Entry {
  running: Running
  fixture: Running
  target: Target
  sessions: Session[]
  /** Set when the contender could not hold the next level: why, and the level. */
  failed?: string
}

export async function c1(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const levels = plan.quick ? [10, 100] : [10, 100, 1000, 10_000]
  const entries: Entry[] = []
  const notes: string[] = []
  const comparison: Comparison = { names: [], rounds: new Map(), skipped: [] }
  try {
    for (const launcher of launchers) {
      const fixture = await startFixture(3, `fx-${launcher.name}`)
      try {
        const running = await launcher.start(fixture.url)
        entries.push({ running, fixture, target: new Target(running.url, ACTIVE), sessions: [] })
        comparison.names.push(running.name)
        comparison.rounds.set(running.name, [])
      } catch (error) {
        await fixture.stop()
        notes.push(
          `skipped ${launcher.name}: ${error instanceof Skip ? error.message : String(error)}`,
        )
      }
    }
    for (const level of levels) {
      for (const entry of entries) await grow(entry, level, figures, plan)
      if (level === levels[0]) {
        // A fresh process is still compiling its hot path: warm each one up before the first
        // point, or that point measures the JIT.
        const warm = { ...plan, durationMs: plan.warmupMs * 4 }
        for (const entry of entries) await cells(warm, entry, entry.running, [ACTIVE], 'echo')
      }
      await sleep(300)
      const measured = new Map<Entry, Metrics[]>()
      for (let round = 0; round < plan.rounds; round++) {
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[(i + round) % entries.length] as Entry
          if (entry.failed) continue
          const metrics = await cells(plan, entry, entry.running, [ACTIVE], 'echo')
          measured.set(entry, [...(measured.get(entry) ?? []), metrics])
        }
      }
      for (const entry of entries) {
        const point = pointOf(entry, measured.get(entry) ?? [])
        const name = entry.running.name
        // One Metrics per level, keyed by it: med() over "rounds" then reads that level's value.
        comparison.rounds
          .get(name)
          ?.push(Object.fromEntries(Object.entries(point).map(([k, v]) => [`${level}.${k}`, v])))
        for (const [k, v] of Object.entries(point)) figures.set(`C1.${name}.${level}.${k}`, v)
      }
      plan.log(`  C1: ${formatInt(level)} sessions measured`)
    }
    for (const entry of entries) if (entry.failed) notes.push(entry.failed)
    notes.push(...errorNotes(comparison, 'calls'))
  } finally {
    for (const entry of entries) {
      await entry.target.close().catch(() => undefined)
      await entry.running.stop()
      await entry.fixture.stop()
    }
  }
  // Each contender has one "round" per level here, so med() reads that level's value.
  const value = (name: string, key: string) => med(comparison, name, key)
  const fmtLevel = (n: number) => `${formatInt(n)} sessions`
  return {
    id: 'C1',
    title: 'cost curve: open sessions (10 → 10,000, 16 active)',
    method:
      `Each contender in front of its own HTTP fixture. The bench opens sessions (initialize + \`notifications/initialized\`, 64 at a time over ${ACTIVE} keep-alive connections) up to each level and leaves them open; then the first ${ACTIVE} sessions (all of them at 10) run \`tools/call echo\` closed-loop ` +
      `(${timing(plan, 'per level')}, medians). Each contender is warmed up once (${plan.warmupMs * 4} ms) before the first level. RSS is read from /proc (VmRSS of the process tree) once per level, after its rounds; it moves with the garbage collector, so one reading can sit below the one before it: the proxy's, and for direct the fixture's own (it holds the sessions). ` +
      'The gateway runs with `[proxy] max_sessions` and `max_sessions_per_client` raised to 20,000 (defaults 10,000 and 1,000 per client address: all bench sessions come from 127.0.0.1); it opens one upstream session per client session.',
    charts: [
      {
        file: 'c1-rss.svg',
        alt: 'C1: RSS against open sessions',
        svg: lineChart({
          title: 'RSS with N open sessions',
          xLabel: 'open sessions (log scale)',
          yLabel: 'RSS',
          xLog: true,
          formatX: formatInt,
          formatY: formatMbAxis,
          series: rssSeries(comparison, levels),
        }),
      },
      {
        file: 'c1-latency.svg',
        alt: 'C1: p50 and p99 of the 16 active sessions against open sessions',
        svg: lineChart({
          title: 'Latency of 16 active sessions: p50 (solid), p99 (dashed)',
          xLabel: 'open sessions (log scale)',
          yLabel: 'latency',
          xLog: true,
          formatX: formatInt,
          formatY: formatMs,
          series: [
            ...seriesOf(comparison, levels, (l) => `${l}.p50`, { suffix: ' p50' }),
            ...seriesOf(comparison, levels, (l) => `${l}.p99`, { suffix: ' p99', dashed: true }),
          ],
        }),
      },
    ],
    tables: [
      pointTable('RSS', comparison.names, levels, fmtLevel, (n, l) =>
        formatMb(value(n, `${l}.rss`)),
      ),
      pointTable('p50', comparison.names, levels, fmtLevel, (n, l) =>
        formatUs(value(n, `${l}.p50`)),
      ),
      pointTable('p99', comparison.names, levels, fmtLevel, (n, l) =>
        formatUs(value(n, `${l}.p99`)),
      ),
      pointTable('req/s', comparison.names, levels, fmtLevel, (n, l) =>
        formatCount(value(n, `${l}.rps`)),
      ),
      pointTable('proxy CPU/req', comparison.names, levels, fmtLevel, (n, l) =>
        formatUs(value(n, `${l}.cpu`)),
      ),
      pointTable('seconds to open the added sessions', comparison.names, levels, fmtLevel, (n, l) =>
        formatSeconds(figures.get(`C1.${n}.${l}.openS`) ?? Number.NaN),
      ),
    ],
    notes,
  }
}

/** Opens sessions until `level` are open; a failure ends this contender's curve. */
async function grow(entry: Entry, level: number, figures: Figures, plan: Plan): Promise<void> {
  if (entry.failed) return
  const name = entry.running.name
  const begin = performance.now()
  try {
    entry.sessions.push(...(await openSessions(entry.target, level - entry.sessions.length, 64)))
    figures.set(`C1.${name}.${level}.openS`, (performance.now() - begin) / 1000)
  } catch (error) {
    entry.failed = `${name}: stopped at ${formatInt(level)} sessions (${entry.sessions.length} open): ${String(error).slice(0, 200)}`
    plan.log(`  C1: ${entry.failed}`)
  }
}

/** The medians over rounds of one level, and the RSS after them. */
function pointOf(entry: Entry, rounds: readonly Metrics[]): Metrics {
  const at = (key: string) => median(rounds.map((m) => m[`c${ACTIVE}.${key}`] ?? Number.NaN))
  return {
    // Direct has no proxy: its RSS is the fixture's, which holds the sessions.
    rss: entry.failed ? Number.NaN : treeRss(entry.running.pid || entry.fixture.pid),
    p50: at('p50'),
    p99: at('p99'),
    rps: at('rps'),
    cpu: at('cpu'),
    errors: rounds.reduce((sum, m) => sum + (m[`c${ACTIVE}.errors`] ?? 0), 0),
  }
}

function formatSeconds(seconds: number): string {
  return Number.isFinite(seconds) ? `${seconds.toFixed(1)} s` : '—'
}
