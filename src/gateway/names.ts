/**
 * The gateway's naming rules, as pure functions: `{backend}{sep}{name}` for tools and prompts
 * (shortened deterministically past 64 characters), reversible namespacing of resource URIs
 * that keeps their scheme (so `ui://` stays `ui://`), and glob matching for filters.
 */
import { createHash } from 'node:crypto'
import { PATTERN_FLAGS, REGEX_PREFIX } from '../config/patterns.ts'
import { type GlobOptions, globsTest } from '../util/glob.ts'

export { namespaceUri, unnamespaceUri } from '../config/resource-uri.ts'

/** LLM APIs reject tool names longer than this. */
export const MAX_NAME_LENGTH = 64
const HASH_LENGTH = 8

/** What LLM APIs accept in a tool name besides its length (`^[a-zA-Z0-9_-]{1,64}$`). */
const NOT_PORTABLE = /[^A-Za-z0-9_-]/g

/**
 * The client-facing name of a backend's tool or prompt. A name the LLM APIs would refuse is
 * made portable: past 64 characters, or with characters outside `A-Z a-z 0-9 _ -` in the
 * backend's own name (MCP allows `db.query` or `repo/search`), those characters become `_`,
 * the result keeps at most its first 55 characters, then `_` and 8 hex digits of the SHA-256 of
 * the full name, so the same input always gives the same output and distinct names stay
 * distinct. The separator is the operator's choice and is kept as it is.
 */
export function namespaced(backend: string, separator: string, name: string): string {
  const full = `${backend}${separator}${name}`
  const portable = name.replace(NOT_PORTABLE, '_')
  if (full.length <= MAX_NAME_LENGTH && portable === name) return full
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_LENGTH)
  const head = `${backend}${separator}${portable}`
  return `${head.slice(0, MAX_NAME_LENGTH - HASH_LENGTH - 1)}_${hash}`
}

/** Whether a client-facing name has the shape `namespaced` gives a shortened one (`…_1a2b3c4d`). */
export function looksShortened(name: string): boolean {
  return name.length > HASH_LENGTH + 1 && SHORTENED.test(name)
}

const SHORTENED = /_[0-9a-f]{8}$/

/** Whether `name` carries the prefix of `backend`; returns the local part when it does. */
export function localPart(backend: string, separator: string, name: string): string | undefined {
  const prefix = backend + separator
  return name.startsWith(prefix) ? name.slice(prefix.length) : undefined
}

/** As the filters' regular expressions read a name (PATTERN_FLAGS: `s` and `u`). */
const FILTER_GLOBS: GlobOptions = { unit: 'code-point', lineTerminators: true }

/**
 * Compiles filter patterns into one test: globs (`*` any run, `?` one code point, else
 * literal; util/glob.ts, linear in the name) and `re:` regular expressions (the operator's,
 * in one alternation, as mcp-proxy reads them).
 */
export function globMatcher(patterns: readonly string[]): (name: string) => boolean {
  const globs = globsTest(
    patterns.filter((pattern) => !pattern.startsWith(REGEX_PREFIX)),
    FILTER_GLOBS,
  )
  const expressions = patterns
    .filter((pattern) => pattern.startsWith(REGEX_PREFIX))
    .map((pattern) => `(?:${pattern.slice(REGEX_PREFIX.length)})`)
  if (expressions.length === 0) return globs
  const regex = new RegExp(expressions.join('|'), PATTERN_FLAGS)
  return (name) => globs(name) || regex.test(name)
}

/** The allow/deny decision of one expose/hide pair (expose wins when set; they are exclusive). */
export function visibility(
  expose: readonly string[],
  hide: readonly string[],
): (name: string) => boolean {
  if (expose.length > 0) return globMatcher(expose)
  if (hide.length > 0) {
    const hidden = globMatcher(hide)
    return (name) => !hidden(name)
  }
  return () => true
}
