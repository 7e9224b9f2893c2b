/** Filter patterns (`expose_*` / `hide_*`): globs, or mcp-proxy's regular expressions. */

/**
 * mcp-proxy's `re:<regex>` filter patterns: a regular expression, unanchored (a partial match)
 * unless it uses `^` and `$`. Everything else is a glob.
 */
export const REGEX_PREFIX = 're:'

/**
 * Flags of every filter expression. `u` (Unicode mode) refuses escapes that JavaScript would
 * otherwise read as literal letters: mcp-proxy's patterns are Rust's, where `\p{Lu}` is a
 * class and `\A` an anchor; compiled without `u` they would match something else, and a
 * `hide_*` pattern would hide nothing. Refused at load instead.
 */
export const PATTERN_FLAGS = 'su'

/** Why a filter pattern cannot be compiled (an invalid `re:` expression), or undefined. */
export function patternProblem(pattern: string): string | undefined {
  if (!pattern.startsWith(REGEX_PREFIX)) return undefined
  try {
    new RegExp(pattern.slice(REGEX_PREFIX.length), PATTERN_FLAGS)
    return undefined
  } catch (error) {
    return `invalid regular expression: ${(error as Error).message}`
  }
}
