/**
 * Best-effort mapping from a key path to its line in a TOML text, so config errors can name
 * the line. It understands `[table]`, `[[array]]` headers (a sub-table is looked for inside the
 * array element the path names), dotted headers, `key =` and dotted `key.sub =` lines, and a
 * key written only as a header (`[securty]`); when a key cannot be found it returns the line of
 * its nearest table.
 */

export function locateKey(text: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  return keyLocator(text).key(path)
}

/**
 * Locators over one text, its lines and tables read once: a file with thousands of problems
 * was split and scanned again for each (reporting 3,000 of them took a minute, on the thread
 * that serves, for `POST /admin/config/validate`).
 */
export function keyLocator(text: string): {
  /** The line of a key path (as `locateKey`). */
  key(path: ReadonlyArray<PropertyKey>): number | undefined
  /** The line of the header of table `name` (`[name]` or `[[name]]`), if it has one. */
  header(name: string): number | undefined
} {
  const lines = text === '' ? [] : text.split(/\r?\n/)
  const tables = collectTables(lines)
  return {
    key: (path) => (lines.length === 0 ? undefined : locateIn(lines, tables, path)),
    header: (name) => {
      const table = tables.find((t) => t.name === name)
      return table === undefined ? undefined : table.line + 1
    },
  }
}

function locateIn(
  lines: string[],
  tables: TableHeader[],
  path: ReadonlyArray<PropertyKey>,
): number | undefined {
  if (path.length === 0) return undefined
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
    if (found !== undefined && key !== undefined)
      return (elementLine(lines, found, end, indexAfter(path, key)) ?? found) + 1
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

/** The array index the path names right after `key` (`api_keys[2]` → 2), if any. */
function indexAfter(path: ReadonlyArray<PropertyKey>, key: string): number | undefined {
  const at = path.lastIndexOf(key)
  const next = at === -1 ? undefined : path[at + 1]
  return typeof next === 'number' ? next : undefined
}

/**
 * The line where element `index` of the inline array `key = [` on line `from` starts: an entry
 * of a multi-line `api_keys = [ … ]` is named by its own line, not the array's. Strings and
 * comments are skipped; nested arrays and inline tables count as one element.
 */
function elementLine(
  lines: string[],
  from: number,
  end: number,
  index: number | undefined,
): number | undefined {
  const first = lines[from] ?? ''
  const open = first.indexOf('[', first.indexOf('=') + 1)
  if (index === undefined || open === -1) return undefined
  let depth = 0
  let element = 0
  let quote: string | undefined
  let expecting = false
  for (let line = from; line < end; line++) {
    const text = lines[line] ?? ''
    for (let i = line === from ? open : 0; i < text.length; i++) {
      const c = text[i] as string
      if (quote !== undefined) {
        if (c === '\\' && quote === '"') i++
        else if (c === quote) quote = undefined
        continue
      }
      if (c === '#') break
      // The first character of an element, after the `[` or a `,` at the array's own depth.
      if (depth === 1 && expecting && c !== ' ' && c !== '\t' && c !== ',' && c !== ']') {
        if (element === index) return line
        expecting = false
      }
      if (c === '"' || c === "'") quote = c
      else if (c === '[' || c === '{') {
        depth++
        if (depth === 1) expecting = true
      } else if (c === ']' || c === '}') {
        depth--
        if (depth === 0) return undefined
      } else if (c === ',' && depth === 1) {
        element++
        expecting = true
      }
    }
  }
  return undefined
}
