/**
 * Deadlines of one fixed duration (a whole-call timeout, a hedge's delay), kept in one FIFO
 * list with one timer for the whole list instead of a Node timer per call.
 *
 * Why: every call of a protected upstream set and cleared one or two Node timers. A Node
 * Timeout is a large object with an async id; creating and clearing one per call, and at one
 * call at a time creating and deleting Node's timer list for the duration as it empties, was a
 * measurable part of the protection stack's cost (bench/reports/2026-12-01-perf2.md, step 10).
 *
 * Because every deadline of a queue has the same duration, deadlines are added in the order
 * they fall due: adding and cancelling are O(1) (a doubly linked list), and one timer armed
 * for the head is enough. A cancelled head leaves its timer armed; when it fires early it
 * re-arms for the new head (or, with the list empty, stops). The timer does not keep the
 * process alive: a call waiting on a deadline has a socket that does.
 */
import type { Clock } from './clock.ts'

/** The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1

/** A pending deadline; `cancel()` when what it guards is done. Cancelling twice is harmless. */
export interface Deadline {
  cancel(): void
  /**
   * Fires it now if it falls due within `slackMs` (and has not fired or been cancelled); says
   * whether it fired. For a caller whose own, equal deadline fired a moment before this one.
   */
  fireIfDue(slackMs: number): boolean
}

class Entry implements Deadline {
  readonly at: number
  readonly fire: () => void
  prev: Entry | undefined
  next: Entry | undefined
  readonly #queue: DeadlineQueue

  constructor(queue: DeadlineQueue, at: number, fire: () => void) {
    this.#queue = queue
    this.at = at
    this.fire = fire
  }

  cancel(): void {
    this.#queue.remove(this)
  }

  fireIfDue(slackMs: number): boolean {
    return this.#queue.fireIfDue(this, slackMs)
  }
}

export class DeadlineQueue {
  readonly #ms: number
  readonly #clock: Clock
  #head: Entry | undefined
  #tail: Entry | undefined
  /** The timer that is armed, if any (for the head's deadline or an earlier one). */
  #timer: unknown
  #size = 0

  constructor(ms: number, clock: Clock) {
    this.#ms = ms
    this.#clock = clock
  }

  /** Deadlines waiting to fall due. */
  get size(): number {
    return this.#size
  }

  /** Calls `fire` once `ms` have passed, unless the returned deadline is cancelled first. */
  add(fire: () => void): Deadline {
    const entry = new Entry(this, this.#clock.now() + this.#ms, fire)
    const tail = this.#tail
    if (tail === undefined) this.#head = entry
    else {
      tail.next = entry
      entry.prev = tail
    }
    this.#tail = entry
    this.#size++
    if (this.#timer === undefined) this.#arm(this.#ms)
    return entry
  }

  /** Unlinks `entry` if it is still waiting (the timer stays armed: see the module comment). */
  remove(entry: Entry): void {
    const { prev, next } = entry
    if (prev === undefined && this.#head !== entry) return
    if (prev === undefined) this.#head = next
    else prev.next = next
    if (next === undefined) this.#tail = prev
    else next.prev = prev
    entry.prev = undefined
    entry.next = undefined
    this.#size--
  }

  fireIfDue(entry: Entry, slackMs: number): boolean {
    if (entry.prev === undefined && this.#head !== entry) return false
    if (entry.at - this.#clock.now() > slackMs) return false
    this.remove(entry)
    entry.fire()
    return true
  }

  #arm(ms: number): void {
    // Node fires a longer timer after 1 ms; a far deadline is re-armed until it is due.
    this.#timer = this.#clock.setTimeout(() => this.#expire(), Math.min(ms, MAX_TIMER_MS), true)
  }

  /** Fires every deadline that is due, in order, then arms the timer for the next one. */
  #expire(): void {
    this.#timer = undefined
    // Node's timers run on the event loop's cached time, which lags the clock a little: a
    // deadline within a millisecond is due (as it would be for a Node timer of its own).
    const now = this.#clock.now()
    for (let head = this.#head; head !== undefined && head.at <= now + 1; head = this.#head) {
      this.remove(head)
      try {
        head.fire()
      } catch (error) {
        // One failing deadline must not keep the others from firing.
        process.emitWarning(`a deadline's callback threw: ${String(error)}`)
      }
    }
    const head = this.#head
    if (head !== undefined) this.#arm(Math.max(1, head.at - now))
  }
}
