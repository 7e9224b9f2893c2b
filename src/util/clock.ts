/**
 * Time as the protection policies see it: `now()` in milliseconds and one-shot timers. The
 * runtime uses the system clock; tests pass a hand-driven clock so breakers, budgets, buckets
 * and ejections can be walked through time without sleeping or asserting on timings.
 */
export interface Clock {
  now(): number
  /**
   * Runs `callback` after `ms`; the returned handle goes to `clearTimeout`. A `background`
   * timer does not keep the process alive (per-call timers are cleared with their call).
   */
  setTimeout(callback: () => void, ms: number, background?: boolean): unknown
  clearTimeout(handle: unknown): void
}

/**
 * Node fires a timer longer than 2^31 - 1 ms (24.8 days) after 1 ms, with a warning: a
 * `queue_timeout = "30d"` refused every queued call at once. Longer waits wait that long.
 */
const MAX_TIMER_MS = 2 ** 31 - 1

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, ms, background) {
    const timer = setTimeout(callback, Math.min(ms, MAX_TIMER_MS))
    if (background) timer.unref()
    return timer
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
}
