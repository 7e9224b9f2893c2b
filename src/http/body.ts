/**
 * Reading bodies into memory, always with a bound: a client's request body (413 past it) and
 * an upstream's answer (read up to a limit, the rest left to stream).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Readable, Transform } from 'node:stream'
import {
  brotliDecompress,
  createBrotliDecompress,
  createGunzip,
  createInflate,
  gunzip,
  inflate,
  type ZlibOptions,
} from 'node:zlib'
import { PorticoError } from '../errors.ts'
import { ID_WINDOW_BYTES, leadingIdOf } from '../jsonrpc/message.ts'
import { lookupTable } from '../util/lookup-table.ts'

/**
 * An upstream JSON answer up to this size is read whole before anything is sent: one write for
 * headers and body, and a body that breaks off can still become a proper JSON-RPC error.
 * Larger answers are streamed as they arrive.
 */
export const WHOLE_ANSWER_BYTES = 64 * 1024

/** A request body, whole, or `payload_too_large` past `limit`. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) return refuseTooLarge(req, limit)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (chunk: Buffer) => {
      if (failed) return
      size += chunk.length
      if (size > limit) {
        failed = true
        chunks.push(chunk)
        const head = headOf(chunks)
        chunks.length = 0
        reject(tooLarge(limit, head))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (!failed)
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size))
    })
    req.on('error', (cause) => {
      if (!failed)
        reject(new PorticoError('invalid_request', { message: 'Request body aborted', cause }))
    })
  })
}

/**
 * A body declared larger than `limit`: refused once its first chunk is in (or it ended), so
 * the refusal can carry the request's id; the rest is drained so the connection can be reused.
 * The wait is the one a body within the limit has, for its first chunk only.
 */
function refuseTooLarge(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (req.readableEnded || req.destroyed) return Promise.reject(tooLarge(limit, undefined))
  // A client waiting for `100 Continue`, which was not sent for a body declared over the
  // bound (`continueWithin`, http/expect-continue.ts), sends no chunk to wait for: refused now, without its
  // id, and the connection closed (the body it announced never comes).
  if (/100-continue/i.test(req.headers.expect ?? '')) {
    req.resume()
    return Promise.reject(tooLarge(limit, undefined, { connection: 'close' }))
  }
  return new Promise((_, reject) => {
    const refuse = (chunk?: unknown) => {
      for (const event of ['data', 'end', 'error', 'close']) req.off(event, refuse)
      req.resume() // drain so the connection can be reused
      reject(tooLarge(limit, Buffer.isBuffer(chunk) ? chunk : undefined))
    }
    for (const event of ['data', 'end', 'error', 'close']) req.on(event, refuse)
  })
}

/** The first bytes read, up to the window `leadingIdOf` reads. */
function headOf(chunks: Buffer[]): Buffer {
  const first = chunks[0] as Buffer
  if (first.length >= ID_WINDOW_BYTES || chunks.length === 1) return first
  const head: Buffer[] = []
  let size = 0
  for (const chunk of chunks) {
    if (size >= ID_WINDOW_BYTES) break
    head.push(chunk)
    size += chunk.length
  }
  return Buffer.concat(head, size)
}

function tooLarge(
  limit: number,
  head: Buffer | undefined,
  headers?: Record<string, string>,
): PorticoError {
  const id = head === undefined ? undefined : leadingIdOf(head)
  return new PorticoError('payload_too_large', {
    data: { limit },
    ...(id === undefined ? {} : { id }),
    ...(headers === undefined ? {} : { headers }),
  })
}

type Decoder = (
  body: Buffer,
  options: ZlibOptions,
  done: (error: Error | null, out: Buffer) => void,
) => void
const DECODERS: Record<string, Decoder> = lookupTable({
  gzip: gunzip,
  'x-gzip': gunzip,
  deflate: inflate,
  br: brotliDecompress,
})
/** The same codings as streams, to read the start of a body too large to decode whole. */
const STREAM_DECODERS: Record<string, () => Transform> = lookupTable({
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
})

