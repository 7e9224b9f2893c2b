/**
 * `portico dashboard` (declared in commands/dashboard.ts): serves the dashboard and studio over
 * a store, on loopback, and prints the URL (it opens nothing). Runs until SIGINT/SIGTERM.
 */
import { isLoopbackHost } from '../config/operate.ts'
import { startDashboard } from '../dashboard/standalone.ts'
import { FollowedStore } from '../store/followed.ts'
import { listenFailure, UserError } from './errors.ts'
import { releaseYoungGeneration } from './start-memory.ts'
import { openForReading, storePathOf } from './store-access.ts'
import type { StoreFlags } from './store-options.ts'

export interface DashboardFlags extends Pick<StoreFlags, 'db' | 'config'> {
  /** `--port`, else the default the declaration names in its help. */
  port: number
  host?: string
  mcpUrl?: string
}

export async function serveDashboard(flags: DashboardFlags): Promise<void> {
  const host = flags.host ?? '127.0.0.1'
  if (!isLoopbackHost(host)) {
    throw new UserError(
      `--host ${host}: the dashboard shows every recorded call and has no credential of its own; it listens on loopback only (serve it from a proxy with [dashboard] and an admin token instead)`,
      2,
    )
  }
  const path = await storePathOf(flags)
  // Followed: a store deleted (the proxy starts a new one) or replaced while the dashboard
  // runs is opened again, instead of showing the old file's rows for ever.
  const store = new FollowedStore(path, openForReading, openForReading(path))
  let running: Awaited<ReturnType<typeof startDashboard>>
  try {
    running = await startDashboard({
      store: () => store.get(),
      host,
      port: flags.port,
      ...(flags.mcpUrl === undefined ? {} : { mcpUrl: flags.mcpUrl }),
    })
  } catch (error) {
    store.close()
    throw (
      listenFailure(error, 'listen address') ??
      new UserError(`cannot listen on ${host}:${flags.port}: ${(error as Error).message}`)
    )
  }
  releaseYoungGeneration()
  process.stdout.write(`Portico dashboard on ${running.url} (store ${path})\n`)
  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await running.close()
  store.close()
}
