/** `portico slow`, declared: its options; what it does is ../slow.ts, loaded when it runs. */
import type { Command } from 'commander'
import { intOption } from '../errors.ts'
import type { SlowFlags } from '../slow.ts'
import { addSince, addStoreOptions, durationOption } from '../store-options.ts'

export function registerSlow(program: Command): void {
  const command = program
    .command('slow')
    .description('Requests slower than a threshold, slowest first')
    .option(
      '--threshold <duration>',
      'latency threshold (default 500ms)',
      durationOption('--threshold', true),
    )
    .option('--tool <name>', 'only calls of this tool')
    .option('--limit <n>', 'rows to show (default 20)', intOption('--limit'))
    .option('-f, --follow', 'then print the calls above the threshold as they come (mcpr: slow -f)')
  addSince(addStoreOptions(command), '1h').action(async (flags: SlowFlags) => {
    const { printSlow } = await import('../slow.ts')
    await printSlow(flags)
  })
}
