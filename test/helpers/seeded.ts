/** A small seeded random generator for fuzz tests and fixtures: the same sequence every run. */
export interface Seeded {
  /** In [0, 1]. */
  rand(): number
  pick<T>(values: readonly T[]): T
}

export function seeded(seed: number): Seeded {
  let state = seed
  const rand = (): number => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state / 0x7fffffff
  }
  const pick = <T>(values: readonly T[]): T => values[Math.floor(rand() * values.length)] as T
  return { rand, pick }
}

/** JSON values of every type and edge, for fields that expect something else. */
export const ODD_VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  '',
  'x',
  'x'.repeat(5000),
  [],
  [1],
  {},
  { a: 1 },
  '__proto__',
  'constructor',
  'a\u0000b',
  [[[]]],
]
