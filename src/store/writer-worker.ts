/**
 * The store writer, run in a worker thread: receives event batches from the proxy's thread,
 * commits them in one transaction every `flushMs` (or sooner once `flushEvents` are queued),
 * and applies the retention schedule. The proxy's event loop never touches SQLite.
 *
 * Before each commit it checks that the store file is still the one it opened: a store
 * deleted (or replaced) while Portico runs would otherwise swallow every later row into an
 * unlinked inode. It then opens the path again (a fresh store) and says so loudly.
 */
import { readlinkSync, renameSync, rmSync, statSync } from 'node:fs'
import { setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import { trimYoungGenerationWhenIdle } from '../util/idle-memory.ts'
import { StoreFile } from './file-watch.ts'
import { eventsOf, HeldBatches, type Received, type Unreadable } from './held-batches.ts'
import { Ingestor } from './ingest.ts'
import { type Db, explain, openStore } from './open.ts'
import { prune } from './retention.ts'
import type { EncodedBatch } from './wire.ts'
import { RETENTION_EVERY_MS } from './writer-link.ts'

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
      /** The batch, as `encodeEvents` wrote it (its UTF-8 bytes from a sink on this process). */
      json: EncodedBatch
      /** Events in the batch. */
      count: number
      dropped: number
      /** Payload bytes the sink counted for the batch, acknowledged back. */
      bytes: number
    }
  | { type: 'close' }

export type FromWriter =
  | { type: 'written'; count: number; bytes: number; ms: number }
  | { type: 'failed'; count: number; bytes: number; message: string }
  | { type: 'warning'; message: string }
  /** From a cluster primary: it took the batch over (its own writer commits it). */
  | { type: 'relayed'; count: number; bytes: number }
  | { type: 'closed' }

/** The open store and its ingestor; replaced together when the file has to be opened again. */
interface Open {
  db: Db
  ingestor: Ingestor
}

