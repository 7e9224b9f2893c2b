/**
 * Reads a file a person wrote or a tool saved: a Portico config, an MCP client's JSON config.
 * UTF-8, with or without a byte-order mark (Notepad writes one, and JSON.parse refuses it). A
 * UTF-16 file (PowerShell 5's `>` and `Out-File` write those) is refused by name: read as
 * UTF-8 it fails on its first character with a syntax error that does not say why.
 */
import { readFileSync } from 'node:fs'

export class NotUtf8Error extends Error {
  constructor() {
    super('the file is UTF-16 text (PowerShell 5 writes that with > or Out-File); save it as UTF-8')
    this.name = 'NotUtf8Error'
  }
}

/** The file's text; file-system errors are thrown as they are. */
export function readTextFile(path: string): string {
  const bytes = readFileSync(path)
  if (isUtf16(bytes)) throw new NotUtf8Error()
  const hasBom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
  return bytes.toString('utf8', hasBom ? 3 : 0)
}

function isUtf16(bytes: Buffer): boolean {
  if (bytes.length < 2) return false
  return (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)
}
