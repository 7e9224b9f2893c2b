/**
 * Hot reload of a cluster (`workers` > 1): SIGHUP, and file changes with `[proxy] hot_reload`.
 * The primary loads the file again, with the same flags and environment (a broken file stops
 * there, said once); then every worker applies it as a single Portico does, logging what it
 * changed or why it refused, and tells the primary how it ended; the primary sums it up in one
 * line. Reloads run one after another.
 */
import { adopted, type ClusterPrimary, type WorkerReload } from '../cluster/primary.ts'
import type { LoadedConfig } from '../config/load.ts'
import { watchFile } from '../edge/reload.ts'
import type { Logger } from '../observe/logger.ts'
import { reloadOnHangup } from './run.ts'

/** Starts reloading on SIGHUP (and file changes); returns what stops the file watch. */
export function reloadWorkers(
  primary: Pick<ClusterPrimary, 'reload'>,
  loaded: LoadedConfig,
  loadAgain: (() => LoadedConfig) | undefined,
  logger: Logger,
): () => void {
  const file = loaded.file
  if (loadAgain === undefined || file === undefined) {
    // Says that nothing is reloaded; the signal must not stop the cluster either.
    reloadOnHangup(undefined, logger)
    return () => {}
  }
  let applying: Promise<void> = Promise.resolve()
  const run = () => {
    applying = applying
      .then(() => reloadOnce(primary, file, loadAgain, logger))
      .catch((error: unknown) =>
        logger.error('config reload failed; the running config stays in force', {
          file,
          error: error instanceof Error ? error.message : String(error),
        }),
      )
    return applying
  }
  process.on('SIGHUP', () => {
    logger.info('received SIGHUP, reloading the config')
    void run()
  })
  let stopWatching = () => {}
  if (loaded.config.proxy.hot_reload) {
    watchFile(file, run, (stop) => {
      stopWatching = stop
    })
  }
  return () => stopWatching()
}

async function reloadOnce(
  primary: Pick<ClusterPrimary, 'reload'>,
  file: string,
  loadAgain: () => LoadedConfig,
  logger: Logger,
): Promise<void> {
  let next: LoadedConfig
  try {
    next = loadAgain()
  } catch (error) {
    logger.error('config reload rejected; the running config stays in force', {
      file,
      problems: error instanceof Error ? error.message : String(error),
    })
    return
  }
  const summary = reloadSummary(await primary.reload(next))
  if (summary.level === 'info') logger.info(summary.message, { file })
  else logger.error(summary.message, { file, ...summary.slots })
}

export interface ReloadSummary {
  level: 'info' | 'error'
  message: string
  /** The workers (by slot) that did not apply it, by how their reload ended. */
  slots?: Record<string, number[]>
}

/** One line for the whole cluster, from how the reload ended in each worker. */
export function reloadSummary(reloads: readonly WorkerReload[]): ReloadSummary {
  const slotsWith = (...outcomes: WorkerReload['outcome'][]) =>
    reloads.filter((r) => outcomes.includes(r.outcome)).map((r) => r.slot)
  if (reloads.length === 0 || slotsWith('exited').length === reloads.length) {
    return {
      level: 'error',
      message:
        'config reload not applied: no worker is serving to check and apply it (they are starting again); the running config stays in force: reload again once they serve',
    }
  }
  const applied = slotsWith('applied')
  const exited = slotsWith('exited')
  if (adopted(reloads)) {
    const message =
      applied.length === 0
        ? 'config reload accepted; nothing to change'
        : exited.length === 0
          ? `config reloaded in all ${reloads.length} workers`
          : `config reloaded in worker(s) ${applied.join(', ')}`
    const restarting =
      exited.length === 0
        ? ''
        : `; worker(s) ${exited.join(', ')} exited meanwhile and start again with it`
    return { level: 'info', message: `${message}${restarting}` }
  }
  const notApplied = slotsWith('rejected', 'no answer', 'none', 'exited')
  const slots = {
    rejected: slotsWith('rejected'),
    'no answer': slotsWith('no answer'),
    ...(exited.length > 0 ? { exited } : {}),
  }
  if (applied.length === 0 && slotsWith('unchanged').length === 0) {
    return {
      level: 'error',
      message: 'config reload rejected (each worker logged why); the running config stays in force',
      slots,
    }
  }
  return {
    level: 'error',
    message: `config reload applied in worker(s) ${applied.join(', ') || 'none'} but not in ${notApplied.join(', ')}: the workers now serve different configs; restart Portico to make them agree`,
    slots,
  }
}
