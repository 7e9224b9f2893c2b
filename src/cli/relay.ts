/**
 * `portico relay` (declared in commands/relay.ts): runs the tunnel relay (src/relay/) until
 * SIGTERM/SIGINT. Settings come from `[relay]` in the config file, mcpr's `MCPR_RELAY_*`
 * variables and the flags.
 */
import { existsSync } from 'node:fs'
import { ConfigError, loadConfig } from '../config/load.ts'
import { LOG_LEVEL_NAMES, Logger, logLevelOf } from '../observe/logger.ts'
import { RelayAuth } from '../relay/auth.ts'
import { Relay } from '../relay/server.ts'
import { relaySettings } from '../relay/settings.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { listenFailure, UserError } from './errors.ts'
import { releaseYoungGeneration } from './start-memory.ts'

export interface RelayCommandFlags {
  config?: string
  domain?: string
  host?: string
  port?: number
  logLevel?: string
}

/**
 * mcpr's `relay stop` and `relay status` signalled or read its relay lock file; Portico keeps
 * none (its process belongs to the supervisor that started it, as `proxy stop` says): each
 * exits 2 saying what to do instead, rather than reading the word as a config file.
 */
const RELAY_LIFECYCLE: Readonly<Record<string, string>> = lookupTable({
  stop: "relay stop: Portico keeps no lock files (mcpr's ~/.mcpr/relay/lock): stop the relay where it runs (systemctl stop, docker stop, Ctrl-C) or send SIGTERM to its pid; it ends its tunnels and exits",
  status:
    "relay status: Portico keeps no lock files (mcpr's ~/.mcpr/relay/lock): ask the supervisor (systemctl status, docker ps), or the relay itself: GET /healthz on its bare domain says its tunnels and sockets",
})

/** `portico relay [config]`, or mcpr's `relay run [config]`: one config file at most. */
export async function relayCommand(words: string[], flags: RelayCommandFlags): Promise<void> {
  const lifecycle = words.length === 1 ? RELAY_LIFECYCLE[words[0] as string] : undefined
  if (lifecycle !== undefined && !existsSync(words[0] as string)) throw new UserError(lifecycle, 2)
  // mcpr spells it `mcpr relay run [CONFIG]`.
  const files = words[0] === 'run' ? words.slice(1) : words
  if (files.length > 1) throw new UserError(`unexpected arguments: ${files.join(' ')}`, 2)
  const file = files[0]
  if (file !== undefined && flags.config !== undefined && file !== flags.config) {
    throw new UserError(`two config files: ${file} and --config ${flags.config}`, 2)
  }
  await runRelay(file === undefined ? flags : { ...flags, config: file })
}

async function runRelay(flags: RelayCommandFlags): Promise<void> {
  let fromFile: ReturnType<typeof loadConfig>['config']['relay']
  try {
    fromFile = loadConfig({ ...(flags.config ? { file: flags.config } : {}), relay: true }).config
      .relay
  } catch (error) {
    if (error instanceof ConfigError)
      throw new UserError(`invalid configuration:\n${error.message}`, 2)
    throw error
  }
  let settings: ReturnType<typeof relaySettings>
  try {
    settings = relaySettings(fromFile, process.env, {
      ...(flags.domain === undefined ? {} : { domain: flags.domain }),
      ...(flags.host === undefined ? {} : { host: flags.host }),
      ...(flags.port === undefined ? {} : { port: flags.port }),
    })
  } catch (error) {
    throw new UserError(`invalid relay configuration:\n${(error as Error).message}`, 2)
  }
  const level = logLevelOf(flags.logLevel ?? 'info')
  if (level === undefined)
    throw new UserError(`--log-level: expected ${LOG_LEVEL_NAMES.join(', ')}`, 2)
  const logger = new Logger({ level })
  const relay = new Relay({ ...settings, auth: new RelayAuth(settings.auth), logger })
  let address: Awaited<ReturnType<Relay['listen']>>
  try {
    address = await relay.listen()
  } catch (error) {
    throw listenFailure(error, 'listen address') ?? error
  }
  const { config, auth } = settings
  releaseYoungGeneration()
  process.stdout.write(
    `Portico relay listening on ${address.url} (tunnels at ${config.public_scheme}://<subdomain>.${config.domain}, auth: ${auth.mode})\n`,
  )
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info(`received ${signal}, closing tunnels`)
      void relay.close(config.drain_timeout).finally(resolve)
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}
