/**
 * Validates a whole configuration and finds every problem in one run. zod skips a refinement
 * (duplicate backend names, a stdio backend without a command, ambiguous prefixes…) while
 * anything it covers is invalid, so a single parse reports problems in rounds: fix eleven, and
 * four more appear. Here, after a failed parse, the invalid parts are set aside (an invalid
 * array element as a whole, any other invalid key by itself) and the rest is parsed again, so
 * the refinements run on what is valid; paths and `name[i]` references are mapped back to the
 * file's own indices. Removing invalid parts can only hide cross-table problems, never invent
 * them (a rule that something is missing, which removal could invent, is marked
 * `WHOLE_FILE_ONLY` and judged by the first pass alone), so no pass reports a problem the file
 * does not have.
 */
import type { ZodType } from 'zod'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { closest, keysAt, optionalAt } from './suggest.ts'

export interface Issue {
  path: PropertyKey[]
  message: string
}

interface ZodIssueLike {
  code: string
  path: PropertyKey[]
  message: string
  keys?: string[]
  /** An `invalid_union`'s issues, one list per alternative. */
  errors?: ZodIssueLike[][]
  params?: { [NEEDS_WHOLE_FILE]?: boolean }
}

/**
 * Marks a custom issue that says something is missing from the whole file (a rule nothing
 * satisfies): reported by the first pass only, as a later one, run without the parts set
 * aside, would find it missing for want of them.
 */
export const NEEDS_WHOLE_FILE = 'needsWholeFile'
export const WHOLE_FILE_ONLY = { [NEEDS_WHOLE_FILE]: true } as const

const MAX_PASSES = 5

/** Parses `input`; on failure returns every problem found over successive passes. */
export function validateAll<T>(
  schema: ZodType<T>,
  input: JsonObject,
): { ok: true; data: T } | { ok: false; issues: Issue[] } {
  const first = schema.safeParse(input)
  if (first.success) return { ok: true, data: first.data }
  const issues: Issue[] = []
  const seen = new Set<string>()
  const reported = new Set<string>()
  const indices = new Map<string, number[]>()
  const current: unknown = structuredClone(input)
  let found = first.error.issues as ZodIssueLike[]
  for (let pass = 0; pass < MAX_PASSES && found.length > 0; pass++) {
    let added = 0
    const judged = pass === 0 ? found : found.filter((issue) => !issue.params?.[NEEDS_WHOLE_FILE])
    for (const issue of expand(schema, judged)) {
      const mapped = {
        path: mapPath(issue.path, indices),
        message: mapMessage(issue.message, indices),
      }
      const at = JSON.stringify(mapped.path)
      // A later pass sees the key set aside (a required one is then "missing"): said already.
      if (pass > 0 && reported.has(at)) continue
      const key = `${at}\u0000${mapped.message}`
      if (seen.has(key)) continue
      seen.add(key)
      reported.add(at)
      issues.push(mapped)
      added++
    }
    if (added === 0 || !setAside(schema, current, found, indices)) break
    const next = schema.safeParse(current)
    found = next.success ? [] : (next.error.issues as ZodIssueLike[])
  }
  return { ok: false, issues }
}

