/**
 * `portico pins [accept]`, declared: their options; what they do is ../pins.ts, loaded when one
 * runs.
 */
import type { Command } from 'commander'
import { onlyOnce } from '../only-once.ts'
import type { PinFlags } from '../pins.ts'

export function registerPins(program: Command): void {
  const pins = program
    .command('pins')
    .description('Pinned tool definitions and the changed ones withheld from clients')
    .option(
      '-c, --config <file>',
      'TOML config file (default ./portico.toml)',
      onlyOnce('--config'),
    )
    .option('--json', 'one JSON object per pending change')
    .action(async (flags: PinFlags) => {
      const { printPins } = await import('../pins.ts')
      printPins(flags)
    })
  pins
    .command('accept [names...]')
    .description('Accept changed tool definitions (all of them with --all)')
    .option(
      '-c, --config <file>',
      'TOML config file (default ./portico.toml)',
      onlyOnce('--config'),
    )
    .option('--all', 'accept every pending change')
    .action(async (names: string[], flags: PinFlags & { all?: boolean }) => {
      const { acceptPins } = await import('../pins.ts')
      // `-c` may be parsed by `pins` itself (its own option) when given after the names.
      acceptPins(names, { ...pins.opts<PinFlags>(), ...flags })
    })
}
