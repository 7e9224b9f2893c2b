/**
 * The text of a JSON body in any encoding a server's JSON reader may accept, not only the
 * UTF-8 that MCP requires: a UTF-8 byte-order mark, UTF-16 and UTF-32 (either byte order, with
 * or without a mark), recognized as RFC 4627 §3 and Python's `json.loads` (bytes) recognize
 * them, by the mark or the pattern of zero bytes in the first four. Portico reads MCP only as
 * UTF-8, but a check that an upstream must never receive some message (other-mcp.ts) has to
 * read the body as the upstream could.
 */

/** The body as text; undefined when its UTF-32 holds something that is no code point. */
export function jsonTextOf(body: Buffer): string | undefined {
  const [b0, b1, b2, b3] = body
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return body.toString('utf8', 3)
  if (b0 === 0xff && b1 === 0xfe) {
    return b2 === 0 && b3 === 0 ? utf32(body.subarray(4), true) : utf16(body.subarray(2), true)
  }
  if (b0 === 0xfe && b1 === 0xff) return utf16(body.subarray(2), false)
  if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return utf32(body.subarray(4), false)
  if (body.length >= 4) {
    // JSON text starts with two ASCII characters: their zero bytes name the encoding.
    if (b0 === 0 && b1 === 0 && b2 === 0 && b3 !== 0) return utf32(body, false)
    if (b0 !== 0 && b1 === 0 && b2 === 0 && b3 === 0) return utf32(body, true)
    if (b0 === 0 && b1 !== 0 && b2 === 0) return utf16(body, false)
    if (b0 !== 0 && b1 === 0 && b3 === 0) return utf16(body, true)
  }
  return body.toString('utf8')
}

function utf16(bytes: Buffer, littleEndian: boolean): string {
  if (littleEndian) return bytes.toString('utf16le')
  const swapped = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2)))
  return swapped.swap16().toString('utf16le')
}

function utf32(bytes: Buffer, littleEndian: boolean): string | undefined {
  let text = ''
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    const point = littleEndian ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i)
    if (point > 0x10ffff) return undefined
    text += String.fromCodePoint(point)
  }
  return text
}
