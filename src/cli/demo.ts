/**
 * `portico demo` (declared in commands/demo.ts): starts the bundled demo MCP server on a free
 * port with Portico in front, and prints the URL and what to try next. The README's first
 * command.
 */
import { type Config, parseConfig } from '../config/schema.ts'
import { Logger } from '../observe/logger.ts'
import { createPortico } from '../portico.ts'
import { UserError } from './errors.ts'
import { releaseHangups } from './hangup.ts'
import { checkHostFlag } from './host-flag.ts'
import { closeOnSignal, listenOrExplain, openRecording, reloadOnHangup } from './run.ts'
import { releaseYoungGeneration } from './start-memory.ts'

export interface DemoFlags {
  port?: number
  host: string
  db?: string
}

export async function runDemo(flags: DemoFlags): Promise<void> {
  const { startDemoServer } = await loadDemoServer()
  const port = flags.port ?? portFromEnv(process.env.PORTICO_PORT) ?? 3000
  // Checked before the demo server listens: a usage error, not a stack trace and a process
  // the demo server's listener kept alive.
  const host = checkHostFlag(flags.host)
  const demo = await startDemoServer({ host: '127.0.0.1', port: 0 })
  const logger = new Logger({ level: 'info' })
  let config: Config
  let store: ReturnType<typeof openRecording>
  try {
    config = parseConfig({
      upstream: demo.url,
      host,
      port,
      name: 'demo',
      access_log: true,
      store: { path: flags.db || process.env.PORTICO_DB || undefined },
    })
    store = openRecording(config, 'demo', logger)
  } catch (error) {
    // The demo server listens already: left open, the process never exited after the error.
    await demo.close()
    throw error
  }
  const portico = createPortico(config, { logger, sinks: store ? [store.sink] : [] })
  reloadOnHangup(portico, logger)
  const url = await listenOrExplain(portico, config).catch(async (error) => {
    await store?.sink.close()
    await demo.close()
    throw error
  })
  releaseYoungGeneration()
  process.stdout.write(demoBanner(url, demo.url, store?.path))
  releaseHangups(logger)
  await closeOnSignal(portico, logger, () => demo.close())
}

/** `PORTICO_PORT`, as `portico run` reads it; an invalid value is a usage error. */
function portFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`PORTICO_PORT: expected a port number (0-65535), got "${value}"`, 2)
  }
  return port
}

/**
 * The demo runs from a clone (`npm start`), where `portico` is not on the PATH: `npx portico`
 * runs the clone's own command.
 */
function demoBanner(url: string, upstream: string, storePath?: string): string {
  const db = storePath ? ` --db ${storePath}` : ''
  return `Portico listening on ${url} (upstream ${upstream}, the bundled demo server)

Try it:
  npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list
  npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/call --tool-name add --tool-arg a=2 --tool-arg b=3
  curl -s ${url.replace(/\/mcp$/, '/healthz')}

Then see what happened (recorded to ${storePath ?? 'nowhere: store disabled'}), from this folder:
  npx portico status${db}    npx portico logs${db}    npx portico sessions${db}

Each exchange is printed below. Press Ctrl+C to stop.
`
}

/**
 * The demo server lives in the repository (demo/server.ts), not in the published package: it is
 * the only code that needs the MCP SDK, which the proxy itself does not.
 */
async function loadDemoServer(): Promise<typeof import('../../demo/server.ts')> {
  try {
    return await import('../../demo/server.ts')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ERR_MODULE_NOT_FOUND') throw error
    throw new UserError(
      'the demo server ships with the repository, not the package: run `npm start` in a clone, or `portico run --upstream URL` in front of your own server',
    )
  }
}
