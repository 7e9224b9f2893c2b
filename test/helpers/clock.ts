/** A hand-driven `Schedule` for policies that wait: time moves only when a test says so. */
import type { Schedule, Scheduled } from '../../src/util/schedule.ts'

export class ManualClock {
  now = 0
  readonly #timers = new Set<{ due: number; ms: number; fire: () => void }>()

  readonly schedule: Schedule = (ms, fire): Scheduled => {
    const timer = { due: this.now + ms, ms, fire }
    this.#timers.add(timer)
    return {
      refresh: () => {
        timer.due = this.now + timer.ms
      },
      cancel: () => void this.#timers.delete(timer),
    }
  }

  /** Timers not fired or cancelled yet. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time forward, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      const next = [...this.#timers].filter((t) => t.due <= until).sort((a, b) => a.due - b.due)[0]
      if (next === undefined) break
      this.now = next.due
      this.#timers.delete(next)
      next.fire()
    }
    this.now = until
  }
}
