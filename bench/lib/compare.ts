/**
 * Side-by-side comparison: start every contender of a scenario once, then run rounds in
 * which each contender takes its turn (the order rotates every round), so slow drifts of a
 * shared, noisy machine hit every contender alike. Figures are medians over rounds.
 */
import { type Launcher, type Running, Skip } from './contenders.ts'
import { median, ratio } from './stats.ts'

export type Metrics = Record<string, number>

export interface Comparison {
  /** Contenders that ran, in launch order. */
  names: string[]
  /** Per contender, one Metrics per round. */
  rounds: Map<string, Metrics[]>
  skipped: Array<{ name: string; reason: string }>
}

export interface CompareOptions<C> {
  launchers: readonly Launcher[]
  upstream: string
  rounds: number
  log: (line: string) => void
  prepare: (running: Running) => Promise<C>
  measure: (context: C, running: Running, round: number) => Promise<Metrics>
  cleanup?: (context: C) => Promise<void>
  /** Runs after the rounds, while every contender still runs (e.g. loading them at once). */
  after?: (active: ReadonlyArray<{ running: Running; context: C }>) => Promise<void>
}

export async function compare<C>(options: CompareOptions<C>): Promise<Comparison> {
  const active: Array<{ running: Running; context: C }> = []
  const skipped: Comparison['skipped'] = []
  try {
    for (const launcher of options.launchers) {
      try {
        const running = await launcher.start(options.upstream)
        active.push({ running, context: await options.prepare(running) })
      } catch (error) {
        const reason = error instanceof Skip ? error.message : `failed: ${String(error)}`
        options.log(`  skipped ${launcher.name}: ${reason}`)
        skipped.push({ name: launcher.name, reason })
      }
    }
    const rounds = new Map<string, Metrics[]>(active.map((a) => [a.running.name, []]))
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < active.length; i++) {
        const entry = active[(i + round) % active.length] as (typeof active)[number]
        const metrics = await options.measure(entry.context, entry.running, round)
        rounds.get(entry.running.name)?.push(metrics)
      }
      options.log(`  round ${round + 1}/${options.rounds} done`)
    }
    await options.after?.(active)
    return { names: active.map((a) => a.running.name), rounds, skipped }
  } finally {
    for (const entry of active) {
      await options.cleanup?.(entry.context).catch(() => undefined)
      await entry.running.stop()
    }
  }
}

/** Median over rounds of one metric of one contender. */
export function med(comparison: Comparison, name: string, key: string): number {
  return median((comparison.rounds.get(name) ?? []).map((m) => m[key] ?? Number.NaN))
}

/**
 * Median over rounds of (contender − baseline) for one metric, each difference taken within
 * the same round, so a round that was slow for everyone does not skew the difference.
 */
export function medDiff(
  comparison: Comparison,
  name: string,
  baseline: string,
  key: string,
): number {
  return median(roundDiffs(comparison, name, baseline, key))
}

/**
 * The largest per-round (contender − baseline) of one metric: for a target that must hold in
 * every round, not only in the median one. NaN when no round has both figures.
 */
export function maxDiff(
  comparison: Comparison,
  name: string,
  baseline: string,
  key: string,
): number {
  const diffs = roundDiffs(comparison, name, baseline, key).filter(Number.isFinite)
  return diffs.length === 0 ? Number.NaN : Math.max(...diffs)
}

/**
 * Median over rounds of contender ÷ baseline for one metric, each ratio taken within the same
 * round (as `medDiff` does for differences).
 */
export function medRatio(
  comparison: Comparison,
  name: string,
  baseline: string,
  key: string,
): number {
  return median(roundRatios(comparison, name, baseline, key))
}

/** Contender ÷ baseline per round, for the rounds where both have the metric. */
export function roundRatios(
  comparison: Comparison,
  name: string,
  baseline: string,
  key: string,
): number[] {
  return perRound(comparison, name, baseline, key, ratio).filter(Number.isFinite)
}

function roundDiffs(comparison: Comparison, name: string, baseline: string, key: string): number[] {
  return perRound(comparison, name, baseline, key, (a, b) => a - b)
}

/** `combine(contender, baseline)` of one metric in each round (NaN where either lacks it). */
function perRound(
  comparison: Comparison,
  name: string,
  baseline: string,
  key: string,
  combine: (mine: number, theirs: number) => number,
): number[] {
  const mine = comparison.rounds.get(name) ?? []
  const theirs = comparison.rounds.get(baseline) ?? []
  return mine.map((m, i) => combine(m[key] ?? Number.NaN, theirs[i]?.[key] ?? Number.NaN))
}
