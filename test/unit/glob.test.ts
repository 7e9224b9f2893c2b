/**
 * The config glob matcher (util/glob.ts): its semantics, case by case and against the regular
 * expression each place compiled globs to before (`*` → `.*`, `?` → `.`, the rest escaped, with
 * the flags that place used) on many random short patterns and names; and its time on names
 * built to make such an expression backtrack.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type GlobOptions, globsTest, globTest } from '../../src/util/glob.ts'

/** The regular expression a glob was compiled to, the reference for short names. */
function reference(pattern: string, options: GlobOptions): RegExp {
  const points = options.unit === 'code-point'
  const body = (points ? [...pattern] : pattern.split(''))
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('')
  const flags = `${options.lineTerminators === false ? '' : 's'}${points ? 'u' : ''}`
  return new RegExp(`^${body}$`, flags)
}

/** The options of the four places: CSP widgets and RBAC, filters, per-tool rate limits. */
const PLACES: Array<[string, GlobOptions]> = [
  ['code units, line terminators matched (CSP widget match, RBAC)', {}],
  ['code points, line terminators matched (expose/hide filters)', { unit: 'code-point' }],
  ['code units, line terminators literal only (per_tool)', { lineTerminators: false }],
  ['code points, line terminators literal only', { unit: 'code-point', lineTerminators: false }],
]

const TABLE: Array<[pattern: string, name: string, expected: boolean]> = [
  ['', '', true],
  ['', 'a', false],
  ['*', '', true],
  ['*', 'anything at all', true],
  ['**', '', true],
  ['**', 'abc', true],
  ['a**b', 'ab', true],
  ['a**b', 'axxb', true],
  ['a**b', 'axxbc', false],
  ['?', '', false],
  ['?', 'a', true],
  ['?', 'ab', false],
  ['??', 'ab', true],
  ['*?', '', false],
  ['*?', 'a', true],
  ['?*?', 'ab', true],
  ['?*?', 'a', false],
  ['read_*', 'read_file', true],
  ['read_*', 'read_', true],
  ['read_*', 'write_file', false],
  ['read_*', 'xread_file', false],
  ['*_file', 'read_file', true],
  ['*_file', '_file', true],
  ['*_file', 'read_files', false],
  ['*get*list*', 'get_list', true],
  ['*get*list*', 'forget_a_listing', true],
  ['*get*list*', 'list_get', false],
  ['ui://*/*.html', 'ui://w/a.html', true],
  ['ui://*/*.html', 'ui://a/b/c.html', true],
  ['ui://*/*.html', 'ui:///.html', true],
  ['ui://*/*.html', 'ui://w.html', false],
  ['ui://*/*.html', 'ui://w/axhtml', false],
  ['ui://*/*.html', 'ui://w/a.html?x', false],
  ['a*a*a*b', 'aaab', true],
  ['a*a*a*b', 'aaaaaaaa', false],
  ['a*a*a*b', 'aaaaaaab', true],
  ['mississippi*ssip?i', 'mississippi_mississippi', true],
  // Case sensitive.
  ['Read_*', 'read_file', false],
  // Regular-expression syntax is literal, backslash included: no escapes in a glob.
  ['a.b', 'a.b', true],
  ['a.b', 'axb', false],
  ['ui://w/(x)+[y]', 'ui://w/(x)+[y]', true],
  ['ui://w/(x)+[y]', 'ui://w/xx[y]', false],
  ['^a$|b{2}\\d', '^a$|b{2}\\d', true],
  ['^a$|b{2}\\d', 'bb1', false],
  ['\\*', '\\*', true],
  ['\\*', '\\anything', true],
  ['\\*', '*', false],
  ['a-z', 'a-z', true],
  ['a-z', 'b', false],
  // Unicode in the BMP: one character either way.
  ['caf?', 'café', true],
  ['?afé', 'café', true],
  ['日本*', '日本語', true],
  ['Straße', 'STRASSE', false],
]

/**
 * Where the places differ, one result a place (in PLACES' order: units, points, units without
 * line terminators, points without): an emoji is two code units and one code point; `*` and `?`
 * take a line terminator or leave it to a literal one.
 */
const BY_PLACE: Array<
  [pattern: string, name: string, results: [boolean, boolean, boolean, boolean]]
