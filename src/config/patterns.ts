/** Filter patterns (`expose_*` / `hide_*`): globs, or mcp-proxy's regular expressions. */

/**
 * mcp-proxy's `re:<regex>` filter patterns: a regular expression, unanchored (a partial match)
 * unless it uses `^` and `$`. Everything else is a glob.
 */
export const REGEX_PREFIX = 're:'

/** Why a filter pattern cannot be compiled (an invalid `re:` expression), or undefined. */
export function patternProblem(pattern: string): string | undefined {
  if (!pattern.startsWith(REGEX_PREFIX)) return undefined
  try {
    new RegExp(pattern.slice(REGEX_PREFIX.length))
    return undefined
  } catch (error) {
    return `invalid regular expression: ${(error as Error).message}`
  }
}
