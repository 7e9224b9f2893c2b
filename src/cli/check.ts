/**
 * `portico check`: validates a config file and prints every problem with its file, line and
 * key path; exits non-zero when there is any.
 */
import type { Command } from 'commander'
import { ConfigError, loadConfig } from '../config/load.ts'
import { UserError } from './errors.ts'

export function registerCheck(program: Command): void {
  program
    .command('check')
    .alias('validate')
    .argument('[config]', 'TOML config file (same as --config)')
    .description('Validate a config file and print every problem (alias: validate, as in mcpr)')
    .option('-c, --config <file>', 'TOML config file (default ./portico.toml, else ./mcpr.toml)')
    .action(async (file: string | undefined, flags: { config?: string }) => {
      if (file !== undefined && flags.config === undefined) flags.config = file
      try {
        const loaded = loadConfig(flags.config ? { file: flags.config } : {})
        for (const warning of loaded.warnings) process.stderr.write(`warning: ${warning}\n`)
        const where = loaded.file ?? '(no config file: defaults and environment only)'
        // What `portico run` would refuse when building from it (a widgets folder that is not
        // there, …): the same check, without starting anything.
        const { preflight } = await import('../portico.ts')
        const problems = preflight(loaded.config)
        if (problems.length > 0) {
          const count = problems.length
          const list = problems.map((problem) => `${where}: ${problem}`).join('\n')
          throw new UserError(`${list}\n${count} problem${count === 1 ? '' : 's'} found`, 1)
        }
        process.stdout.write(`ok: ${where} is valid\n`)
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error
        const count = error.problems.length
        throw new UserError(`${error.message}\n${count} problem${count === 1 ? '' : 's'} found`, 1)
      }
    })
}
