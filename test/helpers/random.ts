/**
 * A seeded pseudo-random generator for tests that try many cases: the same seed gives the
 * same cases, so a failure can be replayed. Mulberry32: 32 bits of state, every bit of the
 * output mixed (a plain linear congruential generator's low bits repeat with short periods,
 * so `state % n` would walk a few fixed patterns).
 */
export interface Random {
  /** An integer in [0, n). */
  next(n: number): number
  pick<T>(items: readonly T[]): T
}

export function seeded(seed: number): Random {
  let state = seed >>> 0
  const unit = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const next = (n: number): number => Math.floor(unit() * n)
  return { next, pick: <T>(items: readonly T[]): T => items[next(items.length)] as T }
}
