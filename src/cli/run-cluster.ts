/**
 * `portico run` with `workers` > 1 (transparent mode): this process is either the primary,
 * which forks the workers, owns the store writer, and prints and logs for all of them, or a
 * worker, which serves the shared port (src/cluster/ has the machinery).
 */
import type { Worker as ClusterWorker } from 'node:cluster'
import { PrimaryMetrics } from '../cluster/metrics.ts'
import { ClusterPrimary, StartupFailure } from '../cluster/primary.ts'
import { type WorkerRole, workerRole } from '../cluster/worker.ts'
import type { ConfigOverrides, LoadedConfig } from '../config/load.ts'
import { proxyName } from '../config/proxy-name.ts'
import type { Config } from '../config/schema.ts'
import { PorticoMetrics } from '../metrics/metrics.ts'
import { Logger } from '../observe/logger.ts'
import { isStatsSource } from '../observe/status.ts'
import type { StoreSetup } from '../store/from-config.ts'
import { redactUrl } from '../util/redact.ts'
import { VERSION } from '../version.ts'
import { reloadWorkers } from './cluster-reload.ts'
import { UserError } from './errors.ts'
import { releaseHangups } from './hangup.ts'
import {
  closeOnSignal,
  listenOrExplain,
  openRecording,
  preflightOrExplain,
  warnIfNotReady,
} from './run.ts'
import { releaseYoungGeneration } from './start-memory.ts'

/**
 * `loadAgain` loads the config file again with the same flags and environment (a reload: SIGHUP,
 * `hot_reload`); undefined when Portico runs without a file.
 */
export async function runCluster(
  loaded: LoadedConfig,
  loadAgain: (() => LoadedConfig) | undefined,
  overrides: ConfigOverrides,
): Promise<void> {
  const logger = new Logger({ level: loaded.config.log_level, json: loaded.config.json_logs })
  const role = workerRole()
  if (role) await runWorker(loaded, role, logger, overrides)
  else await runPrimary(loaded, loadAgain, logger)
}

