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
