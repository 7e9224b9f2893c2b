/** `portico import`, declared: its options; what it does is ../import.ts, loaded when it runs. */
import type { Command } from 'commander'
import type { ImportFlags } from '../import.ts'

export function registerImport(program: Command): void {
  program
    .command('import')
    .argument(
      '<file>',
      'an MCP client config (claude_desktop_config.json, .mcp.json, mcp.json, Codex config.toml, Continue config.yaml, …) or mcpr.toml',
    )
    .description(
      'Write a commented portico.toml from an MCP client config (each server a backend) or an mcpr.toml',
    )
    .option('-o, --output <file>', 'where to write ("-" for stdout)', 'portico.toml')
    .option('--force', 'replace the output file if it exists')
    .option(
      '--project <path>',
      "Claude Code's ~/.claude.json: that project's servers too (its local scope)",
    )
    .action(async (file: string, flags: ImportFlags) => {
      const { importConfig } = await import('../import.ts')
      await importConfig(file, flags)
    })
}
