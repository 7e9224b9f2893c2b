/**
 * How a store sink reaches the writer that commits its events: a worker thread of this process
 * (`new Worker(writer-worker.js)`, which fits this shape as it is), or, in a cluster worker,
 * the primary process, whose one writer commits every worker's events (src/cluster/).
 */
import type { EncodedBatch } from './wire.ts'
import type { FromWriter, ToWriter } from './writer-worker.ts'

/** How often the writer applies `[store] retention` (a stopped writer is started for it). */
export const RETENTION_EVERY_MS = 60 * 60_000

export interface WriterLink {
  /** `transfer`: buffers handed over without a copy (a writer thread only). */
  postMessage(message: ToWriter, transfer?: ArrayBuffer[]): void
  on(event: 'message', listener: (message: FromWriter) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'exit', listener: () => void): unknown
  once(event: 'exit', listener: () => void): unknown
  /** Whether the link holds the process open (a writer thread is let go of until `close`). */
  ref(): void
  unref(): void
  terminate(): Promise<unknown>
}

/** A batch of events another process bounded and encoded, handed on to this writer as it is. */
export interface RelayedBatch {
  /** The events, as `encodeEvents` wrote them. */
  json: EncodedBatch
  count: number
  /** Payload bytes the sending sink counted for them. */
  bytes: number
  /** Events the sending sink dropped since its previous batch (recorded in the store). */
  dropped: number
}
