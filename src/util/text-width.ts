/**
 * How many terminal cells a string takes, for aligned CLI tables: East Asian wide and fullwidth
 * characters (CJK ideographs, kana, Hangul, fullwidth forms) and emoji shown as emoji take two,
 * combining marks, zero-width and format characters none, everything else one (ambiguous-width
 * characters as one, as terminals outside CJK locales show them). Counted per grapheme cluster
 * (Intl.Segmenter), so an emoji sequence joined by ZWJ, a flag or a letter with its accents is
 * one character. ASCII-only text, the common case, is its length without any of that.
 *
 * Why not a library (string-width): it is not a dependency yet, and the rule is this one
 * table of ranges from Unicode's EastAsianWidth.txt (W and F) plus two property escapes.
 */

/** Code point ranges of East Asian Wide (W) and Fullwidth (F) that are not emoji. */
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f], // Hangul Jamo initial consonants
  [0x2e80, 0x303e], // CJK radicals, Kangxi radicals, ideographic description, CJK symbols
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, CJK compatibility
  [0x3400, 0x4dbf], // CJK unified ideographs extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xa000, 0xa4cf], // Yi syllables and radicals
  [0xa960, 0xa97f], // Hangul Jamo extended-A
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19], // vertical forms
  [0xfe30, 0xfe6f], // CJK compatibility forms, small form variants
  [0xff00, 0xff60], // fullwidth ASCII variants
  [0xffe0, 0xffe6], // fullwidth signs
  [0x16fe0, 0x16fe4], // ideographic symbols
  [0x17000, 0x18cff], // Tangut, Khitan
  [0x1aff0, 0x1b2ff], // Kana supplement and extensions, Nushu
  [0x1f200, 0x1f2ff], // enclosed ideographic supplement
  [0x20000, 0x2fffd], // CJK unified ideographs extensions B–F, compatibility supplement
  [0x30000, 0x3fffd], // CJK unified ideographs extensions G–H
]

function isWide(codePoint: number): boolean {
  // The ranges are few and sorted: stop at the first that starts past the code point.
  for (const [start, end] of WIDE) {
    if (codePoint < start) return false
    if (codePoint <= end) return true
  }
  return false
}

const ASCII = /^[\x20-\x7e]*$/
/** Shown as emoji (two cells): emoji presentation by default, or asked for with VS16. */
const EMOJI = /\p{Emoji_Presentation}|\p{Extended_Pictographic}\uFE0F/u
/** Takes no cell: combining marks, format characters (ZWJ, ZWSP, bidi marks), controls. */
const ZERO = /^[\p{M}\p{Cf}\p{Cc}]+$/u

let segmenter: Intl.Segmenter | undefined

function graphemes(text: string): Iterable<{ segment: string }> {
  segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' })
  return segmenter.segment(text)
}

/** The cells one grapheme cluster takes: 0, 1 or 2. */
function clusterWidth(cluster: string): number {
  if (ZERO.test(cluster)) return 0
  if (EMOJI.test(cluster)) return 2
  return isWide(cluster.codePointAt(0) ?? 0) ? 2 : 1
}

/** The cells `text` takes in a terminal. */
export function displayWidth(text: string): number {
  if (ASCII.test(text)) return text.length
  let width = 0
  for (const { segment } of graphemes(text)) width += clusterWidth(segment)
  return width
}

/** `text` padded with spaces on the right to `width` cells. */
export function padEndWidth(text: string, width: number): string {
  const missing = width - displayWidth(text)
  return missing > 0 ? text + ' '.repeat(missing) : text
}

/** `text` padded with spaces on the left to `width` cells. */
export function padStartWidth(text: string, width: number): string {
  const missing = width - displayWidth(text)
  return missing > 0 ? ' '.repeat(missing) + text : text
}

/** The longest start of `text` (whole grapheme clusters) that takes at most `cells` cells. */
export function headWithin(text: string, cells: number): string {
  if (ASCII.test(text)) return text.slice(0, Math.max(0, cells))
  let width = 0
  let end = 0
  for (const { segment } of graphemes(text)) {
    const next = width + clusterWidth(segment)
    if (next > cells) break
    width = next
    end += segment.length
  }
  return text.slice(0, end)
}

/** The longest end of `text` (whole grapheme clusters) that takes at most `cells` cells. */
export function tailWithin(text: string, cells: number): string {
  if (ASCII.test(text)) return cells <= 0 ? '' : text.slice(-cells)
  const clusters = [...graphemes(text)].map((s) => s.segment)
  let width = 0
  let start = text.length
  for (let i = clusters.length - 1; i >= 0; i--) {
    const cluster = clusters[i] as string
    const next = width + clusterWidth(cluster)
    if (next > cells) break
    width = next
    start -= cluster.length
  }
  return text.slice(start)
}
