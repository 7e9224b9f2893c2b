/**
 * The store sink: the proxy-side half of the SQLite writer. `write` only bounds each event
 * (bound.ts), encodes it and appends it to a bounded batch (a full one drops and counts, it
 * never waits); a timer posts the batch to the writer thread, which commits in batched
 * transactions.
 * `close` flushes everything.
 *
 * The writer thread runs while there is work: it starts with the first event (or a retention
 * pass that is due) and stops once a whole `idleStopMs` check period went by without events
 * (so between one and two periods after the last one). Why: the thread is its own V8
 * isolate, about 10 MB of a Portico that serves nothing (bench/reports/2026-12-01-perf2.md,
 * "Where the idle memory goes"); starting one takes a few tens of milliseconds, during which
 * events wait in the bounded buffer as they do while a writer is started again after a crash.
 *
 * Recording must never take the proxy down: nothing thrown here escapes a timer or a worker
 * event, and a writer thread that dies is started again (with a growing delay), its lost
 * events counted as failed.
 *
 * In a cluster (`workers` > 1) each worker's sink posts its batches to the primary instead
 * (`relayingSink`), and the primary's sink hands them to its one writer as they are (`relay`):
 * one process writes the store, never several.
 */
import { Worker } from 'node:worker_threads'
import type { Sink } from '../observe/bus.ts'
import type { PorticoEvent } from '../observe/event.ts'
import type { PipeStats } from '../observe/status.ts'
import { boundEvent, truncatedPayload } from './bound.ts'
import { createStoreApart } from './create-apart.ts'
import { isCurrentStore } from './header.ts'
import { openStore } from './open.ts'
import { EventBatch } from './wire.ts'
import { RETENTION_EVERY_MS, type RelayedBatch, type WriterLink } from './writer-link.ts'
import type { FromWriter, ToWriter, WriterOptions } from './writer-worker.ts'

export interface StoreSinkOptions {
  path: string
  /** Proxy name: rows of dropped-event counts and retention apply to it. */
  proxy: string
  /** Events buffered or in flight to the writer before new ones are dropped. */
  capacity?: number
  /** Payload bytes (schema params and results) buffered or in flight before payloads are left out. */
  payloadCapacity?: number
  /** Commit period of the writer, in ms (default 500). */
  flushMs?: number
  /** Events queued in the writer that trigger an early commit. */
  flushEvents?: number
  retentionMs?: number
  /** Called when recording loses events or the store needs attention (disk full, store deleted…). */
  onError?: (message: string) => void
  /** Called before an existing store is upgraded to a newer schema (see OpenOptions). */
  onUpgrade?: (from: number, to: number) => void
  /** Period of the idle check: a writer with no events for a whole period stops (default 30 s; 0: never). */
  idleStopMs?: number
}

export interface StoreSinkStats {
  received: number
  written: number
  dropped: number
  failed: number
  pending: number
  /** Writer threads started again after one died. */
  restarts: number
  /** Events handed over to a cluster primary (a relaying sink's "written"). */
  relayed: number
  /** Whether a writer thread is running now (it runs while there is work; see above). */
  writerRunning: boolean
  /** Writer threads started for work after an idle stop or at the first event. */
  writerStarts: number
}

export interface StoreSink extends Sink {
  stats(): StoreSinkStats
  /**
   * Takes a batch another process encoded (a cluster worker's) to this sink's writer, within
   * the same bounds as its own events: a batch that does not fit is dropped whole, and counted.
   */
  relay(batch: RelayedBatch): void
}

export const DEFAULT_CAPACITY = 100_000
export const DEFAULT_PAYLOAD_CAPACITY = 64 * 1024 * 1024
/**
 * How long admitted events wait before they are posted to the writer. Each post costs the
 * proxy's thread 60–90 µs whatever it carries (waking the writer thread; measured with an
 * idle receiver and a trivial message), and it used to encode the whole batch at once as
 * well: every 20 ms, a 0.2 ms stall that requests arriving meanwhile waited out (1 % of the
 * time at 1 session: the p99). Events are now encoded one by one as they are admitted, and
 * posted every 100 ms (the writer commits every 500 ms anyway) as bytes handed over without a
 * copy: a batch made into one string first cost 0.05 ms at 100 KB and 2 ms at 500 KB (V8's
 * large-object space), and posting such a string as much again.
 */
