/** `portico session`, declared: its options; what it does is ../session.ts, loaded when it runs. */
import type { Command } from 'commander'
import { addStoreOptions, type StoreFlags } from '../store-options.ts'

export function registerSession(program: Command): void {
  const command = program
    .command('session')
    .description('One session: its client and every exchange in order, with timing')
    .argument('<id-prefix>', 'session id or its first characters')
  addStoreOptions(command).action(async (prefix: string, flags: StoreFlags) => {
    const { printSession } = await import('../session.ts')
    await printSession(prefix, flags)
  })
}
