/**
 * The deadlines of upstream requests in flight (the answer's headers, then the gap between two
 * chunks of its body), checked by one timer every `tickMs` while any request waits, instead of
 * undici's own per-request timers.
 *
 * Why: undici gives each request new timer objects (one for the headers, another for the body,
 * a third kind for keep-alive) and keeps a cleared one in its timer array until its next tick,
 * up to a second later. Under load every request's timers outlived V8's young collections and
 * were promoted: a transparent Portico promoted ~50 KB per young collection, the bare undici
 * pass-through of the bench ~70 KB, and ~5 KB with undici's timeouts off
 * (bench/reports/2026-12-01-perf2.md, step 43). Here a request holds its deadline in a number
 * field and its place in a linked list whose links are cleared when it leaves (the reasoning of
 * util/open-list.ts): nothing per request outlives the request.
 *
 * A deadline is noticed at the first tick at or after it: at most `tickMs` late (undici's
 * timers aim at 500 ms).
 */
import { type Clock, systemClock } from '../util/clock.ts'

/** A request with a deadline: its links and due time belong to the `RequestDeadlines` watching it. */
export interface Due {
  /** When it is due (the clock's ms). */
  dueAt: number
  dueList: RequestDeadlines | undefined
  duePrev: Due | undefined
  dueNext: Due | undefined
  /** Called once, at the first tick past `dueAt` (the request is no longer watched by then). */
  expire(): void
}

export const REQUEST_DEADLINE_TICK_MS = 100

export class RequestDeadlines {
  readonly #tickMs: number
  readonly #clock: Clock
  #head: Due | undefined
  #tail: Due | undefined
  #size = 0
  /** The next tick's timer, while ticking. */
  #timer: unknown
  /** Whether a request was watched since the last tick (an idle tick stops the timer). */
  #watchedSinceTick = false

  constructor(tickMs: number = REQUEST_DEADLINE_TICK_MS, clock: Clock = systemClock) {
    this.#tickMs = tickMs
    this.#clock = clock
  }

  /** Requests watched now. */
  get size(): number {
    return this.#size
  }

  /** Whether its timer runs (it stops after a tick with nothing watched). */
  get ticking(): boolean {
    return this.#timer !== undefined
  }

  /**
   * Holds `item` to a deadline `ms` from now; for an item already watched, this replaces its
   * deadline (a field written, nothing allocated: a body chunk does this).
   */
  watch(item: Due, ms: number): void {
    item.dueAt = this.#clock.now() + ms
    this.#watchedSinceTick = true
    if (item.dueList === this) return
    item.dueList?.unwatch(item)
    item.dueList = this
    const tail = this.#tail
    if (tail === undefined) this.#head = item
    else {
      tail.dueNext = item
      item.duePrev = tail
    }
    this.#tail = item
    this.#size++
    // A timer while requests are in flight, not one per request: it starts when a quiet spell
    // ends and stops itself after a tick with nothing watched.
    if (this.#timer === undefined) this.#arm()
  }

  /** Stops watching `item` (harmless when it is not watched), and forgets its links. */
  unwatch(item: Due): void {
    if (item.dueList !== this) return
    const { duePrev: prev, dueNext: next } = item
    if (prev === undefined) this.#head = next
    else prev.dueNext = next
    if (next === undefined) this.#tail = prev
    else next.duePrev = prev
    item.dueList = undefined
    item.duePrev = undefined
    item.dueNext = undefined
    this.#size--
  }

  /** Expires what is due; stops when nothing was watched since the last tick. */
  #tick(): void {
    this.#timer = undefined
    const now = this.#clock.now()
    for (let item = this.#head; item !== undefined; ) {
      const next = item.dueNext
      if (item.dueAt <= now) {
        this.unwatch(item)
        try {
          item.expire()
        } catch {
          // One request's failure to stop must not keep the others from theirs.
        }
      }
      item = next
    }
    const idle = this.#size === 0 && !this.#watchedSinceTick
    this.#watchedSinceTick = false
    if (!idle) this.#arm()
  }

  #arm(): void {
    // In the background: a request waiting on its deadline has a socket that keeps the
    // process alive.
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#tickMs, true)
  }

  /** Stops the timer (it starts again with the next request watched). */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
