/** `portico status`, declared: its options; what it does is ../status.ts, loaded when it runs. */
import type { Command } from 'commander'
import { addSince, addStoreOptions, type WindowFlags } from '../store-options.ts'

export function registerStatus(program: Command): void {
  const command = program
    .command('status')
    .description('Requests, error rate, sessions, and latency per tool, resource and prompt')
  addSince(addStoreOptions(command), '1h').action(async (flags: WindowFlags) => {
    const { printStatus } = await import('../status.ts')
    await printStatus(flags)
  })
}
