/**
 * Best-effort mapping from a key path to its line in a TOML text, so config errors can name
 * the line. It understands `[table]`, `[[array]]` headers (a sub-table is looked for inside the
 * array element the path names), dotted headers, `key =` and dotted `key.sub =` lines, and a
 * key written only as a header (`[securty]`); when a key cannot be found it returns the line of
 * its nearest table.
 */

export function locateKey(text: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  if (text === '' || path.length === 0) return undefined
  const lines = text.split(/\r?\n/)
  const tables = collectTables(lines)
  const keys = path.filter((p): p is string => typeof p === 'string')
  const elements = arrayElements(path)
  // Longest table prefix first: `backends[1].timeout.seconds` lives under [backends.timeout].
  for (let depth = keys.length - 1; depth >= 0; depth--) {
    const tableName = keys.slice(0, depth).join('.')
    const table = pickTable(tables, tableName, elements, lines.length)
    if (table === undefined && depth > 0) continue
    const start = table?.line ?? 0
    const end = table?.end ?? firstHeader(tables) ?? lines.length
    const key = keys[depth]
    const found = key === undefined ? undefined : findKeyLine(lines, start, end, key)
    if (found !== undefined) return found + 1
    // A key written as a table of its own (`[securty]`, `[a.b.c]`, `[[composite_tools]]`).
    const header = pickTable(tables, keys.slice(0, depth + 1).join('.'), elements, lines.length, {
      within: true,
    })
    if (header !== undefined) return header.line + 1
    if (table !== undefined) return table.line + 1
  }
  return undefined
}

interface TableHeader {
  name: string
  line: number
  end: number
  /** `[[name]]`: one element of an array of tables. */
  array: boolean
}

function collectTables(lines: string[]): TableHeader[] {
  const tables: TableHeader[] = []
  lines.forEach((line, i) => {
    const match = /^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?/.exec(line)
    if (!match) return
    const name = (match[2] as string).replace(/\s*\.\s*/g, '.').replace(/["']/g, '')
    const previous = tables.at(-1)
    if (previous) previous.end = i
    tables.push({ name, line: i, end: lines.length, array: match[1] === '[[' })
  })
  return tables
}

/** The element index the path names for each array of tables on it: `backends` → 2. */
function arrayElements(path: ReadonlyArray<PropertyKey>): Map<string, number> {
  const elements = new Map<string, number>()
  const keys: string[] = []
  for (const part of path) {
    if (typeof part === 'number') elements.set(keys.join('.'), part)
    else if (typeof part === 'string') keys.push(part)
  }
  return elements
}

/**
 * The header of table `name`, looked for within the array elements the path names (the third
 * `[[backends]]`, then its `[backends.timeout]`); `within`: a header under `name` counts too.
 */
function pickTable(
  tables: TableHeader[],
  name: string,
  elements: Map<string, number>,
  lineCount: number,
  options: { within?: boolean } = {},
): TableHeader | undefined {
  if (name === '') return undefined
  let start = 0
  let end = lineCount
  const parts = name.split('.')
  for (let length = 1; length <= parts.length; length++) {
    const prefix = parts.slice(0, length).join('.')
    const index = elements.get(prefix)
    if (index === undefined) continue
    const inRange = tables.filter(
      (t) => t.array && t.name === prefix && t.line >= start && t.line < end,
    )
    const element = inRange[index]
    if (element === undefined) break
    start = element.line
    end = inRange[index + 1]?.line ?? end
  }
  const matches = (t: TableHeader) =>
    t.name === name || (options.within === true && t.name.startsWith(`${name}.`))
  return tables.find((t) => matches(t) && t.line >= start && t.line < end) ?? tables.find(matches)
}

function firstHeader(tables: TableHeader[]): number | undefined {
  return tables[0]?.line
}

/** `key =`, or a dotted key beginning with it (`key.sub =`). */
function findKeyLine(lines: string[], start: number, end: number, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const pattern = new RegExp(`^\\s*["']?${escaped}["']?\\s*(=|\\.)`)
  for (let i = start; i < end; i++) if (pattern.test(lines[i] as string)) return i
  return undefined
}
