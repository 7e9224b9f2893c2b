/**
 * What a JSON reader, strict or lenient, could read as the members of a message, found in the
 * text rather than a parse. A body sent around the MCP endpoint (transparent/other-mcp.ts) must
 * be judged as every reader an upstream may use would read it: JSON.parse keeps the last of two
 * `method`s and first-wins readers the first; Go's decoder reads the first value of `{…} x`,
 * Python's reads `NaN`; lenient readers (Gson's default, JSON5, JSONC) skip comments (`//`,
 * `/* … *\/`, `#`) and take single-quoted strings and bare keys and values. Every `method` any
 * of them could see counts.
 */
import type { JsonRpcId } from '../jsonrpc/message.ts'

export interface ScannedMessages {
  /** Every value a member named `method` (in `fold`'s case folding) has where a message is. */
  methods: string[]
  /** The `id` of a lone top-level object, when it is a string or a safe integer. */
  id?: JsonRpcId
}

type Expecting = 'key' | 'colon' | 'value' | 'next'

/**
 * One pass, strings and comments skipped whole. Where a message is: the top-level object, or
 * the objects of a top-level array. Only the types of those two levels are kept (a counter
 * for the rest), so a body of nested brackets costs no memory.
 */
export function scanMessages(text: string, fold: (key: string) => string): ScannedMessages {
  // Gson's lenient reader skips the `)]}'` line servers put before JSON against XSSI.
  if (text.startsWith(XSSI_PREFIX)) return scanMessages(text.slice(XSSI_PREFIX.length), fold)
  const methods: string[] = []
  let id: JsonRpcId | undefined
  let depth = 0
  let root = 0
  let second = 0
  // What the next token is, where a message is (set by the token reader and the punctuation).
  const at: { expecting: Expecting; key: string | undefined } = {
    expecting: 'next',
    key: undefined,
  }
  const inMessage = () =>
    (depth === 1 && root === OPEN_OBJECT) ||
    (depth === 2 && root === OPEN_ARRAY && second === OPEN_OBJECT)
  const token = (value: string, quoted: boolean) => {
    if (!inMessage()) return
    if (at.expecting === 'key') {
      at.key = value
      at.expecting = 'colon'
    } else if (at.expecting === 'value' && at.key !== undefined) {
      const name = fold(at.key)
      if (name === 'method') methods.push(value)
      else if (name === 'id' && id === undefined && root === OPEN_OBJECT) id = idOf(value, quoted)
      at.expecting = 'next'
      at.key = undefined
    }
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE || c === APOSTROPHE) {
      const end = quotedEnd(text, i, c)
      token(unescaped(text.slice(i + 1, end)), true)
      i = end
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++
      if (depth === 1) root = c
      else if (depth === 2) second = c
      at.key = undefined
      at.expecting = inMessage() ? 'key' : 'next'
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth = Math.max(0, depth - 1)
      at.key = undefined
      at.expecting = 'next'
    } else if (c === COLON || c === EQUALS) {
      // Gson's lenient reader also takes `=` and `=>` between a name and its value.
      if (at.expecting === 'colon') at.expecting = 'value'
      if (c === EQUALS && text.charCodeAt(i + 1) === GREATER) i++
    } else if (c === COMMA || c === SEMICOLON) {
      // And `;` between members.
      at.key = undefined
      at.expecting = inMessage() ? 'key' : 'next'
    } else if (c === SLASH && text.charCodeAt(i + 1) === STAR) {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? text.length : end + 1
    } else if ((c === SLASH && text.charCodeAt(i + 1) === SLASH) || c === HASH) {
      i = lineEnd(text, i)
    } else if (!isSpace(c)) {
      let end = i + 1
      while (end < text.length && !endsBareWord(text.charCodeAt(end))) end++
      // A bare key may hold escapes too (JSON5: `\u006dethod`).
      token(unescaped(text.slice(i, end)), false)
      i = end - 1
    }
  }
  return id === undefined ? { methods } : { methods, id }
}

const XSSI_PREFIX = ")]}'\n"

const QUOTE = 0x22
const APOSTROPHE = 0x27
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const COLON = 0x3a
const COMMA = 0x2c
const SLASH = 0x2f
const STAR = 0x2a
const HASH = 0x23
const BACKSLASH = 0x5c
const EQUALS = 0x3d
const GREATER = 0x3e
const SEMICOLON = 0x3b

/** White space as the most lenient reader takes it (JSON5: any Unicode space, NBSP, \v, \f). */
function isSpace(c: number): boolean {
  if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return true
  if (c === 0x200b) return true // jsonc-parser's, not /\s/'s
  return (c === 0x0b || c === 0x0c || c >= 0x80) && /\s/.test(String.fromCharCode(c))
}

/** Where a line comment ends: at a LF, a CR alone, or a Unicode line or paragraph separator. */
function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return i
  }
  return text.length
}

/**
 * Where a bare word (a lenient reader's unquoted key or value) ends: at Gson's delimiters
 * (`{}[]:,;=#/\` and white space). A quote inside one is part of it (`a'`), not a string's
 * start: read as one, it hid what followed.
 */
function endsBareWord(c: number): boolean {
  return (
    isSpace(c) ||
    c === COLON ||
    c === COMMA ||
    c === OPEN_OBJECT ||
    c === CLOSE_OBJECT ||
    c === OPEN_ARRAY ||
    c === CLOSE_ARRAY ||
    c === SLASH ||
    c === BACKSLASH ||
    c === HASH ||
    c === EQUALS ||
    c === SEMICOLON
  )
}

/** The index of the quote closing the string that opens at `start` (or the text's end). */
function quotedEnd(text: string, start: number, quote: number): number {
  let i = start + 1
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === BACKSLASH) i += 2
    else if (c === quote) return i
    else i++
  }
  return text.length
}

const LINE_BREAKS = new Set(['\n', '\r', '\r\n', '\u2028', '\u2029'])

const ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }

/**
 * A string's content with its escapes read leniently: `\uXXXX`, JSON5's `\xXX`, the named ones;
 * any other escape is its character.
 */
function unescaped(raw: string): string {
  if (!raw.includes('\\')) return raw
  return raw.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r\n|[\s\S])/g, (_, escaped: string) => {
    // JSON5's line continuation: a backslash before a line break stands for nothing.
    if (LINE_BREAKS.has(escaped)) return ''
    return escaped.length > 1
      ? String.fromCharCode(Number.parseInt(escaped.slice(1), 16))
      : (ESCAPES[escaped] ?? escaped)
  })
}

function idOf(value: string, quoted: boolean): JsonRpcId | undefined {
  if (quoted) return value
  if (!/^-?\d{1,15}$/.test(value)) return undefined
  return Number(value)
}
