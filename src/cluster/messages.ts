/**
 * What a cluster's primary and its workers say to each other over the IPC channel. Every
 * message of Portico's has a `portico:` type, so Node's own and prom-client's pass by.
 */
import type { Config } from '../config/schema.ts'
import type { ReloadOutcome } from '../edge/reload.ts'
import type { ListenAt } from '../portico.ts'
import type { FromWriter, ToWriter } from '../store/writer-worker.ts'

/** A worker's slot (1..N) travels in its environment: it keeps its slot when started again. */
export const SLOT_VARIABLE = 'PORTICO_WORKER_SLOT'

export type FromWorker =
  /** A worker starting: the config to serve, please (it never reads the file itself). */
  | { type: 'portico:config-request' }
  /** Listening: the URL clients use and the admin listener's, as the worker printed them. */
  | { type: 'portico:listening'; url: string; admin?: string }
  /** It could not start: the message the user should see, and the exit code it exits with. */
  | { type: 'portico:failed'; message: string; exitCode: number }
  | { type: 'portico:store'; message: ToWriter }
  /** A scrape reached this worker: every process's metrics, please. */
  | { type: 'portico:metrics'; id: number }
  /** This worker's part of a collection (its registry as `getMetricsAsJSON` gives it). */
  | { type: 'portico:metrics-part'; id: number; metrics: unknown[] }
  /** How reload `id` ended here (`none`: this worker serves no config file). */
  | { type: 'portico:reloaded'; id: number; outcome: ReloadOutcome | 'none' }

export type ToWorker =
  /**
   * The config the primary loaded (file, environment and flags), and the file it came from; with
   * `port = 0`, the ports the primary picked for every worker (cluster/ports.ts).
   */
  | { type: 'portico:config'; config: Config; file?: string; listenAt?: ListenAt }
  | { type: 'portico:store'; message: FromWriter }
  | { type: 'portico:metrics'; id: number; text?: string; error?: string }
  | { type: 'portico:metrics-collect'; id: number }
  /** Stop: drain in-flight exchanges (drain_timeout), hand over the last events, exit 0. */
  | { type: 'portico:drain' }
  /** Apply this config as a hot reload does (the primary loaded the file again), then say how. */
  | { type: 'portico:reload'; id: number; config: Config }

/** Whether an IPC message is one of Portico's (else Node's or prom-client's). */
export function isPorticoMessage<T extends { type: string }>(message: unknown): message is T {
  if (typeof message !== 'object' || message === null) return false
  const type = (message as { type?: unknown }).type
  return typeof type === 'string' && type.startsWith('portico:')
}
