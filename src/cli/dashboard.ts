/**
 * `portico dashboard`: serves the dashboard and studio over a store, on loopback, and prints
 * the URL (it opens nothing). Runs until SIGINT/SIGTERM.
 */
import type { Command } from 'commander'
import { isLoopbackHost } from '../config/operate.ts'
import { startDashboard } from '../dashboard/standalone.ts'
import { FollowedStore } from '../store/followed.ts'
import { intOption, listenFailure, UserError } from './errors.ts'
import { openForReading, type StoreFlags, storePathOf } from './store-options.ts'

const DEFAULT_PORT = 3900

interface DashboardFlags extends Pick<StoreFlags, 'db' | 'config'> {
  port?: number
  host?: string
  mcpUrl?: string
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('Serve the dashboard and studio over a store in the browser (prints the URL)')
    .option('--db <path>', 'store to read (default: PORTICO_DB, [store] path, ~/.portico/store.db)')
    .option('-c, --config <file>', 'config file naming the store (default ./portico.toml)')
    .option(
      '--port <n>',
      `port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)`,
      intOption('--port'),
    )
    .option('--host <host>', 'loopback address to listen on (default 127.0.0.1)')
    .option('--mcp-url <url>', 'MCP endpoint the studio connects to first')
    .action(async (flags: DashboardFlags) => {
      const host = flags.host ?? '127.0.0.1'
      if (!isLoopbackHost(host)) {
        throw new UserError(
          `--host ${host}: the dashboard shows every recorded call and has no credential of its own; it listens on loopback only (serve it from a proxy with [dashboard] and an admin token instead)`,
          2,
        )
      }
      const path = storePathOf(flags)
      // Followed: a store deleted (the proxy starts a new one) or replaced while the dashboard
      // runs is opened again, instead of showing the old file's rows for ever.
      const store = new FollowedStore(path, openForReading, openForReading(path))
      let running: Awaited<ReturnType<typeof startDashboard>>
      try {
        running = await startDashboard({
          store: () => store.get(),
          host,
          port: flags.port ?? DEFAULT_PORT,
          ...(flags.mcpUrl === undefined ? {} : { mcpUrl: flags.mcpUrl }),
        })
      } catch (error) {
        store.close()
        throw (
          listenFailure(error, 'listen address') ??
          new UserError(
            `cannot listen on ${host}:${flags.port ?? DEFAULT_PORT}: ${(error as Error).message}`,
          )
        )
      }
      process.stdout.write(`Portico dashboard on ${running.url} (store ${path})\n`)
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      await running.close()
      store.close()
    })
}
