/**
 * Config globs (`*` any run of characters, `?` exactly one, everything else literal, the whole
 * name matched, case sensitive) tested against names the other side chooses: widget URIs from
 * an upstream, tool names from a client. No regular expression: `*` compiled to `.*` backtracks
 * through every split, quadratic in the name's length for a glob of two stars (`ui://*\/*.html`
 * against a megabyte of slashes blocked the event loop for minutes), of degree k for k stars.
 * This is the iterative wildcard match with one backtrack point (the last `*` seen): at most
 * len(name) × len(pattern) steps, whatever the name.
 */

export interface GlobOptions {
  /**
   * What one character is, for `?` and each step of `*`: a UTF-16 code unit (as `.` in a
   * regular expression without the `u` flag; an emoji is two) or a code point (`u` flag: a
   * surrogate pair is one, a lone surrogate one too). Default `'code-unit'`.
   */
  unit?: 'code-unit' | 'code-point'
  /**
   * Whether `*` and `?` match line terminators (`\n`, `\r`, U+2028, U+2029), as `.` with the
   * `s` flag; when false, only a literal one in the pattern does. Default true.
   */
  lineTerminators?: boolean
}

/** Whether a name matches. */
export type GlobTest = (name: string) => boolean

const STAR = -1
const ANY = -2
/** Past the pattern's last token: equal to no character. */
const END = -3

/** Whether `pattern` has a wildcard (a string without one matches only itself). */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?')
}

/** The test of one glob. */
export function globTest(pattern: string, options: GlobOptions = {}): GlobTest {
  if (!isGlob(pattern)) return (name) => name === pattern
  const points = options.unit === 'code-point'
  const lineTerminators = options.lineTerminators ?? true
  const tokens = tokensOf(pattern, points)
  if (tokens.length === 1 && lineTerminators && tokens[0] === STAR) return () => true
  return (name) => matches(tokens, name, points, lineTerminators)
}

/**
 * The test of several globs: true when any matches. Names without a wildcard are looked up in
 * a set; the globs are then tried one by one (each linear, so the whole is too).
 */
export function globsTest(patterns: readonly string[], options: GlobOptions = {}): GlobTest {
  const exact = new Set<string>()
  const globs: GlobTest[] = []
  for (const pattern of patterns) {
    if (isGlob(pattern)) globs.push(globTest(pattern, options))
    else exact.add(pattern)
  }
  if (globs.length === 0) return (name) => exact.has(name)
  return (name) => {
    if (exact.has(name)) return true
    for (const glob of globs) if (glob(name)) return true
    return false
  }
}

/** The pattern as characters, `*` as STAR and `?` as ANY; a run of stars is one. */
function tokensOf(pattern: string, points: boolean): Int32Array {
  const tokens: number[] = []
  for (let i = 0; i < pattern.length; ) {
    const char = points ? (pattern.codePointAt(i) as number) : pattern.charCodeAt(i)
    i += char > 0xffff ? 2 : 1
    const token = char === 0x2a ? STAR : char === 0x3f ? ANY : char
    if (token !== STAR || tokens[tokens.length - 1] !== STAR) tokens.push(token)
  }
  return Int32Array.from(tokens)
}

function isLineTerminator(char: number): boolean {
  return char === 0x0a || char === 0x0d || char === 0x2028 || char === 0x2029
}

/**
 * Stars match as little as they can: the segment after the last star seen is placed at its
 * first fit, and on a mismatch that star takes one character more and the segment is tried
 * there. Earlier segments never move: the leftmost fit of each leaves the most name to the
 * rest, so no later failure is cured by moving one (also when stars cannot take a line
 * terminator: a segment that could also fit further on leaves none in between). Each retry
 * starts one character further, and reads at most the segment's length: O(name × pattern).
 */
function matches(
  tokens: Int32Array,
  name: string,
  points: boolean,
  lineTerminators: boolean,
): boolean {
  const last = tokens.length
  let t = 0
  let i = 0
  /** The last star seen (its token index), -1 before any. */
  let star = -1
  /** Where that star's match ends: its segment is being tried from here. */
  let from = 0
  while (i < name.length) {
    const char = points ? (name.codePointAt(i) as number) : name.charCodeAt(i)
    const token = t < last ? (tokens[t] as number) : END
    if (token === char || (token === ANY && (lineTerminators || !isLineTerminator(char)))) {
      t++
      i += char > 0xffff ? 2 : 1
    } else if (token === STAR) {
      // A trailing star takes the rest of the name.
      if (t === last - 1) return lineTerminators || !hasLineTerminator(name, i)
      star = t++
      from = i
    } else {
      if (star < 0) return false
      const taken = points ? (name.codePointAt(from) as number) : name.charCodeAt(from)
      if (!lineTerminators && isLineTerminator(taken)) return false
      from += taken > 0xffff ? 2 : 1
      i = from
      t = star + 1
    }
  }
  // The name is read: what is left of the pattern must be a star (a run of them is one).
  return t === last || (t === last - 1 && tokens[t] === STAR)
}

function hasLineTerminator(name: string, from: number): boolean {
  for (let i = from; i < name.length; i++) if (isLineTerminator(name.charCodeAt(i))) return true
  return false
}
