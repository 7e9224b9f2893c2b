/**
 * The store sink: the proxy-side half of the SQLite writer. `write` only appends to a bounded
 * buffer (a full buffer drops and counts, it never waits); a timer posts the buffer to the
 * writer thread, which commits in batched transactions. `close` flushes everything.
 */
import { Worker } from 'node:worker_threads'
import type { Sink } from '../observe/bus.ts'
import type { PorticoEvent } from '../observe/event.ts'
import { openStore } from './open.ts'
import { encodeEvents } from './wire.ts'
import type { FromWriter, ToWriter, WriterOptions } from './writer-worker.ts'

export interface StoreSinkOptions {
  path: string
  /** Proxy name: rows of dropped-event counts and retention apply to it. */
  proxy: string
  /** Events buffered or in flight to the writer before new ones are dropped. */
  capacity?: number
  /** Commit period of the writer, in ms (default 150). */
  flushMs?: number
  /** Events queued in the writer that trigger an early commit. */
  flushEvents?: number
  retentionMs?: number
  /** Called when the writer fails to commit a batch (disk full, store deleted…). */
  onError?: (message: string) => void
  /** Called before an existing store is upgraded to a newer schema (see OpenOptions). */
  onUpgrade?: (from: number, to: number) => void
}

export interface StoreSinkStats {
  received: number
  written: number
  dropped: number
  failed: number
  pending: number
}

export interface StoreSink extends Sink {
  stats(): StoreSinkStats
}

export const DEFAULT_CAPACITY = 100_000
const POST_EVERY_MS = 20
const POST_EVENTS = 2000

/**
 * Opens (creating and migrating) the store on this thread first, so a bad path fails at
 * startup with a clear StoreError, then starts the writer thread.
 */
export function storeSink(options: StoreSinkOptions): StoreSink {
  openStore(options.path, {
    create: true,
    ...(options.onUpgrade ? { onUpgrade: options.onUpgrade } : {}),
  }).close()
  const workerOptions: WriterOptions = {
    path: options.path,
    proxy: options.proxy,
    flushMs: options.flushMs ?? 150,
    flushEvents: options.flushEvents ?? 5000,
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
  }
  const worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
    workerData: workerOptions,
  })
  return new WorkerSink(worker, options.capacity ?? DEFAULT_CAPACITY, options.onError)
}

class WorkerSink implements StoreSink {
  readonly name = 'store'
  readonly #worker: Worker
  readonly #capacity: number
  readonly #onError: ((message: string) => void) | undefined
  #buffer: PorticoEvent[] = []
  #timer: NodeJS.Timeout | undefined
  #inFlight = 0
  #received = 0
  #written = 0
  #dropped = 0
  #unreportedDrops = 0
  #failed = 0
  #closed: Promise<void> | undefined
  #exited = false

  constructor(worker: Worker, capacity: number, onError?: (message: string) => void) {
    this.#worker = worker
    this.#capacity = capacity
    this.#onError = onError
    worker.on('message', (message: FromWriter) => this.#onMessage(message))
    worker.on('error', (error) => this.#onError?.(`store writer crashed: ${error.message}`))
    worker.on('exit', () => {
      this.#exited = true
    })
    worker.unref()
  }

  write(events: readonly PorticoEvent[]): void {
    if (this.#closed || this.#exited) {
      this.#dropped += events.length
      return
    }
    for (const event of events) {
      this.#received++
      if (this.#buffer.length + this.#inFlight >= this.#capacity) {
        this.#dropped++
        this.#unreportedDrops++
        continue
      }
      this.#buffer.push(event)
    }
    if (this.#buffer.length >= POST_EVENTS) this.#post()
    else if (this.#timer === undefined && this.#buffer.length > 0) {
      this.#timer = setTimeout(() => this.#post(), POST_EVERY_MS)
      this.#timer.unref()
    }
  }

  #post(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#buffer.length === 0 && this.#unreportedDrops === 0) return
    const events = this.#buffer
    this.#buffer = []
    this.#inFlight += events.length
    const message: ToWriter = {
      type: 'events',
      json: encodeEvents(events),
      dropped: this.#unreportedDrops,
    }
    this.#unreportedDrops = 0
    this.#worker.postMessage(message)
  }

  #onMessage(message: FromWriter): void {
    if (message.type === 'written') {
      this.#inFlight -= message.count
      this.#written += message.count
    } else if (message.type === 'failed') {
      this.#inFlight -= message.count
      this.#failed += message.count
      this.#onError?.(`store write failed (${message.count} events lost): ${message.message}`)
    }
  }

  stats(): StoreSinkStats {
    return {
      received: this.#received,
      written: this.#written,
      dropped: this.#dropped,
      failed: this.#failed,
      pending: this.#buffer.length + this.#inFlight,
    }
  }

  /** Posts what is buffered, asks the writer to commit and close, and waits for it. */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown()
    return this.#closed
  }

  async #shutdown(): Promise<void> {
    if (this.#exited) return
    // Hold the process open until the writer has committed the last batch.
    this.#worker.ref()
    this.#post()
    const done = new Promise<void>((resolve) => {
      this.#worker.on('message', (message: FromWriter) => {
        if (message.type === 'closed') resolve()
      })
      this.#worker.once('exit', () => resolve())
    })
    this.#worker.postMessage({ type: 'close' } satisfies ToWriter)
    await done
    await this.#worker.terminate()
  }
}