function start(options: WriterOptions): void {
  const port = parentPort
  if (!port) return
  yieldToTraffic()
  // Its young generation grows with a burst too, and it idles minutes before the sink stops it.
  trimYoungGenerationWhenIdle()
  const file = new StoreFile(options.path)
  const post = (message: FromWriter) => port.postMessage(message)
  // The sink opened this store a moment ago; if it cannot be opened now, every commit retries.
  let store: Open | undefined
  try {
    store = openAt(options.path)
    file.remember()
  } catch (error) {
    post({ type: 'warning', message: `store writer: ${messageOf(error)}` })
  }
  const held = new HeldBatches()
  let queue: Received[] = []
  let queuedEvents = 0
  let queuedBytes = 0
  let dropped = 0
  let flushing: NodeJS.Immediate | undefined
  /** A commit found the store locked and its batch waits (said once until a commit succeeds). */
  let waitingForLock = false

  /** The store to write to, reopened when its file is gone; undefined while it cannot be. */
  const current = (): Open | undefined => {
    const change = file.changed()
    if (change === undefined && store) return store
    let asideAs: string | undefined
    const previous = store?.ingestor
    if (change !== undefined) {
      if (store) closeIntoMovedFile(store.db)
      store = undefined
      asideAs = setAsideJournal(options.path)
    }
    try {
      store = openAt(options.path)
      // Live sessions go on: their clients, said once at `initialize`, go on with them.
      if (previous !== undefined) store.ingestor.adopt(previous)
      file.remember()
      if (change !== undefined) {
        post({
          type: 'warning',
          message: `the store ${options.path} ${change} while Portico was running; recording continues in a new store at the same path${asideAs === undefined ? '' : ` (the old store's journal, with rows it could not hand to the old file, is kept as ${asideAs})`}`,
        })
      }
    } catch (error) {
      throw new Error(
        `the store ${options.path} ${change ?? 'is unavailable'} and could not be opened again: ${messageOf(error)}`,
      )
    }
    return store
  }

  /** Tells the sink about batches that did not parse; returns what the others hold. */
  const setAside = (batch: readonly Received[], unreadable: readonly Unreadable[]) => {
    let count = 0
    let bytes = 0
    const readable: Received[] = []
    for (const received of batch) {
      const bad = unreadable.find((u) => u.received === received)
      if (bad === undefined) {
        readable.push(received)
        count += received.count
        bytes += received.bytes
        continue
      }
      // Its whole count: the sink counts these events in flight until told.
      post({
        type: 'failed',
        count: received.count,
        bytes: received.bytes,
        message: messageOf(bad.error),
      })
    }
    return { readable, count, bytes }
  }

  const flush = (): void => {
    flushing = undefined
    if (queue.length === 0 && dropped === 0) return
    const batch = queue
    queue = []
    queuedEvents = 0
    queuedBytes = 0
    const unreadable: Unreadable[] = []
    try {
      const started = performance.now()
      const open = current()
      open?.ingestor.write(eventsOf(batch, held, unreadable), dropped, options.proxy)
      const { count, bytes } = setAside(batch, unreadable)
      post({ type: 'written', count, bytes, ms: performance.now() - started })
      held.clear()
    } catch (error) {
      const { readable, count, bytes } = setAside(batch, unreadable)
      if (isLocked(error)) {
        // Another process holds the store past the busy timeout (a `portico store vacuum` of
        // a large store): the batch waits for the next commit instead of being lost. The sink
        // counts it in flight meanwhile, so its bound (not this queue) decides what is dropped.
        queue = readable.concat(queue)
        queuedEvents += count
        queuedBytes += bytes
        if (!waitingForLock) {
          waitingForLock = true
          post({ type: 'warning', message: `store writer: ${messageOf(error)}; retrying` })
        }
        return
      }
      // A batch of counts alone (nothing new to record) is tried again in silence.
      if (count > 0) {
        post({ type: 'failed', count, bytes, message: explain(error, options.path).message })
      }
      // Recorded with the next batch that commits (as dropped events), with the drops this
      // one carried: `store stats` then counts every event that was not recorded.
      dropped += count
      held.clear()
      waitingForLock = false
      return
    }
    waitingForLock = false
    dropped = 0
  }
  /**
   * The last commit. A store still locked by another process gets CLOSE_LOCK_ATTEMPTS busy
   * timeouts in all (about 15 s) to free up; what still cannot be written is reported as failed,
   * never dropped in silence.
   */
  const closingFlush = (): void => {
    flush()
    for (let attempt = 1; attempt < CLOSE_LOCK_ATTEMPTS && waitingForLock; attempt++) flush()
    if (queue.length === 0) return
    post({
      type: 'failed',
      count: queuedEvents,
      bytes: queuedBytes,
      message: 'the store stayed locked by another process until Portico stopped',
    })
    queue = []
    queuedEvents = 0
    queuedBytes = 0
    held.clear()
  }
  const timer = setInterval(flush, options.flushMs)
  const retention = options.retentionMs
  const pruner =
    retention === undefined ? undefined : schedulePrune(() => store?.db, retention, options.proxy)

  port.on('message', (message: ToWriter) => {
    if (message.type === 'events') {
      queue.push(held.add(message))
      queuedEvents += message.count
      queuedBytes += message.bytes
      dropped += message.dropped
      if (queuedEvents >= options.flushEvents && !flushing) flushing = setImmediate(flush)
      return
    }
    clearInterval(timer)
    if (pruner) clearInterval(pruner)
    closingFlush()
    store?.db.close()
    post({ type: 'closed' })
    port.close()
  })
}

/** Commits tried at close while another process holds the store (each waits the busy timeout). */
const CLOSE_LOCK_ATTEMPTS = 3

/**
 * The writer's SQLite page cache (see `OpenOptions.cacheKiB`). Ingesting 1,000,000 events cost
 * the same CPU per event with 2 MB as with 8 MB, and a loaded proxy's 8 MB filled completely.
 */
const WRITER_CACHE_KIB = 2_000

function openAt(path: string): Open {
  const db = openStore(path, { create: true, cacheKiB: WRITER_CACHE_KIB })
  return { db, ingestor: new Ingestor(db) }
}

/** SQLite's "another connection holds the lock" (after the busy timeout). */
function isLocked(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function schedulePrune(
  db: () => Db | undefined,
  retentionMs: number,
  proxy: string,
): NodeJS.Timeout {
  const run = () => {
    try {
      const open = db()
      if (open) prune(open, Date.now() - retentionMs, proxy)
    } catch {
      // A busy store is pruned on the next round; retention is best effort.
    }
  }
  // At once: the sink starts a writer for a retention pass that is due, and stops it when idle
  // (a pass started later could be cut short by that stop).
  run()
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

/**
 * Closes the connection to a store whose path no longer names it (moved aside, deleted or
 * replaced), first copying what its journal holds into the file itself: the connection still
 * has that file open wherever it went, so a store moved aside (`mv portico.db archive.db`, as
 * the troubleshooting section suggests) keeps every row committed to it. Best effort: a
 * reader holding the journal leaves the rest in it (`setAsideJournal`).
 */
function closeIntoMovedFile(db: Db): void {
  try {
    db.pragma('wal_checkpoint(TRUNCATE)')
  } catch {
    // Busy or read-only: what is left stays in the journal set aside.
  }
  db.close()
}

/**
 * The `-wal` and `-shm` beside a store that was replaced are the old database's: SQLite would
 * apply that journal to whatever file now has the name (a backup the user put back would be
 * overwritten with the old store's pages). A journal that still holds pages is kept aside,
 * never applied; returns its new name (undefined when there was none, or it was empty).
 */
function setAsideJournal(path: string): string | undefined {
  let aside: string | undefined
  try {
    if (statSync(`${path}-wal`).size > 0) {
      aside = `${path}-wal.replaced-${Date.now()}`
      renameSync(`${path}-wal`, aside)
    } else rmSync(`${path}-wal`, { force: true })
  } catch {
    // None there (the store was deleted with its journal).
  }
  rmSync(`${path}-shm`, { force: true })
  return aside
}
