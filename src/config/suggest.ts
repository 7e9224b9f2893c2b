/**
 * "Did you mean" for configuration keys, as commander offers for flags: the known keys of the
 * table a misspelt key sits in (read from the zod schema itself, so it never drifts), and the
 * closest of them by edit distance.
 */

/** The keys the schema accepts at `path` (a table), or undefined when it is not a table. */
export function keysAt(schema: unknown, path: ReadonlyArray<PropertyKey>): string[] | undefined {
  const def = defOf(unwrap(schemaAt(schema, path)))
  return def?.type === 'object' ? Object.keys(def.shape as object) : undefined
}

/** True when the key at `path` may be absent (optional, or with a default). */
export function optionalAt(schema: unknown, path: ReadonlyArray<PropertyKey>): boolean {
  const type = defOf(schemaAt(schema, path))?.type
  return type === 'optional' || type === 'default' || type === 'prefault'
}

/** The schema of the value at `path`, wrappers included; undefined when the path leaves it. */
function schemaAt(schema: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let current = schema
  for (const part of path) {
    const def = defOf(unwrap(current))
    if (typeof part === 'number') {
      if (def?.type !== 'array') return undefined
      current = def.element
    } else {
      const shape = def?.type === 'object' ? (def.shape as Record<PropertyKey, unknown>) : undefined
      if (shape?.[part] === undefined) return undefined
      current = shape[part]
    }
  }
  return current
}

interface Def {
  type: string
  [key: string]: unknown
}

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def
}

/** Through the wrappers that do not change a value's shape (optional, default, a transform…). */
function unwrap(schema: unknown): unknown {
  let current = schema
  for (let i = 0; i < 10; i++) {
    const def = defOf(current)
    if (def === undefined) return current
    if (def.innerType !== undefined) current = def.innerType
    else if (def.type === 'pipe') current = def.in
    else return current
  }
  return current
}

/** The candidate closest to `word`, when close enough to be a typo (as commander judges). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    const length = Math.max(word.length, candidate.length)
    if (distance > 3 || (length - distance) / length <= 0.4) continue
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** Optimal string alignment distance: insertions, deletions, substitutions, transpositions. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) rows.push([i, ...new Array<number>(b.length).fill(0)])
  for (let j = 0; j <= b.length; j++) (rows[0] as number[])[j] = j
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[]
    const previous = rows[i - 1] as number[]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, ((rows[i - 2] as number[])[j - 2] as number) + 1)
      }
      row[j] = value
    }
  }
  return (rows[a.length] as number[])[b.length] as number
}