async function runPrimary(
  loaded: LoadedConfig,
  loadAgain: (() => LoadedConfig) | undefined,
  logger: Logger,
): Promise<void> {
  const { config } = loaded
  for (const warning of loaded.warnings) logger.warn(warning, { file: loaded.file })
  await preflightOrExplain(loaded)
  const proxy = proxyName(config)
  // Opened (created, migrated) here, before any worker starts: a bad store stops everything.
  const store = openRecording(config, proxy, logger)
  const metrics = primaryMetrics(config, proxy, store)
  const primary = new ClusterPrimary({
    workers: config.workers,
    config: loaded,
    logger,
    drainTimeoutMs: config.drain_timeout,
    ...(store ? { store: store.sink } : {}),
    ...(metrics ? { metrics } : {}),
  })
  const stopAll = async () => {
    await primary.stop()
    await store?.sink.close()
  }
  // SIGTERM while the workers start (systemctl stop during a slow start): the workers are
  // stopped and Portico exits 0. Node's default action killed the primary, and each worker
  // crashed on the channel it lost (EPIPE).
  let stopping: Promise<void> | undefined
  let stoppedEarly: (value: undefined) => void = () => {}
  const earlyStop = new Promise<undefined>((resolve) => {
    stoppedEarly = resolve
  })
  const stopWhileStarting = (signal: NodeJS.Signals) => {
    if (stopping !== undefined) return
    logger.info(`received ${signal} while the workers start, stopping them`)
    stopping = stopAll().finally(() => stoppedEarly(undefined))
  }
  process.on('SIGTERM', stopWhileStarting)
  process.on('SIGINT', stopWhileStarting)
  const started = primary.start().catch(async (error: unknown) => {
    if (stopping !== undefined) return undefined
    await stopAll()
    if (error instanceof StartupFailure) throw new UserError(error.message, error.exitCode)
    throw error
  })
  let listening: Awaited<ReturnType<typeof primary.start>> | undefined
  try {
    // Once a stop asked while starting is done, the start is not waited for.
    listening = await Promise.race([started, earlyStop])
  } finally {
    process.off('SIGTERM', stopWhileStarting)
    process.off('SIGINT', stopWhileStarting)
  }
  if (stopping !== undefined || listening === undefined) {
    await stopping
    logger.info('stopped')
    return
  }
  const target = `upstream ${redactUrl(config.upstream ?? '')}`
  const stopWatching = reloadWorkers(primary, loaded, loadAgain, logger)
  const out = process.stdout
  releaseYoungGeneration()
  out.write(`Portico listening on ${listening.url} (${target}, ${config.workers} workers)\n`)
  out.write(`Workers: ${config.workers} (pids ${primary.pids().join(', ')})\n`)
  if (listening.admin) out.write(`Admin API on ${listening.admin}\n`)
  if (store) out.write(`Recording to ${store.path} (see: portico status)\n`)
  releaseHangups(logger)
  await new Promise<void>((resolve) => {
    let closing = false
    const onSignal = (signal: NodeJS.Signals) => {
      stopWatching()
      if (closing) {
        primary.kill()
        process.exit(130)
      }
      closing = true
      logger.info(`received ${signal}, draining the workers`)
      void stopAll().finally(() => {
        logger.info('stopped')
        resolve()
      })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

/**
 * The primary's own metrics: the store writer's counters (commits, their time, rows written)
 * live in the primary, so they join every worker's in each scrape.
 */
function primaryMetrics(config: Config, proxy: string, store: StoreSetup | undefined) {
  const options = config.observability.metrics
  if (!options.enabled) return undefined
  const own = new PorticoMetrics({
    maxTargets: options.max_targets,
    processMetrics: options.process,
    version: VERSION,
    mode: 'transparent',
    proxy,
  })
  const sink = store?.sink
  own.observe({
    pipes: () =>
      sink !== undefined && isStatsSource(sink)
        ? [{ name: sink.name, stats: sink.pipeStats() }]
        : [],
  })
  return (workers: () => readonly ClusterWorker[]) => new PrimaryMetrics(own.registry, workers)
}

async function runWorker(
  loaded: LoadedConfig,
  role: WorkerRole,
  logger: Logger,
  overrides: ConfigOverrides,
): Promise<void> {
  const { config, file } = loaded
  let exitCode = 0
  try {
    const { createPortico, modeOptionsFor } = await import('../portico.ts')
    const modeOptions = await modeOptionsFor(config)
    const sink = config.store.enabled
      ? role.storeSink({ onError: (message) => logger.warn(message) })
      : undefined
    // A reload applies the config the primary loaded again: the worker never reads the file.
    let latest = config
    const portico = createPortico(config, {
      ...modeOptions,
      logger,
      sinks: sink ? [sink] : [],
      worker: { slot: role.slot, metrics: role.metrics },
      ...(file ? { reload: { file, load: () => latest, watch: false, overrides } } : {}),
    })
    role.onReload((next) => {
      latest = next
      return portico.reloadConfig()
    })
    const url = await listenOrExplain(portico, config, role.listenAt).catch(
      async (error: unknown) => {
        await portico.close()
        throw error
      },
    )
    releaseYoungGeneration()
    role.listening(url, portico.adminUrl)
    // Said once for the cluster, by the first worker.
    if (role.slot === 1) void warnIfNotReady(portico, logger)
    // A terminal's hangup reaches the workers too: the primary speaks for the cluster.
    process.on('SIGHUP', () => {})
    await closeOnSignal(portico, logger, undefined, [(stop) => role.onStop(stop)])
  } catch (error) {
    exitCode = error instanceof UserError ? error.exitCode : 1
    await role.failed(error instanceof Error ? error.message : String(error), exitCode)
  }
  process.exit(exitCode)
}
