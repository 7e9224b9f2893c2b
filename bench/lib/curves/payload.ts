/**
 * C2: what answer size costs. One session per contender calls the fixture's `size` tool for
 * answers of 1 KB to 10 MB, once answered as JSON and once as one SSE event, closed loop; the
 * curve is the throughput in MB/s and the latency added to direct's, per size.
 */
import { lineChart } from '../chart.ts'
import { closedLoop, type Session } from '../client.ts'
import { type Comparison, type Metrics, med, medDiff } from '../compare.ts'
import type { Launcher } from '../contenders.ts'
import type { Section, Table } from '../report.ts'
import { distinct, type Figures, type Plan, skippedNotes } from '../scenarios.ts'
import { formatSignedUs, formatUs, summarize } from '../stats.ts'
import {
  compareOnFixture,
  errorNotes,
  formatBytes,
  formatMs,
  pointTable,
  seriesOf,
  timing,
} from './common.ts'

const MODES = ['json', 'sse'] as const
type Mode = (typeof MODES)[number]

export async function c2(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const sizes = plan.quick ? [1e3, 1e6] : [1e3, 1e5, 1e6, 1e7]
  const comparison = await compareOnFixture(plan, launchers, 1, async (loaded, running) => {
    const metrics: Metrics = {}
    const session = loaded.sessions[0] as Session
    const tool = `${running.toolPrefix ?? ''}size`
    for (const mode of MODES) {
      for (const bytes of sizes)
        Object.assign(metrics, await cell(plan, session, tool, mode, bytes))
    }
    return metrics
  })
  for (const name of comparison.names) {
    for (const mode of MODES) {
      for (const bytes of sizes) {
        const key = `${mode}.${bytes}`
        figures.set(`C2.${name}.${key}.mbps`, med(comparison, name, `${key}.mbps`))
        figures.set(`C2.${name}.${key}.p50`, med(comparison, name, `${key}.p50`))
        figures.set(`C2.${name}.${key}.addedP50`, medDiff(comparison, name, 'direct', `${key}.p50`))
      }
    }
  }
  const tables: Table[] = MODES.flatMap((mode) => [
    pointTable(`${mode.toUpperCase()}: MB/s`, comparison.names, sizes, formatBytes, (n, b) =>
      formatRate(med(comparison, n, `${mode}.${b}.mbps`)),
    ),
    pointTable(
      `${mode.toUpperCase()}: p50 (added vs direct)`,
      comparison.names,
      sizes,
      formatBytes,
      (n, b) => {
        const p50 = formatUs(med(comparison, n, `${mode}.${b}.p50`))
        if (n === 'direct') return p50
        return `${p50} (${formatSignedUs(medDiff(comparison, n, 'direct', `${mode}.${b}.p50`))})`
      },
    ),
  ])
  const notes = [
    ...skippedNotes(comparison),
    ...answeredAs(comparison, sizes),
    ...errorNotes(comparison, 'calls'),
  ]
  return {
    id: 'C2',
    title: 'cost curve: answer size (1 KB → 10 MB), JSON and SSE',
    method:
      "One session per contender calls the fixture's `size` tool (a text result of N bytes, N = 10^3 … 10^7; with `sse: true` the fixture sends the same JSON-RPC answer as one `text/event-stream` event) closed-loop, one call at a time: " +
      `${timing(plan, 'per size and mode')}, medians. MB/s = N ÷ the mean answer time, in 10^6 bytes (N counts the result's text, not the JSON-RPC envelope). ` +
      '"added" = contender p50 − direct p50 in the same round, then the median. At 10 MB a cell holds only a few dozen answers, so its p50 is coarse.',
    charts: [
      {
        file: 'c2-throughput.svg',
        alt: 'C2: MB/s against answer size, JSON and SSE',
        svg: lineChart({
          title: 'Throughput, one session: JSON (solid), SSE (dashed)',
          xLabel: 'answer size (log scale)',
          yLabel: 'MB/s',
          xLog: true,
          formatX: formatBytes,
          formatY: (y) => String(y),
          series: MODES.flatMap((mode) =>
            seriesOf(comparison, sizes, (b) => `${mode}.${b}.mbps`, {
              suffix: ` ${mode.toUpperCase()}`,
              dashed: mode === 'sse',
            }),
          ),
        }),
      },
      {
        file: 'c2-added.svg',
        alt: 'C2: p50 added to direct against answer size, JSON and SSE',
        svg: lineChart({
          title: 'p50 added to direct: JSON (solid), SSE (dashed)',
          xLabel: 'answer size (log scale)',
          yLabel: 'added p50',
          xLog: true,
          formatX: formatBytes,
          formatY: formatMs,
          series: MODES.flatMap((mode) =>
            seriesOf(
              { ...comparison, names: comparison.names.filter((n) => n !== 'direct') },
              sizes,
              (b) => `${mode}.${b}.p50`,
              {
                suffix: ` ${mode.toUpperCase()}`,
                dashed: mode === 'sse',
                value: (n, b) => medDiff(comparison, n, 'direct', `${mode}.${b}.p50`),
              },
            ),
          ),
        }),
      },
    ],
    tables,
    notes,
  }
}

async function cell(
  plan: Plan,
  session: Session,
  tool: string,
  mode: Mode,
  bytes: number,
): Promise<Metrics> {
  let sse = 0
  const call = async () => {
    const answer = await session.call(tool, distinct(), { bytes, sse: mode === 'sse' })
    if (answer.contentType === 'text/event-stream') sse++
  }
  await closedLoop([session], call, 0, plan.warmupMs)
  sse = 0
  const load = await closedLoop([session], call, 0, plan.durationMs)
  const summary = summarize(load.latenciesUs)
  // One call at a time, so the session's throughput is N over the mean answer time (answers
  // per second of the cell would count whole answers only: 10 MB ones come a few per second).
  const busySeconds = load.latenciesUs.reduce((sum, us) => sum + us, 0) / 1e6
  const key = `${mode}.${bytes}`
  return {
    [`${key}.p50`]: summary.p50,
    [`${key}.p99`]: summary.p99,
    [`${key}.mbps`]: busySeconds > 0 ? (bytes * load.requests) / busySeconds / 1e6 : Number.NaN,
    [`${key}.errors`]: load.errors,
    // Share of answers that reached the client as SSE (a proxy may turn one into the other).
    [`${key}.sse`]: sse / Math.max(1, load.requests),
  }
}

/** How each contender's answers reached the client in each mode (a proxy may convert them). */
function answeredAs(comparison: Comparison, sizes: readonly number[]): string[] {
  return comparison.names.map((name) => {
    const modes = MODES.map((mode) => {
      const shares = sizes.map((b) => med(comparison, name, `${mode}.${b}.sse`))
      const as = shares.every((s) => s > 0.99)
        ? 'SSE'
        : shares.every((s) => s < 0.01)
          ? 'JSON'
          : 'mixed'
      return `${mode.toUpperCase()} asked → ${as}`
    })
    return `${name} answered: ${modes.join(', ')}`
  })
}

function formatRate(mbps: number): string {
  if (!Number.isFinite(mbps)) return '—'
  return mbps >= 10 ? mbps.toFixed(0) : mbps.toFixed(2)
}