const POST_EVERY_MS = 100
const POST_EVENTS = 2000
/**
 * A batch this large is posted at once: kept below 64 KB, its buffer is an ordinary
 * allocation and its text on the writer's side stays out of V8's large-object space (a
 * 190 KB batch, 100 ms at 16 sessions, cost the writer a large string per post).
 */
const POST_BYTES = 48 * 1024
const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 30_000
const REPORT_EVERY_MS = 5000
/**
 * The idle check's period: a writer stops two to four minutes after the last event. Each start
 * costs ~57 ms of CPU and ~150 ms before its first commit, and the new isolate runs its code
 * cold for a while (measured: six starts of a real sink, bench/reports/2026-12-01-perf2.md,
 * step 44). MCP traffic comes in bursts with pauses of tens of seconds between an agent's
 * calls, so a 30 s period restarted the writer for nearly every burst; the ~10 MB it holds
 * matters to a Portico that stays idle, which still gets it back within minutes.
 */
const IDLE_STOP_MS = 120_000
/**
 * The writer thread's young generation. V8's default lets it grow to 32 MB (two 16 MB halves)
 * under load, though the writer keeps little between batches: 8 MB took about 25 MB off a
 * loaded proxy's resident memory at no measurable CPU cost (bench/reports/2026-12-01-perf2.md,
 * step 24). Smaller promoted more of each batch while the writer decoded batches on arrival;
 * since it decodes them during the commit (step 38), 4 MB costs no measurable CPU either.
 */
const WRITER_YOUNG_GENERATION_MB = 4

/**
 * Makes sure the store is there at this schema first (a new one created by a child process,
 * an older one upgraded on this thread), so a bad path fails at startup with a clear
 * StoreError; the writer thread starts with the first event.
 */
export function storeSink(options: StoreSinkOptions): StoreSink {
  // A store already at this schema needs nothing now (its writer opens it when there is work);
  // a new one is made by a child process, so this thread does not load SQLite for it.
  if (!isCurrentStore(options.path) && !createStoreApart(options.path)) {
    openStore(options.path, {
      create: true,
      ...(options.onUpgrade ? { onUpgrade: options.onUpgrade } : {}),
    }).close()
  }
  const workerOptions: WriterOptions = {
    path: options.path,
    proxy: options.proxy,
    // Measured (bench/ab.ts, c=1, paired slices, three runs): committing every 500 ms
    // instead of every 150 ms costs 0.82–0.91x the CPU per request and lowers the p99 (fewer
    // commits: each rewrites the index pages it touches, and each is a burst that competes with
    // traffic for a core). It bounds what a kill -9 can lose and how late `logs --follow` sees
    // a call.
    flushMs: options.flushMs ?? 500,
    flushEvents: options.flushEvents ?? 5000,
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
  }
  const start = () =>
    new Worker(new URL('./writer-worker.js', import.meta.url), {
      workerData: workerOptions,
      resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    })
  return new WorkerSink(start, {
    ...limitsOf(options),
    handOver: true,
    lazy: {
      idleStopMs: options.idleStopMs ?? IDLE_STOP_MS,
      retention: options.retentionMs !== undefined,
    },
  })
}

/**
 * A cluster worker's store sink: the same bounded buffer, posted over `link` to the primary,
 * which acknowledges each batch once its own sink took it (`relayed`). A lost link is not
 * started again: a worker without its primary stops (src/cluster/worker.ts).
 */
export function relayingSink(
  link: WriterLink,
  options: Omit<StoreSinkOptions, 'path' | 'proxy' | 'onUpgrade'> = {},
): StoreSink {
  return new WorkerSink(() => link, { ...limitsOf(options), restart: false })
}

function limitsOf(options: Omit<StoreSinkOptions, 'path' | 'proxy'>): Limits {
  return {
    capacity: options.capacity ?? DEFAULT_CAPACITY,
    payloadCapacity: options.payloadCapacity ?? DEFAULT_PAYLOAD_CAPACITY,
    restart: true,
    handOver: false,
    ...(options.onError ? { onError: options.onError } : {}),
  }
}

