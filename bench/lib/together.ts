/**
 * Contenders loaded at the same time, each with its own sessions: every instant of a shared
 * machine's noise weighs on all of them, where measuring one after the other leaves each to
 * its own moments (rounds of S8 and S9 spread from 0.5× to 2×; slices loaded together, under
 * 10 %: bench/reports/2026-12-01-perf2.md). Their CPU per request is the robust figure: loaded
 * together they share the cores, so each one's req/s is not what it would serve alone.
 * Used by `bench/ab.ts --together` and by S8 and S9.
 */
import { closedLoop, type Session } from './client.ts'
import { treeCpuUs } from './procs.ts'
import { median, summarize } from './stats.ts'

export interface LoadedSide {
  /** The contender's process (its tree's CPU is read), if it has one. */
  pid: number | undefined
  sessions: readonly Session[]
  call: (session: Session) => Promise<unknown>
}

export interface SliceFigures {
  /** CPU µs per request of the contender's process tree. */
  cpu: number
  rps: number
  p50: number
  p99: number
}

/** One slice of `ms` with every side loaded at once. */
export async function sliceTogether(
  sides: readonly LoadedSide[],
  ms: number,
): Promise<SliceFigures[]> {
  const cpuOf = (side: LoadedSide) => (side.pid ? treeCpuUs(side.pid) : Number.NaN)
  const before = sides.map(cpuOf)
  const results = await Promise.all(
    sides.map((side) => closedLoop(side.sessions, side.call, 0, ms)),
  )
  return results.map((result, i) => {
    const side = sides[i] as LoadedSide
    const latency = summarize(result.latenciesUs)
    return {
      cpu: (cpuOf(side) - (before[i] ?? Number.NaN)) / Math.max(1, result.requests),
      rps: result.requests / result.seconds,
      p50: latency.p50,
      p99: latency.p99,
    }
  })
}

export interface PairedRatio {
  median: number
  q1: number
  q3: number
}

/** B ÷ A slice by slice (each pair measured at the same moments): median and quartiles. */
export function pairedRatio(a: readonly number[], b: readonly number[]): PairedRatio {
  const ratios = b
    .map((value, i) => value / (a[i] ?? Number.NaN))
    .filter((r) => Number.isFinite(r))
    .sort((x, y) => x - y)
  const quartile = (q: number) => ratios[Math.floor(q * (ratios.length - 1))] ?? Number.NaN
  return { median: median(ratios), q1: quartile(0.25), q3: quartile(0.75) }
}
