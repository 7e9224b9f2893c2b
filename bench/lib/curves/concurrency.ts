/**
 * C4: where each contender saturates. Small `tools/call` closed-loop at 1 to 64 concurrent
 * sessions; req/s climbs until the proxy (or, for direct, the fixture) has used up the
 * machine, then flattens while p99 keeps growing.
 */
import { lineChart } from '../chart.ts'
import { med } from '../compare.ts'
import type { Launcher } from '../contenders.ts'
import type { Section, Table } from '../report.ts'
import { cells, type Figures, type Plan, skippedNotes } from '../scenarios.ts'
import { formatCount, formatUs } from '../stats.ts'
import {
  compareOnFixture,
  errorNotes,
  formatInt,
  formatMs,
  pointTable,
  seriesOf,
  timing,
} from './common.ts'

/** A level within this share of the peak req/s counts as saturated. */
const SATURATED = 0.9

export async function c4(plan: Plan, launchers: Launcher[], figures: Figures): Promise<Section> {
  const levels = plan.quick ? [1, 4, 16] : [1, 2, 4, 8, 16, 32, 64]
  const comparison = await compareOnFixture(
    plan,
    launchers,
    Math.max(...levels),
    (loaded, running) => cells(plan, loaded, running, levels, 'echo'),
  )
  const col = (c: number) => `c=${c}`
  const saturation: Table = {
    columns: ['contender', 'peak req/s', 'at', 'saturates at', 'p99 there'],
    rows: [],
  }
  for (const name of comparison.names) {
    const rps = levels.map((c) => med(comparison, name, `c${c}.rps`))
    const peak = Math.max(...rps.filter(Number.isFinite))
    const knee = levels[rps.findIndex((r) => r >= SATURATED * peak)] ?? Number.NaN
    const peakAt = levels[rps.indexOf(peak)] ?? Number.NaN
    for (const c of levels) {
      for (const key of ['rps', 'p50', 'p99', 'cpu'])
        figures.set(`C4.${name}.c${c}.${key}`, med(comparison, name, `c${c}.${key}`))
    }
    figures.set(`C4.${name}.peakRps`, peak)
    figures.set(`C4.${name}.knee`, knee)
    saturation.rows.push([
      name,
      formatCount(peak),
      col(peakAt),
      col(knee),
      formatUs(med(comparison, name, `c${knee}.p99`)),
    ])
  }
  return {
    id: 'C4',
    title: 'cost curve: concurrency (1 → 64 sessions), where each contender saturates',
    method:
      `\`tools/call echo\` (small, distinct arguments) closed-loop at ${levels.join(', ')} concurrent sessions, ${timing(plan, 'per level')}, medians. ` +
      `"saturates at" = the lowest concurrency whose req/s is within ${Math.round((1 - SATURATED) * 100)} % of the contender's peak: past it more sessions only queue (p99 grows, req/s does not). ` +
      'Client, fixture and proxy share the 2 cores, so the knee is where the three together use up the machine, not the proxy alone; compare the contenders with each other.',
    charts: [
      {
        file: 'c4-rps.svg',
        alt: 'C4: requests per second against concurrent sessions',
        svg: lineChart({
          title: 'Throughput against concurrent sessions',
          xLabel: 'concurrent sessions (log scale)',
          yLabel: 'req/s',
          xLog: true,
          formatX: formatInt,
          formatY: formatInt,
          series: seriesOf(comparison, levels, (c) => `c${c}.rps`),
        }),
      },
      {
        file: 'c4-p99.svg',
        alt: 'C4: p99 latency against concurrent sessions',
        svg: lineChart({
          title: 'p99 against concurrent sessions',
          xLabel: 'concurrent sessions (log scale)',
          yLabel: 'p99',
          xLog: true,
          formatX: formatInt,
          formatY: formatMs,
          series: seriesOf(comparison, levels, (c) => `c${c}.p99`),
        }),
      },
    ],
    tables: [
      saturation,
      pointTable('req/s', comparison.names, levels, col, (n, c) =>
        formatCount(med(comparison, n, `c${c}.rps`)),
      ),
      pointTable('p99', comparison.names, levels, col, (n, c) =>
        formatUs(med(comparison, n, `c${c}.p99`)),
      ),
      pointTable('proxy CPU/req', comparison.names, levels, col, (n, c) =>
        formatUs(med(comparison, n, `c${c}.cpu`)),
      ),
    ],
    notes: [...skippedNotes(comparison), ...errorNotes(comparison, 'calls')],
  }
}
