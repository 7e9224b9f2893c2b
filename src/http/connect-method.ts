/**
 * `CONNECT` asks a listener to open a tunnel, which no Portico listener does. Node hands such a
 * request to a `connect` listener and, without one, closes the socket without a word: the
 * client got no status at all. It gets 405 with a JSON-RPC error, as other refused request
 * targets get their 400, and the connection is closed.
 */
import type { Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { PorticoError } from '../errors.ts'
import { encodeJson, errorResponse } from '../jsonrpc/message.ts'

export function refuseConnect(server: Server, workerSlot?: string): void {
  const worker = workerSlot === undefined ? '' : `portico-worker: ${workerSlot}\r\n`
  server.on('connect', (_req: unknown, socket: Duplex) => {
    const error = new PorticoError('method_not_allowed', {
      message: 'Method Not Allowed: CONNECT (Portico opens no tunnels)',
    })
    const body = encodeJson(errorResponse(undefined, { code: error.code, message: error.message }))
    socket.on('error', () => {})
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nallow: GET, POST, DELETE\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${worker}connection: close\r\n\r\n${body}`,
    )
  })
}
