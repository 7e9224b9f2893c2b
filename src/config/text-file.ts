/**
 * Files a person wrote or a tool saved: a Portico config, an MCP client's JSON (or JSONC)
 * config. Read as UTF-8, with or without a byte-order mark (Notepad writes one, and JSON.parse
 * refuses it). A UTF-16 file (PowerShell 5's `>` and `Out-File` write those) is refused by
 * name: read as UTF-8 it fails on its first character with a syntax error that does not say
 * why. The errors of this module name a place or an encoding, never the file's text (it may
 * hold secrets, and `POST /admin/config/validate` answers with them).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'
import { createScanner, type ParseError, parse, printParseErrorCode } from 'jsonc-parser'
import { isYamlFile, parseYaml, YamlSyntaxError } from './yaml.ts'

/** A file that cannot be read as what it should be; the message never quotes its text. */
export class FileFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FileFormatError'
  }
}

export class NotUtf8Error extends FileFormatError {
  /** The line of the first byte that is no UTF-8 (undefined for a UTF-16 file). */
  readonly line: number | undefined
  constructor(line?: number) {
    super(
      line === undefined
        ? 'the file is UTF-16 text (PowerShell 5 writes that with > or Out-File); save it as UTF-8'
        : 'the text is not UTF-8 from this line on (saved as Latin-1 or Windows-1252?): save it as UTF-8',
    )
    this.name = 'NotUtf8Error'
    this.line = line
  }
}

/** The most a config or client config file may hold: far past any hand-written one. */
export const MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024

/**
 * The file's text; file-system errors are thrown as they are. Only a regular file of at most
 * MAX_TEXT_FILE_BYTES is read: the path replaced by a FIFO or `/dev/zero` (a symbolic link to
 * it) blocked the process for ever on a reload, and a 200 MB file held it for seconds. Opened
 * without blocking, so a FIFO with no writer is refused rather than waited on.
 */
export function readTextFile(path: string): string {
  return decodeText(readFileBytes(path))
}

/**
 * The bytes of a regular file of at most MAX_TEXT_FILE_BYTES, else a FileFormatError (the
 * guard of readTextFile, for a reader that only compares bytes: the config watcher).
 */
export function readFileBytes(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const info = fstatSync(fd)
    if (!info.isFile()) throw new FileFormatError('not a regular file')
    if (info.size > MAX_TEXT_FILE_BYTES) {
      throw new FileFormatError(`larger than ${MAX_TEXT_FILE_BYTES / 1024 / 1024} MiB`)
    }
    return readFileSync(fd)
  } finally {
    closeSync(fd)
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Bytes a person saved, as text: UTF-8, with or without a byte-order mark. Anything else is
 * refused with the line it goes wrong at: read leniently, a Latin-1 `é` became U+FFFD in the
 * running config without a word.
 */
export function decodeText(bytes: Buffer): string {
  if (isUtf16(bytes)) throw new NotUtf8Error()
  const hasBom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
  const body = bytes.subarray(hasBom ? 3 : 0)
  try {
    return STRICT_UTF8.decode(body)
  } catch {
    throw new NotUtf8Error(firstBadLine(body))
  }
}

/** The line (from 1) holding the first bytes that are no UTF-8; `\n` is never inside a character. */
function firstBadLine(bytes: Buffer): number {
  let line = 1
  let start = 0
  while (start <= bytes.length) {
    const end = bytes.indexOf(0x0a, start)
    const stop = end === -1 ? bytes.length : end
    try {
      STRICT_UTF8.decode(bytes.subarray(start, stop))
    } catch {
      return line
    }
    if (end === -1) break
    line++
    start = end + 1
  }
  return line
}

function isUtf16(bytes: Buffer): boolean {
  if (bytes.length < 2) return false
  return (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)
}

/**
 * An MCP client's JSON config. VS Code's `mcp.json` is JSONC (comments and trailing commas,
 * and its own template has them), so it is read as VS Code reads it; plain JSON is a subset.
 * The error gives the place, never the file's text (it may hold secrets). The value itself
 * comes from JSON.parse of the text without its comments and trailing commas: it keeps a key
 * such as `__proto__` as the key it is (the JSONC parser's objects would take it as their
 * prototype).
 */
export function parseClientJson(text: string): unknown {
  const errors: ParseError[] = []
  try {
    parse(text, errors, { allowTrailingComma: true })
  } catch (error) {
    // The JSONC parser descends one call per level: tens of thousands of nested brackets end
    // it with "Maximum call stack size exceeded", which says nothing of the file.
    if (error instanceof RangeError) throw new FileFormatError('nested too deeply to be read')
    throw error
  }
  const first = errors[0]
  if (first === undefined) return JSON.parse(plainJson(text))
  const before = text.slice(0, first.offset).split('\n')
  const column = (before.at(-1)?.length ?? 0) + 1
  throw new FileFormatError(
    `not valid JSON at line ${before.length}, column ${column} (${printParseErrorCode(first.error)})`,
  )
}

/**
 * An MCP client's config by its file's extension: YAML for `.yaml` / `.yml` (Continue's
 * `config.yaml`), else JSON as `parseClientJson` reads it.
 */
export function parseClientConfig(text: string, file: string): unknown {
  if (!isYamlFile(file)) return parseClientJson(text)
  try {
    return parseYaml(text).value
  } catch (error) {
    if (!(error instanceof YamlSyntaxError)) throw error
    throw new FileFormatError(
      error.line === undefined ? error.message : `${error.message} (line ${error.line})`,
    )
  }
}

/**
 * jsonc-parser's token kinds (a `const enum` in its types, which this build's isolated modules
 * cannot read).
 */
const Token = {
  CloseBrace: 2,
  CloseBracket: 4,
  Comma: 5,
  LineComment: 12,
  BlockComment: 13,
  EOF: 17,
} as const

/** Valid JSONC as JSON: its tokens as written, without comments and trailing commas. */
function plainJson(text: string): string {
  const scanner = createScanner(text, true)
  let out = ''
  let comma = false
  for (let kind = scanner.scan(); kind !== Token.EOF; kind = scanner.scan()) {
    if (kind === Token.LineComment || kind === Token.BlockComment) continue
    if (kind === Token.Comma) {
      comma = true
      continue
    }
    const closes = kind === Token.CloseBrace || kind === Token.CloseBracket
    if (comma && !closes) out += ','
    comma = false
    out += text.slice(scanner.getTokenOffset(), scanner.getTokenOffset() + scanner.getTokenLength())
  }
  return out
}
