/** `portico logs`, declared: its options; what it does is ../logs.ts, loaded when it runs. */
import type { Command } from 'commander'
import { intOption, UserError } from '../errors.ts'
import type { LogsFlags } from '../logs.ts'
import { addSince, addStoreOptions } from '../store-options.ts'

export function registerLogs(program: Command): void {
  const command = program
    .command('logs')
    .description(
      'Recorded exchanges in time order, newest last; --follow prints new ones as they arrive',
    )
    .option('--tool <name>', 'only calls of this tool')
    .option('--method <method>', 'only this JSON-RPC method (e.g. tools/call)')
    .option('--session <prefix>', 'only this session (id prefix; all time unless --since)')
    .option('--client <name>', 'only this client name or platform (claude, cursor, …)')
    .option('--user <subject>', 'only calls of this verified caller (token subject, key name)')
    .option('--status <status>', 'ok, error, or timeout (the upstream did not answer in time)')
    .option(
      '--error-code <code>',
      'only JSON-RPC errors with this code (e.g. -32602)',
      integerOption('--error-code'),
    )
    .option('--via <where>', 'tunnel (through the tunnel) or local (everything else)')
    .option('--tail <n>', 'how many recent rows (default 50)', intOption('--tail'))
    .option('-f, --follow', 'keep printing new rows (polls every 500 ms)')
  addSince(addStoreOptions(command), '1h, or all time with --session').action(
    async (flags: LogsFlags) => {
      const { printLogs } = await import('../logs.ts')
      await printLogs(flags)
    },
  )
}

/** A signed integer flag (JSON-RPC error codes are negative). */
function integerOption(flag: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) {
      throw new UserError(`${flag}: expected an integer such as -32602, got "${value}"`, 2)
    }
    return Number(value)
  }
}