interface Limits {
  capacity: number
  payloadCapacity: number
  /** Start the writer again when it dies (a thread); a relaying sink's link is not. */
  restart: boolean
  /**
   * Batches go to a writer thread as bytes, transferred without a copy; a relaying sink's
   * link (the cluster's IPC channel) carries text.
   */
  handOver: boolean
  onError?: (message: string) => void
  /**
   * A writer thread started when there is work and stopped when idle; a relaying sink's link
   * is there from the start. `retention`: the writer also starts for its retention passes.
   */
  lazy?: { idleStopMs: number; retention: boolean }
}

class WorkerSink implements StoreSink {
  readonly name = 'store'
  /** Schema capture and session identity come from these results. */
  readonly wantsResults = true
  readonly #start: () => WriterLink
  readonly #limits: Limits
  #worker: WriterLink | undefined
  /** Admitted events, encoded as they came (wire.ts). */
  readonly #batch = new EventBatch()
  #bufferBytes = 0
  /** Relayed batches waiting for a writer started again (counted in the bounds). */
  #held: RelayedBatch[] = []
  #heldCount = 0
  #heldBytes = 0
  #timer: NodeJS.Timeout | undefined
  #inFlight = 0
  #inFlightBytes = 0
  #received = 0
  #written = 0
  #dropped = 0
  #unreportedDrops = 0
  /** Events dropped (queue full) since the last time the log was told. */
  #dropsToTell = 0
  #dropsToldAt = Number.NEGATIVE_INFINITY
  #dropsTimer: NodeJS.Timeout | undefined
  #failed = 0
  /** Events lost by failed writes since the last successful one (said when writes resume). */
  #lostSinceWritten = 0
  #restarts = 0
  #relayed = 0
  /** Commits acknowledged by the writer and the time they took (for the metrics). */
  #commits = 0
  #commitMs = 0
  #restartDelay = RESTART_MIN_MS
  #restartTimer: NodeJS.Timeout | undefined
  #reportedAt = Number.NEGATIVE_INFINITY
  #unreported = 0
  #closed: Promise<void> | undefined
  /** A lazy writer stopping because it was idle, and its close (settled once it has exited). */
  #stopping: { worker: WriterLink; closed: Promise<void> } | undefined
  /** Checks, every `idleStopMs`, whether the running writer had anything to do. */
  #idleTimer: NodeJS.Timeout | undefined
  /** `#received` at the last idle check: unchanged (and nothing queued) means idle. */
  #receivedAtCheck = 0
  #retentionTimer: NodeJS.Timeout | undefined
  #writerStarts = 0

  constructor(start: () => WriterLink, limits: Limits) {
    this.#start = start
    this.#limits = limits
    const lazy = limits.lazy
    if (lazy === undefined) this.#spawn()
    else if (lazy.retention) {
      // The writer prunes as it starts; a stopped one is started again for each period.
      this.#wake()
      this.#retentionTimer = setInterval(() => this.#guard(() => this.#wake()), RETENTION_EVERY_MS)
      this.#retentionTimer.unref()
    }
  }

