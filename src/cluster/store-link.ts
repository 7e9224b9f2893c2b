/**
 * The store across a cluster: workers never open the store to write. Each worker's sink
 * (`relayingSink`) posts its bounded, encoded batches to the primary over the IPC channel;
 * the primary hands each batch to its own sink, whose one writer thread commits every
 * worker's events, and acknowledges it so the worker's bound frees up. IPC messages keep their
 * order, so a worker's `close` answered `closed` means all its batches were taken.
 */

import type { Worker as ClusterWorker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { StoreSink } from '../store/sink.ts'
import type { WriterLink } from '../store/writer-link.ts'
import type { FromWriter, ToWriter } from '../store/writer-worker.ts'
import { type FromWorker, isPorticoMessage, type ToWorker } from './messages.ts'

/** A worker's link to the primary's writer; `exit` when the primary is gone. */
export class PrimaryLink extends EventEmitter implements WriterLink {
  constructor() {
    super()
    process.on('message', (message: unknown) => {
      if (!isPorticoMessage<ToWorker>(message) || message.type !== 'portico:store') return
      this.emit('message', message.message satisfies FromWriter)
    })
    process.once('disconnect', () => this.emit('exit'))
  }

  postMessage(message: ToWriter): void {
    if (!process.connected) return
    // With a callback a failed send (the primary gone) is an argument, not an 'error' event.
    process.send?.({ type: 'portico:store', message } satisfies FromWorker, ignoreClosed)
  }

  ref(): void {}

  unref(): void {}

  async terminate(): Promise<void> {}
}

/** The primary's side: a worker's store message, taken to the one sink. */
export function relayStore(
  sink: StoreSink | undefined,
  worker: ClusterWorker,
  message: ToWriter,
): void {
  const answer = (reply: FromWriter) => {
    if (worker.isConnected())
      worker.send({ type: 'portico:store', message: reply } satisfies ToWorker, ignoreClosed)
  }
  if (message.type === 'close') {
    answer({ type: 'closed' })
    return
  }
  // Without a store (it is off) a worker records nothing, so no batch should come; if one
  // does, it is acknowledged all the same, so the worker's bound never fills.
  const { json, count, bytes, dropped } = message
  sink?.relay({ json, count, bytes, dropped })
  answer({ type: 'relayed', count: message.count, bytes: message.bytes })
}

/**
 * The callback of an IPC send: a channel closed by the other side's death is not an error here
 * (the primary sees the worker's exit; a worker sees its disconnect).
 */
export function ignoreClosed(_error: Error | null): void {}