/**
 * The first `ID_WINDOW_BYTES` a compressed body decodes to (fewer if it ends first), for the
 * id of a request refused as too large once decoded: its refusal names the id as a plain
 * body's does. Only that much is decoded; the rest is never produced.
 */
function decodedHead(body: Buffer, coding: string): Promise<Buffer> {
  const create = STREAM_DECODERS[coding]
  if (create === undefined) return Promise.resolve(Buffer.alloc(0))
  return new Promise((resolve) => {
    const stream = create()
    const chunks: Buffer[] = []
    let size = 0
    const done = () => {
      stream.removeAllListeners('data')
      stream.destroy()
      resolve(Buffer.concat(chunks, size).subarray(0, ID_WINDOW_BYTES))
    }
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size >= ID_WINDOW_BYTES) done()
    })
    stream.on('end', done)
    stream.on('error', done)
    stream.end(body)
  })
}

/**
 * A request body as its sender wrote it, before `Content-Encoding` (gzip, deflate, br): some
 * HTTP clients compress what they POST. Decoded off the event loop (zlib's thread pool), and
 * bounded by `limit` after decoding too (413), so a small compressed body cannot expand into
 * gigabytes. Without a coding (or `identity`) the body is returned as it is.
 */
export function decodeContentEncoding(
  body: Buffer,
  headers: IncomingHttpHeaders,
  limit: number,
): Buffer | Promise<Buffer> {
  const coding = headers['content-encoding']?.trim().toLowerCase()
  if (coding === undefined || coding === '' || coding === 'identity') return body
  const decoder = DECODERS[coding]
  if (decoder === undefined) {
    throw new PorticoError('unsupported_media_type', {
      message: `Unsupported Media Type: Content-Encoding "${coding.slice(0, 40)}" (gzip, deflate and br are read)`,
    })
  }
  return new Promise((resolve, reject) => {
    decoder(body, { maxOutputLength: limit }, (error, out) => {
      if (error === null) return resolve(out)
      if (
        error instanceof RangeError ||
        (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
      ) {
        decodedHead(body, coding).then((head) => reject(tooLarge(limit, head)), reject)
        return
      }
      reject(
        new PorticoError('invalid_request', {
          message: `Invalid Request: the body is not valid ${coding} (Content-Encoding)`,
        }),
      )
    })
  })
}

/** The request's headers without `Content-Encoding`, for a body that was decoded. */
export function withoutContentEncoding(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { 'content-encoding': _coding, ...rest } = headers
  return rest
}

/**
 * Buffers a body until it ends or passes `limit` (then pauses it, so the rest can be piped).
 * Plain 'data' listeners: an async iterator costs a promise and a microtask hop per chunk.
 */
export function collectUpTo(
  body: Readable,
  limit: number,
): Promise<{ chunks: Buffer[]; size: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    // It may have ended after an earlier read stopped listening (its last chunk was read).
    if (body.readableEnded) return resolve({ chunks, size, complete: true })
    const cleanup = (): void => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      chunks.push(chunk)
      if (size <= limit) return
      cleanup()
      body.pause()
      resolve({ chunks, size, complete: false })
    }
    const onEnd = (): void => {
      cleanup()
      resolve({ chunks, size, complete: true })
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(error)
    }
    body.on('data', onData)
    body.on('end', onEnd)
    body.on('error', onError)
    // A body an earlier read paused stays paused on a new 'data' listener: resume it.
    body.resume()
  })
}

/** A body as text, whole, or `response_too_large` past `limit`. */
export async function readText(body: Readable, limit: number): Promise<string> {
  const { chunks, size, complete } = await collectUpTo(body, limit)
  if (!complete) {
    body.destroy()
    throw new PorticoError('response_too_large', { message: `Answer larger than ${limit} bytes` })
  }
  return Buffer.concat(chunks, size).toString('utf8')
}
