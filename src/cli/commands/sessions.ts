/** `portico sessions`, declared: its options; what it does is ../sessions.ts, loaded when it runs. */
import type { Command } from 'commander'
import { intOption } from '../errors.ts'
import type { SessionsFlags } from '../sessions.ts'
import { addSince, addStoreOptions } from '../store-options.ts'

export function registerSessions(program: Command): void {
  const command = program
    .command('sessions')
    .description('Sessions seen in the window, newest first (● active, ○ ended or idle)')
    .option('--active', 'only sessions seen in the last 5 minutes and not ended')
    .option('--client <name>', 'only this client name or platform')
    .option('--limit <n>', 'rows to show (default 50)', intOption('--limit'))
  addSince(addStoreOptions(command), '24h').action(async (flags: SessionsFlags) => {
    const { printSessions } = await import('../sessions.ts')
    await printSessions(flags)
  })
}
