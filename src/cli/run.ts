/**
 * `portico run` (declared in commands/run.ts): load the config (file, env, flags), start the
 * proxy, print the URL clients should use, and shut down gracefully on SIGTERM/SIGINT.
 */

import { randomBytes } from 'node:crypto'
import { configFromPrimary } from '../cluster/worker.ts'
import { ConfigError, type ConfigOverrides, type LoadedConfig, loadConfig } from '../config/load.ts'
import { proxyName } from '../config/proxy-name.ts'
import { markParsed } from '../config/schema.ts'
import { SUBDOMAIN, tunnelTokenProblem } from '../config/tunnel.ts'
import { StartupError } from '../errors.ts'
import { Logger } from '../observe/logger.ts'
import type { ListenAt, Portico } from '../portico.ts'
import { type StoreSetup, storeFor } from '../store/from-config.ts'
import type { TunnelClient } from '../tunnel/client.ts'
import { redactUrl } from '../util/redact.ts'
import { listenFailure, UserError } from './errors.ts'
import { releaseHangups } from './hangup.ts'
import { releaseYoungGeneration } from './start-memory.ts'
import { asUserError } from './store-access.ts'

export interface RunFlags {
  upstream?: string
  /** mcpr's name for `--upstream`. */
  mcp?: string
  widgets?: string
  port?: number
  host?: string
  config?: string
  db?: string
  name?: string
  logLevel?: string
  jsonLogs?: boolean
  /** The relay URL; false: `--no-tunnel` (mcpr 0.1), no tunnel even if [tunnel] enables one. */
  tunnel?: string | false
  tunnelToken?: string
  tunnelSubdomain?: string
  workers?: number | 'auto'
  /** mcpr 0.1's `--csp DOMAIN` (repeatable) and `--csp-mode`: `[csp] domains` and `mode`. */
  csp?: string[]
  cspMode?: string
}

/**
 * `portico run [config]`: one config file (the word or `--config`), one upstream (`--upstream`
 * or mcpr's `--mcp`), then the proxy until a signal stops it.
 */
export async function runProxy(file: string | undefined, flags: RunFlags): Promise<void> {
  if (file !== undefined && flags.config !== undefined && file !== flags.config) {
    throw new UserError(`two config files: ${file} and --config ${flags.config}`, 2)
  }
  if (file !== undefined) flags.config = file
  if (flags.mcp !== undefined && flags.upstream !== undefined && flags.mcp !== flags.upstream) {
    throw new UserError(`two upstreams: --upstream ${flags.upstream} and --mcp ${flags.mcp}`, 2)
  }
  // A cluster's worker serves the config its primary loaded, not the file as it is now.
  const loaded = (await configFromPrimary()) ?? loadOrExplain(flags)
  await runUntilSignalled(loaded, flags)
}

export function overridesOf(flags: RunFlags): ConfigOverrides {
  const overrides: ConfigOverrides = {}
  if (flags.upstream !== undefined) overrides.upstream = flags.upstream
  if (flags.mcp !== undefined) overrides.mcp = flags.mcp
  if (flags.widgets !== undefined) overrides.widgets = flags.widgets
  if (flags.port !== undefined) overrides.port = flags.port
  if (flags.host !== undefined) overrides.host = flags.host
  if (flags.db !== undefined) overrides.db = flags.db
  if (flags.name !== undefined) overrides.name = flags.name
  if (flags.logLevel !== undefined) overrides.logLevel = flags.logLevel
  if (flags.jsonLogs !== undefined) overrides.jsonLogs = flags.jsonLogs
  if (flags.workers !== undefined) overrides.workers = flags.workers
  if (flags.tunnel === false) overrides.noTunnel = true
  if (flags.csp !== undefined) overrides.csp = flags.csp
  if (flags.cspMode !== undefined) overrides.cspMode = flags.cspMode
  return overrides
}

export function loadOrExplain(flags: RunFlags): LoadedConfig {
  try {
    const loaded = loadConfig({
      ...(flags.config ? { file: flags.config } : {}),
      overrides: overridesOf(flags),
    })
    if (!loaded.config.upstream && !loaded.config.backends?.length) {
      throw new UserError(
        'no upstream: pass --upstream URL, set PORTICO_UPSTREAM, set `upstream` (or `mcp`), or list [[backends]] in portico.toml',
        2,
      )
    }
    return loaded
  } catch (error) {
    if (error instanceof ConfigError)
      throw new UserError(`invalid configuration:\n${error.message}`, configExitCode(error))
    throw error
  }
}

