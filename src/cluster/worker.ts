/**
 * A cluster worker's side (`workers` > 1): its slot, a store sink that relays to the primary's
 * writer, metrics shared through the primary, and what it tells the primary (listening, or why
 * it could not start). A worker stops when the primary asks it to drain, on SIGTERM/SIGINT
 * like any Portico, and when the primary is gone (no store, no new connections).
 */
import cluster from 'node:cluster'
import type { LoadedConfig } from '../config/load.ts'
import { type Config, markParsed } from '../config/schema.ts'
import type { ReloadOutcome } from '../edge/reload.ts'
import type { ListenAt } from '../portico.ts'
import { relayingSink, type StoreSink, type StoreSinkOptions } from '../store/sink.ts'
import { type FromWorker, isPorticoMessage, SLOT_VARIABLE, type ToWorker } from './messages.ts'
import { WorkerMetrics } from './metrics.ts'
import { PrimaryLink } from './store-link.ts'

export interface WorkerRole {
  /** 1..N, kept when the worker is started again. */
  readonly slot: number
  readonly metrics: WorkerMetrics
  /** Where to listen instead of the config's ports (`port = 0`: the primary's pick), if anywhere. */
  readonly listenAt: ListenAt | undefined
  storeSink(options: Pick<StoreSinkOptions, 'onError'>): StoreSink
  listening(url: string, admin?: string): void
  /** Resolves once the message is sent (the worker exits next). */
  failed(message: string, exitCode: number): Promise<void>
  /** Calls `stop` when the primary asks for a drain, or is gone. */
  onStop(stop: (why: string) => void): void
  /** Calls `reload` with each config the primary sends, and tells the primary how it ended. */
  onReload(reload: (config: Config) => Promise<ReloadOutcome | undefined>): void
}

/** This process's role in a cluster, when it is a worker of one. */
export function workerRole(): WorkerRole | undefined {
  if (!cluster.isWorker) return undefined
  const slot = Number(process.env[SLOT_VARIABLE] ?? cluster.worker?.id ?? 0)
  const metrics = new WorkerMetrics()
  return {
    slot,
    metrics,
    listenAt: listenAtFromPrimary,
    storeSink: (options) => relayingSink(new PrimaryLink(), options),
    listening: (url, admin) =>
      send({ type: 'portico:listening', url, ...(admin === undefined ? {} : { admin }) }),
    failed: (message, exitCode) =>
      new Promise((resolve) => {
        if (!send({ type: 'portico:failed', message, exitCode }, () => resolve())) resolve()
      }),
    onStop(stop) {
      // Node's cluster ends a worker at once when the primary's channel closes (its guard
      // against accidental disconnection), cutting the calls in flight. A worker whose primary
      // died drains like one asked to (its events are lost: the store writer was the primary's).
      if (cluster.worker) cluster.worker.exitedAfterDisconnect = true
      process.on('message', (message: unknown) => {
        if (isPorticoMessage<ToWorker>(message) && message.type === 'portico:drain')
          stop('a drain from the primary')
      })
      process.once('disconnect', () => stop('the primary is gone'))
    },
    onReload(reload) {
      process.on('message', (message: unknown) => {
        if (!isPorticoMessage<ToWorker>(message) || message.type !== 'portico:reload') return
        const { id } = message
        // It came out of the schema in the primary; the clone lost the mark that says so.
        void reload(markParsed(message.config))
          .catch(() => 'rejected' as const)
          .then((outcome) => send({ type: 'portico:reloaded', id, outcome: outcome ?? 'none' }))
      })
    },
  }
}

/** What the primary sent with the config: the ports it picked for `port = 0`, if any. */
let listenAtFromPrimary: ListenAt | undefined

/**
 * In a cluster's worker, the config the primary loaded; else undefined. A worker never reads
 * the config file itself: a worker started again after the file was edited would serve the
 * edit (or, with `workers = 1` in it, become a second Portico), and one with a broken file
 * would never start. Rejects if the primary is gone before it answers.
 */
export async function configFromPrimary(): Promise<LoadedConfig | undefined> {
  if (!cluster.isWorker) return undefined
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!isPorticoMessage<ToWorker>(message) || message.type !== 'portico:config') return
      process.off('message', onMessage)
      process.off('disconnect', onGone)
      // It came out of the schema in the primary; the clone lost the mark that says so.
      const config = markParsed(message.config)
      listenAtFromPrimary = message.listenAt
      resolve({ config, file: message.file, warnings: [] })
    }
    const onGone = () => {
      process.off('message', onMessage)
      reject(new Error('the primary is gone before it sent the config'))
    }
    process.on('message', onMessage)
    process.once('disconnect', onGone)
    if (!send({ type: 'portico:config-request' })) onGone()
  })
}

function send(message: FromWorker, sent?: () => void): boolean {
  if (!process.connected || process.send === undefined) return false
  // With a callback, a failed send (the primary gone meanwhile: EPIPE) is handed to it rather
  // than thrown as an unhandled 'error' event; the 'disconnect' that follows says the rest.
  process.send(message, undefined, undefined, () => sent?.())
  return true
}
