/** `portico demo`, declared: its options; what it does is ../demo.ts, loaded when it runs. */
import type { Command } from 'commander'
import type { DemoFlags } from '../demo.ts'
import { portOption } from '../errors.ts'
import { holdHangups } from '../hangup.ts'
import { keepServingWithoutReaders } from '../pipes.ts'

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Run Portico in front of a bundled demo MCP server')
    .option(
      '--port <n>',
      'port for Portico (default PORTICO_PORT, else 3000; 0 picks a free one)',
      portOption('--port'),
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--db <path>', 'path of the observability store')
    .action(async (flags: DemoFlags) => {
      holdHangups()
      keepServingWithoutReaders()
      const { runDemo } = await import('../demo.ts')
      await runDemo(flags)
    })
}
