/** Reads a request body into memory with a hard size bound (413 past it). */
import type { IncomingMessage } from 'node:http'
import { PorticoError } from '../errors.ts'

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume() // drain so the connection can be reused
    return Promise.reject(new PorticoError('payload_too_large', { data: { limit } }))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (chunk: Buffer) => {
      if (failed) return
      size += chunk.length
      if (size > limit) {
        failed = true
        chunks.length = 0
        reject(new PorticoError('payload_too_large', { data: { limit } }))
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
