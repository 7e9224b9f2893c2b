/** `portico clients`, declared: its options; what it does is ../clients.ts, loaded when it runs. */
import type { Command } from 'commander'
import { addSince, addStoreOptions, type WindowFlags } from '../store-options.ts'

export function registerClients(program: Command): void {
  const command = program
    .command('clients')
    .description('AI clients seen in the window (name, version, platform), busiest first')
  addSince(addStoreOptions(command), '7d').action(async (flags: WindowFlags) => {
    const { printClients } = await import('../clients.ts')
    await printClients(flags)
  })
}
