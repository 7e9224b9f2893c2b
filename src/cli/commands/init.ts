/** `portico init`, declared: its options; what it does is ../init.ts, loaded when it runs. */
import type { Command } from 'commander'
import { portOption } from '../errors.ts'
import type { InitFlags } from '../init.ts'

export function registerInit(program: Command, name = 'init'): void {
  program
    .command(name)
    .description('Write a commented portico.toml: asks on a terminal, or takes flags (--yes)')
    .option('--upstream <url>', 'the MCP server to front (transparent mode)')
    .option(
      '--from <file>',
      'make backends of an MCP client config (claude_desktop_config.json, mcp.json)',
    )
    .option('--host <host>', 'listen address (default 127.0.0.1; 0.0.0.0 for every interface)')
    .option('--port <n>', 'listen port (default 3000)', portOption('--port'))
    .option('--db <path>', 'store path (default ~/.portico/store.db)')
    .option('--no-store', 'do not record exchanges')
    .option('--public-url <url>', 'the origin clients reach Portico at (behind a TLS proxy)')
    .option('--csp <domains>', 'widget CSP domains, comma-separated')
    .option('-o, --output <file>', 'where to write ("-" for stdout)', 'portico.toml')
    .option('--force', 'replace the output file if it exists')
    .option('-y, --yes', 'ask nothing: flags and defaults only')
    .action(async (flags: InitFlags) => {
      const { writeInitConfig } = await import('../init.ts')
      await writeInitConfig(flags)
    })
}