async function runUntilSignalled(loaded: LoadedConfig, flags: RunFlags): Promise<void> {
  const { config } = loaded
  // Several processes (src/cluster/): the primary, or one of its workers.
  if (config.workers > 1) {
    if (typeof flags.tunnel === 'string') {
      throw new UserError(
        `--tunnel needs workers = 1 (it is ${config.workers}): the tunnel is one connection to the relay, held by one process`,
        2,
      )
    }
    const file = loaded.file
    const loadAgain = file
      ? () => loadConfig({ file, overrides: overridesOf(flags), again: true })
      : undefined
    return (await import('./run-cluster.ts')).runCluster(loaded, loadAgain, overridesOf(flags))
  }
  const logger = new Logger({ level: config.log_level, json: config.json_logs })
  for (const warning of loaded.warnings) logger.warn(warning, { file: loaded.file })
  // Loaded here, not with this module: a cluster's primary (above) builds no proxy.
  const { createPortico, modeOptionsFor } = await import('../portico.ts')
  const modeOptions = await modeOptionsFor(config)
  await preflightOrExplain(loaded)
  const file = loaded.file
  // Hot reload (SIGHUP, hot_reload) re-reads the same file with the same flags and environment.
  const reload = file
    ? {
        file,
        loaded: config,
        load: () => loadConfig({ file, overrides: overridesOf(flags), again: true }).config,
        overrides: overridesOf(flags),
      }
    : undefined
  const tunnel = await openTunnel(config, flags, logger)
  let store: ReturnType<typeof openRecording>
  let portico: Portico
  try {
    const served = tunnel ? withPublicUrl(config, tunnel.url) : config
    store = openRecording(config, proxyName(config), logger)
    portico = createPortico(served, {
      ...modeOptions,
      logger,
      sinks: store ? [store.sink] : [],
      ...(reload ? { reload } : {}),
    })
  } catch (error) {
    // An open tunnel would keep the process alive after the message: it must not outlive it.
    tunnel?.client.close()
    throw error
  }
  reloadOnHangup(portico, logger)
  // A failed listen must not leave gateway backends (child processes) running.
  const address = await listenOrExplain(portico, config).catch(async (error: unknown) => {
    tunnel?.client.close()
    await portico.close()
    throw error
  })
  const target = config.backends?.length
    ? `gateway: ${config.backends.map((b) => b.name).join(', ')}`
    : `upstream ${redactUrl(config.upstream ?? '')}`
  releaseYoungGeneration()
  process.stdout.write(`Portico listening on ${address} (${target})\n`)
  if (tunnel) {
    tunnel.client.serve(portico.handler)
    process.stdout.write(`Public URL: ${tunnel.url}${config.mcp_path} (via ${tunnel.relay})\n`)
  }
  void warnIfNotReady(portico, logger)
  if (portico.adminUrl) process.stdout.write(`Admin API on ${portico.adminUrl}\n`)
  if (store) process.stdout.write(`Recording to ${store.path} (see: portico status)\n`)
  releaseHangups(logger)
  // The tunnel closes after the drain, so its in-flight requests finish too.
  await closeOnSignal(portico, logger, async () => tunnel?.client.close())
}

/**
 * SIGHUP reloads the config, as it does nginx's (`systemctl reload`, `kill -HUP`): run from a
 * file, the same reload as `hot_reload` (both modes); without one it is said that nothing is
 * reloaded. Either way the signal never stops Portico (its default action would).
 */
export function reloadOnHangup(
  portico: Pick<Portico, 'reloadConfig'> | undefined,
  logger: Logger,
  why = 'Portico runs without a config file',
): void {
  process.on('SIGHUP', () => {
    logger.info('received SIGHUP, reloading the config')
    void (portico?.reloadConfig() ?? Promise.resolve(undefined)).then((outcome) => {
      if (outcome === undefined) {
        logger.warn(`SIGHUP: nothing to reload (${why}); restart Portico to apply config changes`)
      }
    })
  })
}

/**
 * A bad flag value is a usage error (2); a bad file or environment is a failure (1), as
 * `portico check` exits for the same file (README: When something is wrong).
 */
function configExitCode(error: ConfigError): number {
  const fromFlags = error.problems.every((problem) => problem.source?.startsWith('--') === true)
  return fromFlags ? 2 : 1
}

/** What building Portico from this config would refuse, as one failure (operate/preflight.ts). */
export async function preflightOrExplain(loaded: LoadedConfig): Promise<void> {
  const { preflightLines } = await import('../operate/preflight.ts')
  const problems = preflightLines(loaded.config, loaded.file, { store: false })
  if (problems.length === 0) return
  throw new UserError(`invalid configuration:\n${problems.join('\n')}`, 1)
}

interface OpenTunnel {
  client: TunnelClient
  url: string
  relay: string
}

/**
 * `[tunnel]` or `--tunnel`: registers with the relay before Portico is built, so `public_url`
 * (widget CSP, OAuth metadata) can name the public origin. A relay that refuses or cannot be
 * reached stops startup with one message; later disconnections are retried.
 */
