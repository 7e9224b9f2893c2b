/**
 * `${VAR}` interpolation in config strings, so secrets live in the environment rather than
 * in the file. `${NAME:-default}` reads `default` when NAME is unset (itself interpolated, so
 * defaults nest: `${A:-${B}}`). `$${...}` escapes a literal `${`. A missing variable is a
 * config problem.
 */
import type { ConfigProblem } from './load.ts'

export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
  path = '',
): unknown {
  if (typeof value === 'string') return interpolateString(value, env, problems, path)
  if (Array.isArray(value)) {
    return value.map((item, i) => interpolate(item, env, problems, `${path}[${i}]`))
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key
      // Assigned, it would set the object's prototype, not a key: what it holds (an `[auth]`
      // table) would be inherited and never checked. This is the first walk of every file.
      if (key === '__proto__') {
        problems.push({ path: at, message: 'the key "__proto__" is not allowed' })
        continue
      }
      out[key] = interpolate(item, env, problems, at)
    }
    return out
  }
  return value
}

function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
  path: string,
  depth = 0,
): string {
  let out = ''
  let from = 0
  // Its own expression: the defaults read below run this function again.
  const heads = new RegExp(HEAD.source, 'g')
  for (let head = heads.exec(text); head !== null; head = heads.exec(text)) {
    const [whole, escaped, name = '', opener] = head
    const reference = referenceAt(text, head.index, whole.length, opener === ':-')
    if (reference === undefined) break // an unclosed default: the rest is literal text
    out += text.slice(from, head.index)
    from = heads.lastIndex = reference.end
    if (escaped) {
      out += text.slice(head.index + 1, reference.end)
      continue
    }
    const value = env[name]
    if (value !== undefined) out += value
    else if (reference.fallback === undefined) problems.push({ path, message: unsetMessage(name) })
    else if (depth === MAX_DEFAULT_DEPTH) {
      problems.push({ path, message: `defaults nested deeper than ${MAX_DEFAULT_DEPTH}` })
    } else out += interpolateString(reference.fallback, env, problems, path, depth + 1)
  }
  return out + text.slice(from)
}

/** `${NAME}`, `${NAME:-…` (a default follows), or either escaped as `$${`. */
const HEAD = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(\}|:-)/g

/** How deep `${A:-${B:-${C}}}` may nest (a file's string, not a program). */
const MAX_DEFAULT_DEPTH = 8

/**
 * Where the reference whose head starts at `start` ends, and its default: read up to the `}`
 * that closes it, counting the `${` of the references nested in the default (`${A:-${B}}`
 * gives `A` the default `${B}`; a pattern stopping at the first `}` gave it the literal `${B`
 * and left a `}`). Undefined when nothing closes it.
 */
function referenceAt(
  text: string,
  start: number,
  headLength: number,
  hasDefault: boolean,
): { end: number; fallback?: string } | undefined {
  const afterHead = start + headLength
  if (!hasDefault) return { end: afterHead }
  let open = 1
  for (let i = afterHead; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      open++
      i++
    } else if (text[i] === '}' && --open === 0) {
      return { end: i + 1, fallback: text.slice(afterHead, i) }
    }
  }
  return undefined
}

function unsetMessage(name: string): string {
  return `environment variable ${name} is not set`
}

/** The variable a problem says is unset, if that is what it says. */
export function unsetVariable(problem: ConfigProblem): string | undefined {
  return /^environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set$/.exec(problem.message)?.[1]
}
