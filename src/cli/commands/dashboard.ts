/**
 * `portico dashboard`, declared: its options; what it does is ../dashboard.ts, loaded when it
 * runs.
 */
import type { Command } from 'commander'
import type { DashboardFlags } from '../dashboard.ts'
import { httpUrlOption, portOption } from '../errors.ts'
import { ignoreHangups } from '../hangup.ts'
import { onlyOnce } from '../only-once.ts'
import { keepServingWithoutReaders } from '../pipes.ts'

const DEFAULT_PORT = 3900

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('Serve the dashboard and studio over a store in the browser (prints the URL)')
    .option('--db <path>', 'store to read (default: PORTICO_DB, [store] path, ~/.portico/store.db)')
    .option(
      '-c, --config <file>',
      'config file naming the store (default ./portico.toml)',
      onlyOnce('--config'),
    )
    .option(
      '--port <n>',
      `port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)`,
      portOption('--port'),
    )
    .option('--host <host>', 'loopback address to listen on (default 127.0.0.1)')
    .option(
      '--mcp-url <url>',
      'MCP endpoint the studio connects to first',
      httpUrlOption('--mcp-url'),
    )
    .action(async (flags: Omit<DashboardFlags, 'port'> & { port?: number }) => {
      keepServingWithoutReaders()
      ignoreHangups('the dashboard')
      const { serveDashboard } = await import('../dashboard.ts')
      await serveDashboard({ ...flags, port: flags.port ?? DEFAULT_PORT })
    })
}
