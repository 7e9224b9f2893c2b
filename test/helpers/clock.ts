/** A hand-driven clock for the protection policies: time moves only when the test says so. */
import type { Clock } from '../../src/util/clock.ts'

interface Timer {
  at: number
  callback: () => void
  id: number
}

export class ManualClock implements Clock {
  #now = 1_000_000
  #timers: Timer[] = []
  #ids = 0

  now(): number {
    return this.#now
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = { at: this.#now + Math.max(0, ms), callback, id: ++this.#ids }
    this.#timers.push(timer)
    return timer.id
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle)
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.length
  }

  /** Moves time forward, firing due timers in order (and letting promises settle between). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms
    for (;;) {
      await settle()
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)
      const first = due[0]
      if (first === undefined) break
      this.#timers = this.#timers.filter((t) => t !== first)
      this.#now = Math.max(this.#now, first.at)
      first.callback()
    }
    this.#now = end
    await settle()
  }
}

/** Lets queued promise callbacks run (several turns: chains of awaits). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
