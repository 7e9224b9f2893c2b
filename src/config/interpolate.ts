/**
 * `${VAR}` interpolation in config strings, so secrets live in the environment rather than
 * in the file. `$${...}` escapes a literal `${`. A missing variable is a config problem.
 */
import type { ConfigProblem } from './load.ts'

const PATTERN = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

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
): string {
  return text.replace(
    PATTERN,
    (whole, escaped: string | undefined, name: string, fallback?: string) => {
      if (escaped) return whole.slice(1)
      const value = env[name]
      if (value !== undefined) return value
      if (fallback !== undefined) return fallback
      problems.push({ path, message: unsetMessage(name) })
      return ''
    },
  )
}

function unsetMessage(name: string): string {
  return `environment variable ${name} is not set`
}

/** The variable a problem says is unset, if that is what it says. */
export function unsetVariable(problem: ConfigProblem): string | undefined {
  return /^environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set$/.exec(problem.message)?.[1]
}
