/**
 * nginx's `send_timeout`: a client that takes none of an answer's bytes for this long, while
 * some wait to be sent, is disconnected. Portico respects backpressure (it stops reading the
 * upstream while the client does not read), so such a client costs no unbounded memory; but
 * without a deadline it holds its connection, what is buffered for it, and the upstream's
 * request or event stream behind it for as long as it stays connected without reading. A
 * live peer that advertises a zero window is never cut by TCP itself (keep-alive probes are
 * answered, retransmissions are not needed), so this is the only bound.
 *
 * One sweep over the answers in progress, a few times per timeout: no timer or listener per
 * request, nothing on the hot path. A connection counts as stalled when the bytes it still has
 * to send are the same at every sweep for the whole timeout; a client that reads, however
 * slowly, changes them (libuv's queue shrinks as the kernel takes each part of a write).
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** Sweeps per timeout, so a stalled connection is cut at most a quarter of it late. */
const SWEEPS_PER_TIMEOUT = 4
const MAX_SWEEP_MS = 1000
const MIN_SWEEP_MS = 25

/** Where one stalled connection stood when it was first seen waiting. */
interface Waiting {
  pending: number
  since: number
}

export interface SendWatchOptions {
  timeoutMs: number
  /** Told of each connection cut, with how long it took nothing. */
  onCut?: (socket: Socket, stalledMs: number) => void
  now?: () => number
}

export class SendWatch {
  #timeoutMs: number
  readonly #onCut: ((socket: Socket, stalledMs: number) => void) | undefined
  readonly #now: () => number
  #waiting = new WeakMap<Socket, Waiting>()
  #timer: NodeJS.Timeout | undefined
  #answers: (() => Iterable<ServerResponse>) | undefined

  constructor(options: SendWatchOptions) {
    this.#timeoutMs = options.timeoutMs
    this.#onCut = options.onCut
    this.#now = options.now ?? Date.now
  }

  get timeoutMs(): number {
    return this.#timeoutMs
  }

  /** Watches the answers `answers` lists at each sweep, until `stop`. */
  start(answers: () => Iterable<ServerResponse>): void {
    this.#answers = answers
    this.#schedule()
  }

  /** A reload's new timeout; a connection already waiting is judged by it from the next sweep. */
  setTimeout(timeoutMs: number): void {
    if (timeoutMs === this.#timeoutMs) return
    this.#timeoutMs = timeoutMs
    if (this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#schedule()
    }
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#answers = undefined
  }

  /** One pass: connections whose pending bytes have not moved for the timeout are destroyed. */
  sweep(): void {
    const answers = this.#answers
    if (answers === undefined) return
    const now = this.#now()
    const seen = new Set<Socket>()
    for (const res of answers()) {
      const socket = res.socket
      if (socket === null || socket.destroyed || seen.has(socket)) continue
      seen.add(socket)
      this.#check(socket, now)
    }
  }

  #check(socket: Socket, now: number): void {
    const pending = pendingBytes(socket)
    if (pending === 0) {
      this.#waiting.delete(socket)
      return
    }
    const waiting = this.#waiting.get(socket)
    if (waiting === undefined || waiting.pending !== pending) {
      this.#waiting.set(socket, { pending, since: now })
      return
    }
    const stalledMs = now - waiting.since
    if (stalledMs < this.#timeoutMs) return
    this.#waiting.delete(socket)
    this.#onCut?.(socket, stalledMs)
    socket.destroy()
  }

  #schedule(): void {
    const every = Math.min(
      MAX_SWEEP_MS,
      Math.max(MIN_SWEEP_MS, Math.floor(this.#timeoutMs / SWEEPS_PER_TIMEOUT)),
    )
    this.#timer = setInterval(() => this.sweep(), every)
    this.#timer.unref()
  }
}

/**
 * Bytes a connection has yet to hand to the kernel: what its stream holds (each write counts
 * until libuv wrote all of it) plus libuv's own queue, which shrinks as the kernel takes each
 * part of a large write: a slow reader of one big answer makes progress here, where the
 * stream's count alone would stand still until the whole write completed. `writeQueueSize` is
 * the stream handle's, as net and tls read it; a socket without one counts its stream only.
 */
function pendingBytes(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle
  const queued = typeof handle?.writeQueueSize === 'number' ? handle.writeQueueSize : 0
  return socket.writableLength + queued
}
