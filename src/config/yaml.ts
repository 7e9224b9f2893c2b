/**
 * YAML config files (mcp-proxy's `.yaml` / `.yml`: the same keys as its TOML): parsed with the
 * `yaml` package, loaded only for such files, and a locator from a key path to its line, so
 * problems name the line as they do for TOML.
 */
import { createRequire } from 'node:module'
import type { Document, LineCounter } from 'yaml'
import type { JsonObject } from '../jsonrpc/message.ts'

const require = createRequire(import.meta.url)

/** Whether `file` is YAML by its extension (anything else is TOML, as in mcp-proxy). */
export function isYamlFile(file: string | undefined): boolean {
  return file !== undefined && /\.ya?ml$/i.test(file)
}

export interface ParsedYaml {
  value: JsonObject
  /** The line (1-based) of a key path, or of its nearest ancestor present in the file. */
  locate(path: ReadonlyArray<PropertyKey>): number | undefined
}

export class YamlSyntaxError extends Error {
  readonly line: number | undefined

  constructor(message: string, line: number | undefined) {
    super(message)
    this.line = line
  }
}

/**
 * The first line of the yaml package's message, but for a document nested thousands deep,
 * whose parse overflows the stack: named for what it is, not as V8's RangeError.
 */
function reasonOf(error: { message: string }): string {
  if (error.message.includes('Maximum call stack size exceeded')) return 'nested too deeply'
  return error.message.split('\n')[0] ?? error.message
}

export function parseYaml(text: string): ParsedYaml {
  const yaml = require('yaml') as typeof import('yaml')
  const lines = new yaml.LineCounter()
  const document = yaml.parseDocument(text, { lineCounter: lines, prettyErrors: false })
  const error = document.errors[0]
  if (error !== undefined) {
    const line = lines.linePos(error.pos[0]).line
    throw new YamlSyntaxError(`invalid YAML: ${reasonOf(error)}`, line)
  }
  const complexKey = firstCollectionKey(yaml, document)
  if (complexKey !== undefined) {
    throw new YamlSyntaxError(
      'invalid YAML: a key must be a plain value, not a list or a mapping',
      lines.linePos(complexKey).line,
    )
  }
  let value: unknown
  try {
    value = document.toJS({ maxAliasCount: 100 })
  } catch (error) {
    // The yaml package refuses alias bombs here ("Excessive alias count"), as a plain error.
    throw new YamlSyntaxError(`invalid YAML: ${reasonOf(error as Error)}`, undefined)
  }
  if (holdsItself(value)) {
    throw new YamlSyntaxError(
      'invalid YAML: an alias refers to a node that contains it (a config cannot be circular)',
      undefined,
    )
  }
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw new YamlSyntaxError('invalid YAML: the file must be a mapping of keys', 1)
  }
  return { value: (value ?? {}) as JsonObject, locate: (path) => lineOf(document, lines, path) }
}

/**
 * Whether a value contains itself (`a: &x {b: *x}` makes one): such an object has no end, and
 * everything after the parse (interpolation, validation) would recurse without bound.
 */
function holdsItself(value: unknown, ancestors: Set<object> = new Set()): boolean {
  if (value === null || typeof value !== 'object') return false
  if (ancestors.has(value)) return true
  ancestors.add(value)
  const children = Array.isArray(value) ? value : Object.values(value)
  for (const child of children) if (holdsItself(child, ancestors)) return true
  ancestors.delete(value)
  return false
}

function lineOf(
  document: Document,
  lines: LineCounter,
  path: ReadonlyArray<PropertyKey>,
): number | undefined {
  for (let depth = path.length; depth > 0; depth--) {
    // A key's line is its own, not its value's (a block value starts on the next line).
    const start =
      keyStart(document, path.slice(0, depth - 1), path[depth - 1]) ??
      rangeOf(document.getIn(path.slice(0, depth) as unknown[], true))?.[0]
    if (start !== undefined) return lines.linePos(start).line
  }
  return undefined
}

type Ranged = { range?: [number, number, number] } | undefined

function rangeOf(node: unknown): [number, number, number] | undefined {
  return (node as Ranged)?.range
}

/** Where key `key` of the mapping at `parent` is written (a node read by shape, not class). */
function keyStart(
  document: Document,
  parent: ReadonlyArray<PropertyKey>,
  key: PropertyKey | undefined,
): number | undefined {
  if (typeof key !== 'string') return undefined
  const map = parent.length === 0 ? document.contents : document.getIn(parent as unknown[], true)
  const items = (map as { items?: unknown } | null)?.items
  if (!Array.isArray(items)) return undefined
  for (const pair of items as Array<{ key?: unknown }>) {
    const written = pair.key as { value?: unknown } | undefined
    if (written?.value === key) return rangeOf(written)?.[0]
  }
  return undefined
}

/**
 * Where the first key that is a list or a mapping (`? [a, b]`) starts. A config has no use for
 * one, and turning it into an object would make the yaml package stringify it with a Node
 * process warning on stderr.
 */
function firstCollectionKey(yaml: typeof import('yaml'), document: Document): number | undefined {
  let offset: number | undefined
  yaml.visit(document, {
    Pair(_, pair) {
      if (!yaml.isCollection(pair.key)) return undefined
      offset = pair.key.range?.[0] ?? 0
      return yaml.visit.BREAK
    },
  })
  return offset
}
