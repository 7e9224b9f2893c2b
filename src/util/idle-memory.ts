/**
 * Gives back the young generation a burst of traffic grew, once the process idles. Under load
 * V8 doubles the young generation up to 2 × 16 MB (fewer collections while requests come), and
 * it only shrinks it again at a collection that finds the allocation rate low: a proxy that
 * goes quiet after a burst makes no collection at all, so those pages stay resident for as long
 * as it idles (1,000 sessions opened at once left an idle Portico at 114–136 MB resident with
 * 18 MB of live heap). Once the process has used almost no CPU for a while, this asks V8 for a
 * young-generation collection each second until it has shrunk: V8 shrinks it at the first one
 * that finds less than 1 KB/ms allocated over its last 5 s, some 6 s into the quiet. A young
 * collection of an idle heap takes well under a millisecond, and there is none while the
 * process works, so latency under load is untouched; when traffic returns, V8 grows the young
 * generation again as usual.
 */
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'

const TICK_MS = 1000
/** A tick is quiet when the process (all its threads) used less than this share of a core. */
const QUIET_CPU_SHARE = 0.03
/** Young collections asked for in one quiet period, should V8 not shrink it after all. */
const MAX_COLLECTIONS_PER_QUIET = 12

type MinorCollect = (options: { type: 'minor' }) => void

export interface IdleTrimmer {
  stop(): void
}

export function trimYoungGenerationWhenIdle(): IdleTrimmer {
  const rested = youngGenerationSize()
  let cpu = process.cpuUsage()
  let collections = 0
  let collect: MinorCollect | undefined
  const timer = setInterval(() => {
    const used = process.cpuUsage(cpu)
    cpu = process.cpuUsage()
    if (used.user + used.system > TICK_MS * 1000 * QUIET_CPU_SHARE) {
      collections = 0 // busy: V8's own sizing is right
      return
    }
    if (collections >= MAX_COLLECTIONS_PER_QUIET || youngGenerationSize() <= rested) return
    collect ??= minorCollector()
    collect({ type: 'minor' })
    collections++
  }, TICK_MS)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}

/** Bytes the young generation holds now (its semi-spaces as V8 reports them). */
function youngGenerationSize(): number {
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space') return space.space_size
  }
  return 0
}

/**
 * V8's `gc` function without starting node with `--expose-gc`: the flag is read when a context
 * is created, so one new context built while it is set carries the function; the flag is then
 * cleared again so that no later context (a worker's, a vm's) gets a global `gc`.
 */
function minorCollector(): MinorCollect {
  const exposed = (globalThis as { gc?: MinorCollect }).gc
  if (exposed !== undefined) return exposed
  v8.setFlagsFromString('--expose-gc')
  try {
    return runInNewContext('gc') as MinorCollect
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
}