> = [
  ['?', '😀', [false, true, false, true]],
  ['??', '😀', [true, false, true, false]],
  ['a?b', 'a😀b', [false, true, false, true]],
  ['a??b', 'a😀b', [true, false, true, false]],
  ['*😀', 'x😀', [true, true, true, true]],
  ['😀*', '😀x', [true, true, true, true]],
  ['?😀', '😀😀', [false, true, false, true]],
  // A lone surrogate in the pattern: half of a pair in units, never in points.
  ['\uD83D*', '😀', [true, false, true, false]],
  ['\uD83D*', '\uD83Dx', [true, true, true, true]],
  ['*\uDE00', '😀', [true, false, true, false]],
  ['?', '\uD83D', [true, true, true, true]],
  ['*', 'a\nb', [true, true, false, false]],
  ['a*b', 'a\nb', [true, true, false, false]],
  ['a?b', 'a\nb', [true, true, false, false]],
  ['a?b', 'a\rb', [true, true, false, false]],
  ['a?b', 'a\u2028b', [true, true, false, false]],
  ['a?b', 'a\u2029b', [true, true, false, false]],
  // NEL is no line terminator to a regular expression's `.`.
  ['a?b', 'a\u0085b', [true, true, true, true]],
  ['a\n*', 'a\nb', [true, true, true, true]],
  ['*\n*', 'a\nb', [true, true, true, true]],
  ['*\n*', 'a\n\nb', [true, true, false, false]],
  ['*\n\n*', 'a\n\nb', [true, true, true, true]],
  ['a*', 'ab\n', [true, true, false, false]],
  ['*b', '\nb', [true, true, false, false]],
  ['a*b*c', 'a\nbc', [true, true, false, false]],
  ['a*b*c', 'ab\nc', [true, true, false, false]],
  ['a*\nb*c', 'ax\nbyc', [true, true, true, true]],
  ['a*\nb*c', 'a\nb\nbc', [true, true, false, false]],
  ['?\n', '😀\n', [false, true, false, true]],
]

describe('glob matcher: semantics', () => {
  for (const [label, options] of PLACES) {
    it(`the table, ${label}`, () => {
      for (const [pattern, name, expected] of TABLE) {
        assert.equal(globTest(pattern, options)(name), expected, `${pattern} ~ ${name}`)
      }
    })
  }

  it('code units or code points, line terminators taken or literal only', () => {
    for (const [pattern, name, results] of BY_PLACE) {
      PLACES.forEach(([label, options], place) => {
        const shown = `${label}: ${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`
        assert.equal(globTest(pattern, options)(name), results[place], shown)
      })
    }
  })

  it('several globs: any one matching, exact names and globs alike', () => {
    const test = globsTest(['exact', 'read_*', 'a?c', ''])
    for (const name of ['exact', 'read_x', 'abc', '']) assert.ok(test(name), name)
    for (const name of ['exact2', 'rea', 'abbc', 'x']) assert.ok(!test(name), name)
    assert.equal(globsTest([])('anything'), false)
    assert.equal(globsTest(['only', 'names'])('names'), true)
    assert.equal(globsTest(['a\nb'], { lineTerminators: false })('a\nb'), true)
  })

  it('agrees with the regular expression it replaces on random short patterns and names', () => {
    const patternChars = ['a', 'b', '*', '*', '?', '.', '\\', '(', '\n', '\r', '😀', '\uD83D', 'é']
    const nameChars = ['a', 'b', 'a', 'b', '.', '*', '?', '\n', '\u2028', '😀', '\uD83D', '\uDE00']
    let seed = 42
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 16) % n
    }
    const pick = (chars: string[], max: number) =>
      Array.from({ length: random(max + 1) }, () => chars[random(chars.length)]).join('')
    for (const [label, options] of PLACES) {
      for (let round = 0; round < 1500; round++) {
        const pattern = pick(patternChars, 7)
        const regex = reference(pattern, options)
        const test = globTest(pattern, options)
        for (let n = 0; n < 8; n++) {
          const name = pick(nameChars, 9)
          const shown = `${label}: ${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`
          assert.equal(test(name), regex.test(name), shown)
        }
      }
    }
  })
})

describe('glob matcher: names built to make a backtracking match retry every split', () => {
  const MEGA = 1_000_000
  const cases: Array<[pattern: string, name: string, expected: boolean]> = [
    // The fuzzer's repro: quadratic as a regular expression (15 s at 120,000 slashes).
    ['ui://*/*.html', `ui://${'/'.repeat(MEGA)}`, false],
    ['ui://*/*.html', `ui://${'/'.repeat(MEGA)}.html`, true],
    ['*get*list*', 'get'.repeat(MEGA / 3), false],
    ['files__*_*_read', `files__${'_'.repeat(MEGA)}`, false],
    // Of degree five as a regular expression.
    ['*_*_*_*_*x', '_'.repeat(MEGA), false],
    ['*a*a*a*a*a*b', 'a'.repeat(MEGA), false],
    ['*?*?*?*?*?*!', '?'.repeat(MEGA), false],
    // The worst case of this matcher: name × pattern steps, a segment retried at each place.
    [`*${'a'.repeat(10)}b`, 'a'.repeat(MEGA), false],
    ['*', 'x'.repeat(MEGA), true],
    ['*\n', 'x'.repeat(MEGA), false],
  ]
  for (const [label, options] of PLACES) {
    it(`a megabyte name is matched quickly, ${label}`, () => {
      const start = performance.now()
      for (const [pattern, name, expected] of cases) {
        assert.equal(globTest(pattern, options)(name), expected, pattern)
        assert.equal(globsTest(['exact', pattern], options)(name), expected, pattern)
      }
      // Generous: this takes tens of milliseconds; the regular expressions took minutes.
      const ms = performance.now() - start
      assert.ok(ms < 4000, `took ${Math.round(ms)} ms`)
    })
  }
})