async function openTunnel(
  config: LoadedConfig['config'],
  flags: RunFlags,
  logger: Logger,
): Promise<OpenTunnel | undefined> {
  if (flags.tunnel === false || config.no_tunnel === true) return undefined
  const table = config.tunnel
  const relayUrl = flags.tunnel ?? (table?.enabled ? table.relay_url : undefined)
  if (relayUrl === undefined) return undefined
  let token = flags.tunnelToken ?? process.env.PORTICO_TUNNEL_TOKEN ?? table?.token
  const tokenProblem = token ? tunnelTokenProblem(token) : undefined
  if (tokenProblem !== undefined) {
    const from =
      flags.tunnelToken !== undefined
        ? '--tunnel-token'
        : process.env.PORTICO_TUNNEL_TOKEN !== undefined
          ? 'PORTICO_TUNNEL_TOKEN'
          : '[tunnel] token'
    throw new UserError(`${from}: ${tokenProblem}`, 2)
  }
  if (!token) {
    // Open relays accept any token; a random one gives a random subdomain for this run.
    token = randomBytes(16).toString('hex')
    logger.warn('no tunnel token set: using a random one (a new subdomain each run)')
  }
  const subdomain = flags.tunnelSubdomain ?? table?.subdomain
  if (subdomain !== undefined && !SUBDOMAIN.test(subdomain)) {
    throw new UserError('--tunnel-subdomain: expected one DNS label (a-z, 0-9, -)', 2)
  }
  const { TunnelClient } = await import('../tunnel/client.ts')
  let client: TunnelClient
  try {
    client = new TunnelClient({
      relayUrl,
      token,
      ...(subdomain === undefined ? {} : { subdomain }),
      logger,
    })
  } catch (error) {
    throw new UserError(`tunnel: ${(error as Error).message}`, 2)
  }
  try {
    const registration = await client.connect()
    return { client, url: registration.url, relay: redactUrl(relayUrl) }
  } catch (error) {
    throw new UserError(
      `tunnel: ${(error as Error).message} (relay ${redactUrl(relayUrl)}; run without --tunnel or set [tunnel] enabled = false to serve locally only)`,
    )
  }
}

/** The config with `public_url` following the tunnel (unless set) and its host allowed. */
function withPublicUrl(config: LoadedConfig['config'], url: string): LoadedConfig['config'] {
  const host = new URL(url).hostname
  return markParsed({
    ...config,
    public_url: config.public_url ?? url,
    allowed_hosts: [...config.allowed_hosts, host],
  })
}

/**
 * A typo in `--upstream` should not look like success: the upstream is probed once at start and
 * a warning says what answered. Not fatal: the upstream may come up later (/readyz follows it).
 */
export async function warnIfNotReady(portico: Portico, logger: Logger): Promise<void> {
  const { ready, detail } = await portico.readiness()
  if (ready) return
  const problem = typeof detail?.problem === 'string' ? `: ${detail.problem}` : ''
  logger.warn(
    `no upstream is answering as an MCP server yet${problem}; /readyz reports 503 until one does`,
  )
}

/** The store sink for `[store]`; a store that cannot be opened stops startup with one message. */
export function openRecording(
  config: LoadedConfig['config'],
  proxy: string,
  logger: Logger,
): StoreSetup | undefined {
  try {
    return storeFor(config, proxy, logger)
  } catch (error) {
    const path = config.store.path ?? '~/.portico/store.db'
    throw asUserError(error, path)
  }
}

export async function listenOrExplain(
  portico: Portico,
  listener: { port: number; host: string },
  at?: ListenAt,
): Promise<string> {
  try {
    return (await portico.listen(at)).url
  } catch (error) {
    if (error instanceof StartupError) throw new UserError(error.message)
    // The main listener is `port` on `host`; another port or host name that fails is the
    // admin API's own listener (a name that does not resolve fails with no port).
    const failed = error as { port?: number; hostname?: string }
    const elsewhere =
      (failed.port !== undefined && failed.port !== (at?.port ?? listener.port)) ||
      (failed.hostname !== undefined && failed.hostname !== listener.host)
    throw listenFailure(error, elsewhere ? 'admin_bind' : 'listen address') ?? error
  }
}

/**
 * Resolves once the proxy has drained after SIGTERM/SIGINT, or after one of `triggers` asked
 * for it (a cluster worker's primary); a second signal exits at once.
 */
export function closeOnSignal(
  portico: Portico,
  logger: Logger,
  onClose?: () => Promise<void>,
  triggers: ReadonlyArray<(stop: (why: string) => void) => void> = [],
): Promise<void> {
  return new Promise((resolve) => {
    let closing = false
    const stop = (why: string) => {
      closing = true
      logger.info(`${why}, draining in-flight requests`)
      void portico
        .close()
        .then(() => onClose?.())
        .finally(() => {
          logger.info('stopped')
          resolve()
        })
    }
    const signalled = (signal: NodeJS.Signals) => {
      if (closing) process.exit(130)
      stop(`received ${signal}`)
    }
    process.on('SIGTERM', signalled)
    process.on('SIGINT', signalled)
    for (const trigger of triggers)
      trigger((why) => {
        if (!closing) stop(why)
      })
  })
}
