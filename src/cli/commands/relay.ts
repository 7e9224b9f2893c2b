/** `portico relay`, declared: its options; what it does is ../relay.ts, loaded when it runs. */
import type { Command } from 'commander'
import { portOption } from '../errors.ts'
import { ignoreHangups } from '../hangup.ts'
import { onlyOnce } from '../only-once.ts'
import { keepServingWithoutReaders } from '../pipes.ts'
import type { RelayCommandFlags } from '../relay.ts'

export function registerRelay(program: Command): void {
  program
    .command('relay')
    .description('Run a tunnel relay: serve Portico tunnels at <subdomain>.<domain>')
    .argument('[config...]', "TOML config file; mcpr's `relay run [CONFIG]` works too")
    .option('-c, --config <file>', 'TOML config file with a [relay] table', onlyOnce('--config'))
    .option('--domain <domain>', 'tunnels are served at <subdomain>.<domain>')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option(
      '--port <n>',
      'port to listen on (default 8080; 0 picks a free one)',
      portOption('--port'),
    )
    .option('--log-level <level>', 'debug, info, warn, error or silent')
    .action(async (words: string[], flags: RelayCommandFlags) => {
      keepServingWithoutReaders()
      ignoreHangups('the relay')
      const { relayCommand } = await import('../relay.ts')
      await relayCommand(words, flags)
    })
}
