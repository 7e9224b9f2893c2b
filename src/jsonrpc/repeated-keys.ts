/**
 * Whether a JSON text names one key twice in an object. JSON.parse keeps the last; other
 * readers keep the first (gjson-style lookups, some streaming parsers). An answer Portico
 * checked, and found nothing to change in, is passed on byte for byte: with a repeated key a
 * host could read what was never checked (a widget's CSP written twice, the checked one last).
 * Such an answer is written again from what was checked instead.
 */

/** Text that may hold what the checks look at (a widget's CSP), or keys spelt with escapes. */
const MAY_MATTER = /csp|widget|ui:\/\/|skybridge|mcp-app|\\u/i

export function mayReadTwoWays(text: string): boolean {
  return MAY_MATTER.test(text) && hasRepeatedKey(text)
}

interface Level {
  /** The keys of an object so far; undefined for an array. */
  keys: Set<string> | undefined
  expectingKey: boolean
}

/** One pass over the text, strings skipped whole; keys compared as JSON.parse reads them. */
export function hasRepeatedKey(text: string): boolean {
  const levels: Level[] = []
  let top: Level | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i)
      if (top?.keys !== undefined && top.expectingKey) {
        const raw = text.slice(i + 1, end)
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw
        if (top.keys.has(key)) return true
        top.keys.add(key)
        top.expectingKey = false
      }
      i = end
    } else if (c === 0x7b /* { */) {
      top = { keys: new Set(), expectingKey: true }
      levels.push(top)
    } else if (c === 0x5b /* [ */) {
      top = { keys: undefined, expectingKey: false }
      levels.push(top)
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      levels.pop()
      top = levels[levels.length - 1]
    } else if (c === 0x2c /* , */ && top?.keys !== undefined) {
      top.expectingKey = true
    }
  }
  return false
}

/** The index of the quote closing the string that opens at `start` (or the text's end). */
function stringEnd(text: string, start: number): number {
  let i = start + 1
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 0x5c /* \ */) i += 2
    else if (c === 0x22) return i
    else i++
  }
  return text.length
}