/** One issue per unknown key (each on its own line), with a "did you mean" when one is close. */
function expand(schema: unknown, issues: readonly ZodIssueLike[]): Issue[] {
  const out: Issue[] = []
  for (const issue of issues) {
    const meant = meantAlternative(issue)
    if (meant !== undefined) {
      out.push(...expand(schema, meant))
      continue
    }
    if (issue.code !== 'unrecognized_keys' || !issue.keys) {
      out.push({ path: issue.path, message: issue.message })
      continue
    }
    const known = keysAt(schema, issue.path) ?? []
    for (const key of issue.keys) {
      const suggestion = closest(key, known)
      out.push({
        path: [...issue.path, key],
        message: `unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
      })
    }
  }
  return out
}

/**
 * A value that fits none of a union's alternatives (`timeout = 30` or `[timeout] seconds = 60`)
 * but has the type of exactly one of them was meant as that one: its problems, at their own
 * path (`timeout.seconds`, on its line), say more than "expected a duration or a table".
 */
function meantAlternative(issue: ZodIssueLike): ZodIssueLike[] | undefined {
  if (issue.code !== 'invalid_union' || !issue.errors) return undefined
  const meant = issue.errors.filter((alternative) => !alternative.every(wrongType))
  if (meant.length !== 1) return undefined
  return (meant[0] as ZodIssueLike[]).map((inner) => ({
    ...inner,
    path: [...issue.path, ...inner.path],
  }))
}

/** An issue saying only that the value is not of the alternative's type at all. */
function wrongType(issue: ZodIssueLike): boolean {
  if (issue.path.length > 0) return false
  if (issue.code === 'invalid_type') return true
  return issue.code === 'invalid_union' && (issue.errors ?? []).every((a) => a.every(wrongType))
}

/**
 * Removes what the issues point at from `value`: an unknown key, or a key the schema lets be
 * absent, by itself; anything else inside an array element takes the whole element with it
 * (removing a required key would only report it missing). Records which original indices
 * each array keeps. Returns false when nothing could be removed (a problem on the whole file).
 */
function setAside(
  schema: unknown,
  value: unknown,
  issues: readonly ZodIssueLike[],
  indices: Map<string, number[]>,
): boolean {
  const elements = new Map<string, { array: unknown[]; drop: Set<number> }>()
  const keys: Array<{ parent: JsonObject; key: string }> = []
  const dropKey = (path: ReadonlyArray<PropertyKey>) => {
    const parent = resolve(value, path.slice(0, -1))
    const key = path.at(-1)
    if (isObject(parent) && typeof key === 'string') keys.push({ parent, key })
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      for (const key of issue.keys) dropKey([...issue.path, key])
      continue
    }
    const arrayAt = issue.path.findLastIndex((part) => typeof part === 'number')
    if (arrayAt < 0 || optionalAt(schema, issue.path)) {
      dropKey(issue.path)
      continue
    }
    const array = resolve(value, issue.path.slice(0, arrayAt))
    if (!Array.isArray(array)) continue
    const id = JSON.stringify(issue.path.slice(0, arrayAt))
    const entry = elements.get(id) ?? { array, drop: new Set<number>() }
    entry.drop.add(issue.path[arrayAt] as number)
    elements.set(id, entry)
  }
  for (const { parent, key } of keys) delete parent[key]
  for (const [id, { array, drop }] of elements) {
    const original = indices.get(id) ?? array.map((_, i) => i)
    indices.set(
      id,
      original.filter((_, i) => !drop.has(i)),
    )
    array.splice(0, array.length, ...array.filter((_, i) => !drop.has(i)))
  }
  return keys.length > 0 || elements.size > 0
}

function resolve(value: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let current = value
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<PropertyKey, unknown>)[part]
  }
  return current
}

/** A path of the pruned value mapped to the file's indices. */
function mapPath(path: ReadonlyArray<PropertyKey>, indices: Map<string, number[]>): PropertyKey[] {
  const out: PropertyKey[] = []
  path.forEach((part, i) => {
    if (typeof part !== 'number') {
      out.push(part)
      return
    }
    // Arrays are keyed by their path in the pruned value, which has the same keys as the file.
    const kept = indices.get(JSON.stringify(path.slice(0, i)))
    out.push(kept?.[part] ?? part)
  })
  return out
}

/** `backends[1]` in a message (a refinement naming another element) mapped the same way. */
function mapMessage(message: string, indices: Map<string, number[]>): string {
  return message.replace(/\b([A-Za-z_]\w*)\[(\d+)\]/g, (whole, name: string, index: string) => {
    const kept = indices.get(JSON.stringify([name]))
    const original = kept?.[Number(index)]
    return original === undefined ? whole : `${name}[${original}]`
  })
}
