/**
 * Terminal widths for the CLI tables: CJK and emoji take two cells, combining marks and
 * zero-width characters none, and tables pad, cut and align by cells, never by UTF-16 code
 * units (which put every column after a `工具` or a `🔧` cell out of line).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { middleTruncate, renderTable, truncate } from '../../src/cli/format.ts'
import {
  displayWidth,
  headWithin,
  padEndWidth,
  padStartWidth,
  tailWithin,
} from '../../src/util/text-width.ts'

describe('displayWidth', () => {
  it('counts terminal cells', () => {
    const cases: Array<[string, number]> = [
      ['', 0],
      ['echo', 4],
      ['工具', 4],
      ['ünïcødé_工具_🔧', 15],
      ['한국어', 6],
      ['カタカナ', 8],
      ['ｱｲｳ', 3], // halfwidth katakana
      ['ＡＢ', 4], // fullwidth Latin
      ['🔧', 2],
      ['👩‍💻', 2], // one ZWJ sequence
      ['🇫🇷', 2], // one flag
      ['e\u0301', 1], // e + combining acute
      ['a\u200bb', 2], // zero-width space
      ['❤', 1], // text presentation
      ['❤\ufe0f', 2], // emoji presentation
      ['𠀀', 2], // CJK extension B (a surrogate pair)
    ]
    for (const [text, width] of cases) assert.equal(displayWidth(text), width, text)
  })

  it('pads and cuts by cells, never inside a character', () => {
    assert.equal(padEndWidth('工具', 6), '工具  ')
    assert.equal(padStartWidth('🔧', 4), '  🔧')
    assert.equal(padEndWidth('toolong', 3), 'toolong')
    assert.equal(headWithin('工具工具', 3), '工')
    assert.equal(tailWithin('工具🔧', 3), '🔧')
    assert.equal(headWithin('👩‍💻x', 2), '👩‍💻')
    assert.equal(truncate('🔧🔧🔧🔧', 5), '🔧🔧…')
    assert.equal(truncate('🔧🔧🔧🔧', 4), '🔧…')
    assert.equal(middleTruncate('工具工具工具工具', 7), '工…工具')
    assert.equal(middleTruncate('工具工具工具工具', 8), '工具…具')
    assert.equal(middleTruncate('ui://widget/abcdefgh.html', 12), 'ui://w….html')
  })
})

describe('renderTable with wide characters', () => {
  it('every column starts at the same cell on every line', () => {
    const out = renderTable(
      ['TOOL', 'CALLS', 'ERRORS'],
      [
        ['echo', '6', '0%'],
        ['ünïcødé_工具_🔧', '1', '100.0%'],
        ['👩‍💻🇫🇷', '12', '0%'],
        ['e\u0301cho', '3', '0%'],
      ],
    )
    // The first column is 15 cells wide (the name with 工具 and 🔧), the others right-aligned.
    assert.deepEqual(out.trimEnd().split('\n'), [
      `TOOL${' '.repeat(11)}  CALLS  ERRORS`,
      `echo${' '.repeat(11)}      6      0%`,
      'ünïcødé_工具_🔧      1  100.0%',
      `👩‍💻🇫🇷${' '.repeat(11)}     12      0%`,
      `e\u0301cho${' '.repeat(11)}      3      0%`,
    ])
    for (const line of out.trimEnd().split('\n')) assert.equal(displayWidth(line), 30, line)
  })
})
