/**
 * Whether a parsed JSON value nests deeper than a bound, walked with an explicit stack: the
 * values this guards against are the ones deep enough to overflow a recursive walk.
 */
export function nestedDeeperThan(value: unknown, maxDepth: number): boolean {
  const values: unknown[] = [value]
  const depths: number[] = [1]
  while (values.length > 0) {
    const current = values.pop()
    const depth = depths.pop() as number
    if (current === null || typeof current !== 'object') continue
    if (depth > maxDepth) return true
    for (const item of Array.isArray(current) ? current : Object.values(current)) {
      values.push(item)
      depths.push(depth + 1)
    }
  }
  return false
}

/**
 * Where a parsed value first nests deeper than `maxDepth` (the keys and indexes down to a value
 * past the bound), or undefined: for an error that says where (a config file's line).
 */
export function pathDeeperThan(
  value: unknown,
  maxDepth: number,
): Array<string | number> | undefined {
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value, path: [] }]
  while (stack.length > 0) {
    const { value: current, path } = stack.pop() as { value: unknown; path: Array<string | number> }
    if (current === null || typeof current !== 'object') continue
    if (path.length >= maxDepth) return path
    const entries: Array<[string | number, unknown]> = Array.isArray(current)
      ? current.map((item, i) => [i, item])
      : Object.entries(current)
    for (const [key, item] of entries) stack.push({ value: item, path: [...path, key] })
  }
  return undefined
}
