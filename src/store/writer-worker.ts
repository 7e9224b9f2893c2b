/**
 * The store writer, run in a worker thread: receives event batches from the proxy's thread,
 * commits them in one transaction every `flushMs` (or sooner once `flushEvents` are queued),
 * and applies the retention schedule. The proxy's event loop never touches SQLite.
 */
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import type { PorticoEvent } from '../observe/event.ts'
import { Ingestor } from './ingest.ts'
import { type Db, openStore } from './open.ts'
import { prune } from './retention.ts'
import { decodeEvents } from './wire.ts'

export interface WriterOptions {
  path: string
  proxy: string
  flushMs: number
  flushEvents: number
  retentionMs?: number
}

export type ToWriter =
  | {
      type: 'events'
      /** The batch, as `encodeEvents` wrote it. */
      json: string
      dropped: number
    }
  | { type: 'close' }

export type FromWriter =
  | { type: 'written'; count: number }
  | { type: 'failed'; count: number; message: string }
  | { type: 'closed' }

const RETENTION_EVERY_MS = 60 * 60_000

function start(options: WriterOptions): void {
  const port = parentPort
  if (!port) return
  yieldToTraffic()
  const db = openStore(options.path, { create: true })
  const ingestor = new Ingestor(db)
  let queue: PorticoEvent[] = []
  let dropped = 0
  let flushing: NodeJS.Immediate | undefined

  const flush = (): void => {
    flushing = undefined
    if (queue.length === 0 && dropped === 0) return
    const batch = queue
    queue = []
    try {
      ingestor.write(batch, dropped, options.proxy)
      port.postMessage({ type: 'written', count: batch.length } satisfies FromWriter)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      port.postMessage({ type: 'failed', count: batch.length, message } satisfies FromWriter)
    }
    dropped = 0
  }
  const timer = setInterval(flush, options.flushMs)
  const retention = options.retentionMs
  const pruner = retention === undefined ? undefined : schedulePrune(db, retention, options.proxy)

  port.on('message', (message: ToWriter) => {
    if (message.type === 'events') {
      for (const event of decodeEvents(message.json)) queue.push(event)
      dropped += message.dropped
      if (queue.length >= options.flushEvents && !flushing) flushing = setImmediate(flush)
      return
    }
    clearInterval(timer)
    if (pruner) clearInterval(pruner)
    flush()
    db.close()
    port.postMessage({ type: 'closed' } satisfies FromWriter)
    port.close()
  })
}

function schedulePrune(db: Db, retentionMs: number, proxy: string): NodeJS.Timeout {
  const run = () => {
    try {
      prune(db, Date.now() - retentionMs, proxy)
    } catch {
      // A busy store is pruned on the next round; retention is best effort.
    }
  }
  setTimeout(run, 1000).unref()
  return setInterval(run, RETENTION_EVERY_MS)
}

start(workerData as WriterOptions)

/**
 * Niceness of the writer thread. Recording is latency-insensitive and its queue is bounded, so
 * when the machine is saturated the writer should wait, not the proxy: at equal priority its
 * commit bursts preempted the event loop and cost 15–22% of throughput at 16 sessions on two
 * cores; at 10 the same load cost 5–7% (bench/store.ts, paired rounds), with no drops.
 */
const WRITER_NICE = 10

/** Lowers this thread's scheduling priority (Linux: niceness is per thread). Best effort. */
function yieldToTraffic(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, WRITER_NICE)
  } catch {
    // Not Linux, or not allowed: the writer runs at the process's priority, which is correct,
    // only less kind to traffic on a saturated machine.
  }
}