  #spawn(): void {
    const worker = this.#start()
    this.#worker = worker
    worker.on('message', (message: FromWriter) => this.#guard(() => this.#onMessage(message)))
    worker.on('error', (error) => this.#report(`store writer crashed: ${error.message}`))
    worker.on('exit', () => this.#guard(() => this.#onExit(worker)))
    if (!this.#closed) worker.unref()
    const idleStopMs = this.#limits.lazy?.idleStopMs ?? 0
    if (idleStopMs > 0 && !this.#closed) {
      this.#receivedAtCheck = this.#received
      clearInterval(this.#idleTimer)
      this.#idleTimer = setInterval(() => this.#guard(() => this.#checkIdle(worker)), idleStopMs)
      this.#idleTimer.unref()
    }
  }

  /** Starts a lazy sink's writer for work, unless one runs, stops or is being started again. */
  #wake(): void {
    if (this.#limits.lazy === undefined || this.#closed) return
    if (this.#worker !== undefined || this.#stopping !== undefined) return
    if (this.#restartTimer !== undefined) return
    this.#writerStarts++
    this.#spawn()
  }

  /** Stops the writer when nothing arrived since the last check and nothing waits for it. */
  #checkIdle(worker: WriterLink): void {
    if (this.#worker !== worker || this.#closed) return
    const idle = this.#received === this.#receivedAtCheck && this.#queued() === 0
    this.#receivedAtCheck = this.#received
    if (idle) this.#stopIdle(worker)
  }

  /**
   * Asks the idle writer to close (it commits nothing new: nothing is queued) and forgets it;
   * events that come meanwhile wait in the buffer and start a new writer once it has exited.
   */
  #stopIdle(worker: WriterLink): void {
    clearInterval(this.#idleTimer)
    this.#idleTimer = undefined
    this.#worker = undefined
    const closed = closeWriter(worker).then(() => {
      this.#stopping = undefined
      if (this.#closed || this.#batch.count + this.#heldCount === 0) return
      // Events came while it stopped: a new writer for them.
      this.#guard(() => {
        this.#wake()
        this.#sendWaiting()
      })
    })
    this.#stopping = { worker, closed }
  }

  /** What waited for a writer (relayed batches, the buffer) to the one now running. */
  #sendWaiting(): void {
    if (this.#worker) this.#sendHeld(this.#worker)
    this.#post()
  }

  write(events: readonly PorticoEvent[]): void {
    if (this.#closed) {
      this.#dropped += events.length
      return
    }
    for (const raw of events) {
      this.#received++
      if (this.#queued() >= this.#limits.capacity) {
        this.#dropped++
        this.#unreportedDrops++
        this.#dropsToTell++
        continue
      }
      this.#admit(raw)
    }
    if (this.#dropsToTell > 0) this.#tellDrops()
    if (this.#worker === undefined) this.#wake()
    if (this.#batch.count >= POST_EVENTS || this.#batch.byteLength >= POST_BYTES) this.#post()
    else if (this.#timer === undefined && this.#batch.count > 0) {
      this.#timer = setTimeout(() => this.#guard(() => this.#post()), POST_EVERY_MS)
      this.#timer.unref()
    }
  }

  /**
   * Adds the event to the open batch, within bounds: its payloads left out when the payload
   * budget is spent. One that cannot be encoded is lost, and said so.
   */
  #admit(raw: PorticoEvent): void {
    const { event, payloadBytes } = boundEvent(raw)
    const fits =
      payloadBytes === 0 || this.#queuedBytes() + payloadBytes <= this.#limits.payloadCapacity
    try {
      this.#batch.add(fits ? event : withoutPayloads(event))
    } catch (error) {
      this.#lose(1)
      this.#report(`store event could not be encoded (lost): ${error}`)
      return
    }
    if (fits) this.#bufferBytes += payloadBytes
  }

  /** Events buffered, held or in flight to the writer. */
  #queued(): number {
    return this.#batch.count + this.#heldCount + this.#inFlight
  }

  #queuedBytes(): number {
    return this.#bufferBytes + this.#heldBytes + this.#inFlightBytes
  }

  relay(batch: RelayedBatch): void {
    this.#received += batch.count
    this.#unreportedDrops += batch.dropped
    const full =
      this.#queued() + batch.count > this.#limits.capacity ||
      this.#queuedBytes() + batch.bytes > this.#limits.payloadCapacity
    if (this.#closed || full) {
      this.#dropped += batch.count
      this.#unreportedDrops += batch.count
      this.#dropsToTell += batch.count
      this.#tellDrops()
      return
    }
    if (this.#worker === undefined) this.#wake()
    if (this.#worker === undefined) {
      this.#held.push(batch)
      this.#heldCount += batch.count
      this.#heldBytes += batch.bytes
      return
    }
    this.#send(this.#worker, batch)
  }

  #send(worker: WriterLink, batch: RelayedBatch, transfer?: ArrayBuffer[]): void {
    this.#inFlight += batch.count
    this.#inFlightBytes += batch.bytes
    const message: ToWriter = { type: 'events', ...batch, dropped: this.#unreportedDrops }
    this.#unreportedDrops = 0
    if (transfer === undefined) worker.postMessage(message)
    else worker.postMessage(message, transfer)
  }

  /** Relayed batches held while the writer was down, to the writer started again. */
  #sendHeld(worker: WriterLink): void {
    const held = this.#held
    this.#held = []
    this.#heldCount = 0
    this.#heldBytes = 0
    for (const batch of held) this.#send(worker, batch)
  }

  #post(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    const worker = this.#worker
    // No writer (it died and is being started again): keep buffering, within the bound.
    if (worker === undefined) return
    const count = this.#batch.count
    if (count === 0 && this.#unreportedDrops === 0) return
    const bytes = this.#bufferBytes
    this.#bufferBytes = 0
    if (!this.#limits.handOver) {
      this.#send(worker, { json: this.#batch.takeText(), count, bytes, dropped: 0 })
      return
    }
    const json = this.#batch.takeBytes()
    this.#send(worker, { json, count, bytes, dropped: 0 }, [json.buffer as ArrayBuffer])
  }

  #onMessage(message: FromWriter): void {
    switch (message.type) {
      case 'written':
        this.#settle(message.count, message.bytes)
        this.#written += message.count
        this.#commits++
        this.#commitMs += message.ms
        this.#restartDelay = RESTART_MIN_MS
        if (this.#lostSinceWritten > 0) {
          this.#report(
            `store writes resumed (${this.#lostSinceWritten} events were lost while they failed; counted as dropped in portico store stats)`,
            true,
          )
          this.#lostSinceWritten = 0
        }
        return
      case 'failed':
        this.#settle(message.count, message.bytes)
        // The writer counts these itself, with the next batch it commits.
        this.#failed += message.count
        this.#lostSinceWritten += message.count
        this.#report(`store write failed (${message.count} events lost): ${message.message}`)
        return
      case 'relayed':
        this.#settle(message.count, message.bytes)
        this.#relayed += message.count
        return
      case 'warning':
        // Rare and important (the store file was deleted and opened again): never held back.
        this.#report(message.message, true)
        return
      case 'closed':
        return
    }
  }

  #settle(count: number, bytes: number): void {
    this.#inFlight -= count
    this.#inFlightBytes -= bytes
  }

  /** A writer that exits before `close` died: what it held is lost; start another. */
  #onExit(worker: WriterLink): void {
    if (this.#worker !== worker) return
    this.#worker = undefined
    clearInterval(this.#idleTimer)
    this.#idleTimer = undefined
    if (this.#closed) return
    const restart = this.#limits.restart
    if (this.#inFlight > 0) {
      this.#lose(this.#inFlight)
      const then = restart ? 'starting it again' : 'not started again'
      this.#report(`store writer stopped (${this.#inFlight} events lost); ${then}`)
    }
    this.#inFlight = 0
    this.#inFlightBytes = 0
    if (!restart) return
    const delay = this.#restartDelay
    this.#restartDelay = Math.min(delay * 2, RESTART_MAX_MS)
    this.#restartTimer = setTimeout(() => this.#guard(() => this.#restart()), delay)
    this.#restartTimer.unref()
  }

  #restart(): void {
    this.#restartTimer = undefined
    if (this.#closed) return
    this.#restarts++
    this.#spawn()
    this.#sendWaiting()
  }

  /**
   * Events lost on this side (a writer that died with them, one that could not be encoded):
   * failed here, and counted in the store with the dropped ones, so `store stats` shows every
   * event that was not recorded.
   */
  #lose(count: number): void {
    this.#failed += count
    this.#unreportedDrops += count
    this.#lostSinceWritten += count
  }

  /**
   * Says that events are being dropped: at once the first time, then at most once per
   * REPORT_EVERY_MS with the count since (a timer says what the last burst dropped).
   */
  #tellDrops(): void {
    const wait = this.#dropsToldAt + REPORT_EVERY_MS - Date.now()
    if (wait > 0) {
      this.#dropsTimer ??= setTimeout(() => {
        this.#dropsTimer = undefined
        this.#guard(() => this.#tellDrops())
      }, wait)
      this.#dropsTimer.unref()
      return
    }
    const count = this.#dropsToTell
    if (count === 0) return
    this.#dropsToTell = 0
    this.#dropsToldAt = Date.now()
    this.#report(
      `store queue full: ${count} events dropped, not recorded (${this.#queued()} wait for the writer, at most ${this.#limits.capacity}; traffic is never slowed down for recording)`,
      true,
    )
  }

  /** Runs sink work from a timer or an event: a failure is reported, never thrown. */
  #guard(work: () => void): void {
    try {
      work()
    } catch (error) {
      this.#report(`store sink error: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  /**
   * Tells `onError`, at most once per REPORT_EVERY_MS (warnings always): a store that stays
   * unavailable fails every commit, and one line per commit would bury everything else.
   */
  #report(message: string, always = false): void {
    const now = Date.now()
    if (!always && now - this.#reportedAt < REPORT_EVERY_MS) {
      this.#unreported++
      return
    }
    const more = this.#unreported > 0 ? ` (and ${this.#unreported} more store messages)` : ''
    this.#reportedAt = now
    this.#unreported = 0
    try {
      this.#limits.onError?.(`${message}${more}`)
    } catch {
      // A failing logger must not turn a store problem into a crash.
    }
  }

  /** The counters the metrics show (`portico_sink_*{sink="store"}`). */
  pipeStats(): PipeStats {
    const stats = this.stats()
    return {
      sent: stats.written,
      dropped: stats.dropped,
      pending: stats.pending,
      failed: stats.failed,
      writes: this.#commits,
      writeSeconds: this.#commitMs / 1000,
    }
  }

  stats(): StoreSinkStats {
    return {
      received: this.#received,
      written: this.#written,
      dropped: this.#dropped,
      failed: this.#failed,
      pending: this.#queued(),
      restarts: this.#restarts,
      relayed: this.#relayed,
      writerRunning: this.#worker !== undefined,
      writerStarts: this.#writerStarts,
    }
  }

  /** Posts what is buffered, asks the writer to commit and close, and waits for it. */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown()
    return this.#closed
  }

  async #shutdown(): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer)
    clearInterval(this.#idleTimer)
    clearInterval(this.#retentionTimer)
    clearTimeout(this.#dropsTimer)
    this.#dropsToldAt = Number.NEGATIVE_INFINITY
    this.#tellDrops()
    // A writer stopping for idleness finishes first (held open, like the last writer below);
    // what came meanwhile gets a new one.
    this.#stopping?.worker.ref()
    await this.#stopping?.closed
    // A writer that died and was not started again yet gets one more start for the last batch.
    const waiting = this.#batch.count + this.#heldCount > 0
    if (this.#worker === undefined && waiting && this.#limits.restart) this.#spawn()
    const worker = this.#worker
    if (worker === undefined) return
    // Hold the process open until the writer has committed the last batch.
    worker.ref()
    this.#guard(() => this.#sendWaiting())
    await closeWriter(worker)
    this.#tellLostAtStop()
  }

  /**
   * Writes that failed until the stop (a full disk, a locked store) were said one line per
   * REPORT_EVERY_MS, and their total only when writes resumed, which they now never will: the
   * total is said once more, always, so that no lost event goes unsaid.
   */
  #tellLostAtStop(): void {
    const lost = this.#lostSinceWritten
    if (lost === 0) return
    this.#lostSinceWritten = 0
    this.#report(
      `store writes failed until Portico stopped (${lost} events lost in all since the last write that succeeded; not counted in portico store stats: none succeeded since)`,
      true,
    )
  }
}

/**
 * Asks a writer to commit what it holds and close; settles once it said so (or exited), after
 * its thread is terminated.
 */
async function closeWriter(worker: WriterLink): Promise<void> {
  await new Promise<void>((resolve) => {
    worker.on('message', (message: FromWriter) => {
      if (message.type === 'closed') resolve()
    })
    worker.once('exit', () => resolve())
    worker.postMessage({ type: 'close' } satisfies ToWriter)
  })
  await worker.terminate()
}

/** The event with its payloads replaced by a marker (the payload budget is spent). */
function withoutPayloads(event: PorticoEvent): PorticoEvent {
  const marker = truncatedPayload('not recorded: the store queue was full')
  const copy = { ...event, params: marker } as PorticoEvent
  if (copy.type === 'exchange' && copy.result !== undefined) copy.result = marker
  return copy
}
