/**
 * Upstream answers in a content coding Portico did not ask for. Portico reads MCP answers (SSE
 * events, outcomes, list filters, CSP rewriting) and so asks for them uncoded
 * (`accept-encoding: identity`, pipeline/call.ts); an upstream that compresses anyway (some
 * frameworks' middleware does, whatever the client accepts) sent bytes Portico parsed as text:
 * its error event then went out under the upstream's `Content-Encoding: gzip`, which no client
 * could decode. Such an answer is decoded here as it streams (zlib's own streams, off the event
 * loop), its coding headers dropped; the reader's bounds apply to the decoded bytes, so a small
 * compressed body cannot expand past them. A coding Portico cannot read is refused with an error
 * that says so. Answers Portico did not ask uncoded (forwarded pages), and those it only relays
 * (`isRead`), pass as they are.
 */
import { PassThrough, type Readable } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import { PorticoError } from '../errors.ts'
import { type HeaderMap, UNCODED } from '../http/headers.ts'
import { lookupTable } from '../util/lookup-table.ts'

const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = lookupTable({
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
})

/** Whether a request asked its answer uncoded, so that one coded anyway must be decoded. */
export function asksIdentity(headers: HeaderMap): boolean {
  return headers['accept-encoding'] === UNCODED
}

export interface Uncoded {
  headers: HeaderMap
  body: Readable
}

/**
 * An answer's body as the upstream meant it before its content coding (a decoding stream), with
 * its coding headers dropped; undefined when it has none. Throws for a coding Portico cannot
 * read (after releasing the body).
 */
export function uncoded(
  headers: HeaderMap,
  body: () => Readable,
  label: string,
): Uncoded | undefined {
  const header = headers['content-encoding']
  if (header === undefined || !isRead(headers)) return undefined
  const coding = String(header).trim().toLowerCase()
  if (coding === '' || coding === 'identity') return undefined
  const create = DECODERS[coding]
  if (create === undefined) {
    body().destroy()
    throw new PorticoError('upstream_bad_response', {
      message: `Upstream ${label} answered in a content coding Portico cannot read ("${coding.slice(0, 40)}"; gzip, deflate and br are read)`,
      data: { upstream: label },
    })
  }
  return { headers: withoutCoding(headers), body: decoding(body(), create(), coding, label) }
}

function decoding(
  source: Readable,
  decoder: NodeJS.ReadWriteStream,
  coding: string,
  label: string,
): Readable {
  const out = new PassThrough()
  // The answer may be dropped unread (a refusal, a batch's failed element): an 'error' event
  // without a listener would end the process; a reader still sees the error when it comes.
  out.on('error', () => {})
  source.on('error', (error) => out.destroy(error))
  decoder.on('error', (error: NodeJS.ErrnoException) => {
    // zlib's errors say the bytes are not in the coding: said so, not as an early end.
    out.destroy(
      new PorticoError('upstream_bad_response', {
        message: `Upstream ${label} sent an answer that is not valid ${coding} (Content-Encoding)`,
        data: { upstream: label },
        cause: error,
      }),
    )
  })
  // The reader stopping (a bound, the client gone) stops the decoder and the upstream's body.
  out.once('close', () => {
    source.destroy()
    ;(decoder as unknown as Readable).destroy()
  })
  source.pipe(decoder).pipe(out)
  return out
}

/**
 * Whether Portico reads the answer (JSON, SSE). One it only relays (an error page, a redirect's
 * or a 202's empty body) keeps its coding and its headers: the client reads it as it would have
 * directly, and an empty body labelled gzip (compression middleware tags every answer) is not
 * judged invalid gzip.
 */
function isRead(headers: HeaderMap): boolean {
  const type = String(headers['content-type'] ?? '').toLowerCase()
  return type.startsWith('text/event-stream') || type.includes('json')
}

function withoutCoding(headers: HeaderMap): HeaderMap {
  const { 'content-encoding': _coding, 'content-length': _length, ...rest } = headers
  return rest
}
