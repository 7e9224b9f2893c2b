/** `portico check`, declared: its options; what it does is ../check.ts, loaded when it runs. */
import type { Command } from 'commander'
import { onlyOnce } from '../only-once.ts'
import { addMcpProxyFlags } from './run.ts'

export function registerCheck(program: Command): void {
  const check = program
    .command('check')
    .alias('validate')
    .argument('[config]', 'TOML config file (same as --config)')
    .description('Validate a config file and print every problem (alias: validate, as in mcpr)')
    .option(
      '-c, --config <file>',
      'TOML config file (default ./portico.toml, else ./mcpr.toml)',
      onlyOnce('--config'),
    )
    .option(
      '--dump',
      'when valid, print the effective config as JSON, secrets redacted (mcpr: validate --dump)',
    )
    .action(async (file: string | undefined, flags: { config?: string; dump?: boolean }) => {
      const { checkConfig } = await import('../check.ts')
      checkConfig(file, flags)
    })
  addMcpProxyFlags(check)
}
