/**
 * Best-effort mapping from a key path to its line in a TOML text, so config errors can name
 * the line. It understands `[table]`, `[[array]]` headers, dotted headers and `key =` lines;
 * when a key cannot be found it returns the line of its nearest table.
 */

export function locateKey(text: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  if (text === '' || path.length === 0) return undefined
  const lines = text.split(/\r?\n/)
  const tables = collectTables(lines)
  const keys = path.filter((p): p is string => typeof p === 'string')
  // Longest table prefix first: `backends[1].timeout.seconds` lives under [backends.timeout].
  for (let depth = keys.length - 1; depth >= 0; depth--) {
    const tableName = keys.slice(0, depth).join('.')
    const index = arrayIndexFor(path, depth)
    const table = pickTable(tables, tableName, index)
    if (table === undefined && depth > 0) continue
    const start = table?.line ?? 0
    const end = table?.end ?? firstHeader(tables) ?? lines.length
    const key = keys[depth]
    const found = key === undefined ? undefined : findKeyLine(lines, start, end, key)
    if (found !== undefined) return found + 1
    if (table !== undefined) return table.line + 1
  }
  return undefined
}

interface TableHeader {
  name: string
  line: number
  end: number
  /** Occurrence number for `[[array]]` tables. */
  occurrence: number
}

function collectTables(lines: string[]): TableHeader[] {
  const tables: TableHeader[] = []
  const seen = new Map<string, number>()
  lines.forEach((line, i) => {
    const match = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line)
    if (!match) return
    const name = (match[1] as string).replace(/\s*\.\s*/g, '.').replace(/["']/g, '')
    const occurrence = seen.get(name) ?? 0
    seen.set(name, occurrence + 1)
    const previous = tables.at(-1)
    if (previous) previous.end = i
    tables.push({ name, line: i, end: lines.length, occurrence })
  })
  return tables
}

function arrayIndexFor(path: ReadonlyArray<PropertyKey>, depth: number): number {
  let seenKeys = 0
  let index = 0
  for (const part of path) {
    if (typeof part === 'number') index = part
    else if (++seenKeys > depth) break
  }
  return index
}

function pickTable(tables: TableHeader[], name: string, index: number): TableHeader | undefined {
  if (name === '') return undefined
  const matches = tables.filter((t) => t.name === name)
  return matches.find((t) => t.occurrence === index) ?? matches[0]
}

function firstHeader(tables: TableHeader[]): number | undefined {
  return tables[0]?.line
}

function findKeyLine(lines: string[], start: number, end: number, key: string): number | undefined {
  const pattern = new RegExp(`^\\s*["']?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*=`)
  for (let i = start; i < end; i++) if (pattern.test(lines[i] as string)) return i
  return undefined
}
