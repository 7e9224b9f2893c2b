/**
 * `portico demo`: starts the bundled demo MCP server on a free port with Portico in front,
 * and prints the URL and what to try next. The README's first command.
 */
import type { Command } from 'commander'
import { Logger } from '../observe/logger.ts'
import { createPortico } from '../portico.ts'
import { intOption } from './errors.ts'
import { closeOnSignal, listenOrExplain } from './run.ts'

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Run Portico in front of a bundled demo MCP server')
    .option(
      '--port <n>',
      'port for Portico (default 3000; 0 picks a free one)',
      intOption('--port'),
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--db <path>', 'path of the observability store')
    .action(async (flags: { port?: number; host: string; db?: string }) => {
      // Loaded on demand: the MCP SDK behind the demo server costs `portico run` ~15 MB RSS
      // and ~0.3 s of start-up when imported eagerly.
      const { startDemoServer } = await import('../demo/server.ts')
      const demo = await startDemoServer({ host: '127.0.0.1', port: 0 })
      const logger = new Logger({ level: 'info' })
      const portico = createPortico(
        {
          upstream: demo.url,
          host: flags.host,
          port: flags.port ?? 3000,
          name: 'demo',
          access_log: true,
          ...(flags.db ? { store: { path: flags.db } } : {}),
        },
        { logger },
      )
      const url = await listenOrExplain(portico, flags.host, flags.port ?? 3000).catch(
        async (error) => {
          await demo.close()
          throw error
        },
      )
      process.stdout.write(demoBanner(url, demo.url))
      await closeOnSignal(portico, logger, () => demo.close())
    })
}

function demoBanner(url: string, upstream: string): string {
  return `Portico listening on ${url} (upstream ${upstream}, the bundled demo server)

Try it:
  npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list
  npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/call --tool-name add --tool-arg a=2 --tool-arg b=3
  curl -s ${url.replace(/\/mcp$/, '/healthz')}

Each exchange is printed below. Press Ctrl+C to stop.
`
}
