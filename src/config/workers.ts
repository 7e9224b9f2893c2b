/**
 * `workers`: how many processes serve the listener (`portico run` forks them with node:cluster;
 * src/cluster/). Only what keeps no per-session state in the process can be spread over
 * several: the rules here refuse, naming the key, every combination whose state would be split
 * between processes (a session opened on one worker and continued on another).
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'

/** An upper bound that catches typos (`workers = 1000`), far above any machine's cores. */
const MAX_WORKERS = 256

const expected = `expected a whole number from 1 to ${MAX_WORKERS}, or "auto" (one per core)`

export const workersSchema = z
  .union(
    [
      z.number({ error: expected }).int(expected).min(1, expected).max(MAX_WORKERS, expected),
      z.literal('auto', { error: expected }),
    ],
    { error: expected },
  )
  .default(1)
  .transform((value) => (value === 'auto' ? availableParallelism() : value))

/** What the rules read of the config. */
interface WorkersView {
  workers: number
  upstream?: string | undefined
  sse_path: string
  backends?: readonly unknown[] | undefined
  tunnel?: { enabled: boolean } | undefined
  no_tunnel?: boolean | undefined
  auth?: unknown
}

/** Why `workers > 1` cannot serve this config, one sentence per reason (none: it can). */
export function workersProblems(config: WorkersView): string[] {
  if (config.workers <= 1) return []
  const problems: string[] = []
  const why = 'must be 1'
  if ((config.backends?.length ?? 0) > 0) {
    problems.push(
      `${why} in gateway mode ([[backends]]): gateway sessions, their backend connections and stdio children live in one process; a session's next request could reach a worker that never saw it`,
    )
  }
  // `no_tunnel` (mcpr 0.1's `--no-tunnel`) serves locally only: no tunnel is opened.
  if (config.tunnel?.enabled && config.no_tunnel !== true) {
    problems.push(
      `${why} with [tunnel] enabled: the tunnel is one connection to the relay, held by one process`,
    )
  }
  if (config.auth !== undefined) {
    problems.push(
      `${why} with [auth]: the identity that owns each session is kept in the process that saw its initialize, so another worker would answer the session's next request 404`,
    )
  }
  if (config.upstream !== undefined && isLegacyStream(config.upstream, config.sse_path)) {
    problems.push(
      `${why} in front of a legacy HTTP+SSE upstream (${new URL(config.upstream).pathname}): each session's stream and the POSTs answered on it must meet in one process`,
    )
  }
  return problems
}

function isLegacyStream(upstream: string, ssePath: string): boolean {
  // The refinements run on a value its own check refused too (reported there), not only on
  // valid ones.
  if (!URL.canParse(upstream)) return false
  const path = new URL(upstream).pathname
  return path.endsWith('/sse') || path.endsWith(ssePath)
}

export function refineWorkers(config: WorkersView, ctx: z.RefinementCtx): void {
  for (const message of workersProblems(config))
    ctx.addIssue({ code: 'custom', path: ['workers'], message })
}
