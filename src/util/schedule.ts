/**
 * Timers as a dependency: policies that wait (deadlines, later breakers and backoff) take a
 * `Schedule`, so tests drive time by hand instead of sleeping.
 */
export interface Scheduled {
  /** Starts the wait over from now. */
  refresh(): void
  cancel(): void
}

export type Schedule = (ms: number, fire: () => void) => Scheduled

/** Node's timers. */
export const realSchedule: Schedule = (ms, fire) => {
  const timer = setTimeout(fire, ms)
  return {
    refresh: () => void timer.refresh(),
    cancel: () => clearTimeout(timer),
  }
}
