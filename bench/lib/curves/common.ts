/**
 * What the cost curves (C1–C4) share: the gateway as a contender in front of one HTTP
 * upstream, a stable colour per contender across charts, and per-point tables.
 */
import type { Series } from '../chart.ts'
import { type Comparison, compare, type Metrics, med } from '../compare.ts'
import { type Launcher, porticoGateway, type Running, startFixture } from '../contenders.ts'
import type { Table } from '../report.ts'
import { type Loaded, loadTarget, type Plan, unload } from '../scenarios.ts'

/** The gateway with one HTTP backend `fx` (tools called `fx__echo`) in front of `upstream`. */
export function httpGateway(label: string, what: string, proxy: readonly string[] = []): Launcher {
  return {
    name: label,
    what,
    start: (upstream) =>
      porticoGateway([{ name: 'fx', url: upstream }], label, undefined, proxy).start(''),
  }
}

/**
 * The contenders side by side in front of one fresh HTTP fixture, each with `sessions` open
 * sessions, in rotated rounds (compare.ts).
 */
export async function compareOnFixture(
  plan: Plan,
  launchers: readonly Launcher[],
  sessions: number,
  measure: (loaded: Loaded, running: Running) => Promise<Metrics>,
): Promise<Comparison> {
  const fixture = await startFixture()
  try {
    return await compare<Loaded>({
      launchers,
      upstream: fixture.url,
      rounds: plan.rounds,
      log: plan.log,
      prepare: (running) => loadTarget(running, sessions),
      measure,
      cleanup: unload,
    })
  } finally {
    await fixture.stop()
  }
}

/** The palette slot of each contender, so a contender has one colour in every chart. */
const COLOURS: Record<string, number> = {
  direct: 6,
  nginx: 5,
  'bare-node': 2,
  portico: 0,
  'portico-gateway': 1,
  'portico-gateway-nocache': 3,
}

export function colourOf(name: string): number {
  return COLOURS[name] ?? 4
}

/**
 * One series per contender over the x points: y is the median over rounds of `key(x)`, or
 * whatever `value` returns for it.
 */
export function seriesOf(
  comparison: Comparison,
  xs: readonly number[],
  key: (x: number) => string,
  options: { suffix?: string; dashed?: boolean; value?: (name: string, x: number) => number } = {},
): Series[] {
  return comparison.names.map((name) => ({
    name: `${name}${options.suffix ?? ''}`,
    colour: colourOf(name),
    dashed: options.dashed === true,
    points: xs.map((x) => [x, options.value?.(name, x) ?? med(comparison, name, key(x))] as const),
  }))
}

/**
 * A table with one row per contender and one column per x point (`formatX` names the
 * column); `cell` gives each value already formatted.
 */
export function pointTable(
  first: string,
  names: readonly string[],
  xs: readonly number[],
  formatX: (x: number) => string,
  cell: (name: string, x: number) => string,
): Table {
  return {
    columns: [first, ...xs.map(formatX)],
    rows: names.map((name) => [name, ...xs.map((x) => cell(name, x))]),
  }
}

/** `10`, `1,000`, `10,000`: the session and concurrency axes. */
export function formatInt(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

/** Payload sizes in decimal units, as the issue names them: `1 KB`, `100 KB`, `10 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${bytes / 1e6} MB`
  if (bytes >= 1e3) return `${bytes / 1e3} KB`
  return `${bytes} B`
}

/** Axis labels for latencies held in µs. */
export function formatMs(us: number): string {
  return us === 0 ? '0' : `${Number((us / 1000).toPrecision(3))} ms`
}

/**
 * RSS series in MB (2^20 bytes, as S6 and formatMb count): the chart's round ticks then fall
 * on round megabytes rather than on round byte counts.
 */
export function rssSeries(comparison: Comparison, xs: readonly number[]): Series[] {
  return seriesOf(comparison, xs, (x) => `${x}.rss`, {
    value: (name, x) => med(comparison, name, `${x}.rss`) / 2 ** 20,
  })
}

export function formatMbAxis(mb: number): string {
  return `${mb} MB`
}

/** "250 ms warm-up + 1000 ms per level, 3 rotated rounds": how long each point was measured. */
export function timing(plan: Plan, per: string): string {
  const rounds = `${plan.rounds} rotated round${plan.rounds === 1 ? '' : 's'}`
  return `${plan.warmupMs} ms warm-up + ${plan.durationMs} ms ${per}, ${rounds}`
}

/** A note per contender whose calls failed: the sum over rounds of the keys ending in `errors`. */
export function errorNotes(comparison: Comparison, what: string): string[] {
  return comparison.names.flatMap((name) => {
    let errors = 0
    for (const metrics of comparison.rounds.get(name) ?? []) {
      for (const [key, value] of Object.entries(metrics)) {
        if (/errors$/i.test(key)) errors += value
      }
    }
    return errors > 0 ? [`${name}: ${errors} failed ${what}`] : []
  })
}
