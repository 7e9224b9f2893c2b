/**
 * Time as the protection policies see it: `now()` in milliseconds and one-shot timers. The
 * runtime uses the system clock; tests pass a hand-driven clock so breakers, budgets, buckets
 * and ejections can be walked through time without sleeping or asserting on timings.
 */
export interface Clock {
  now(): number
  /** Runs `callback` after `ms`; the returned handle goes to `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms)
    timer.unref()
    return timer
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
}
