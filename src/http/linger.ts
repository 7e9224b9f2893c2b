/**
 * Lingering close, as nginx does it (`lingering_close`): an answer sent before its request's
 * body was read (413, 401, 415…) on a connection that closes after it (the client sent
 * `Connection: close`, or Portico is stopping). Node destroys such a connection as soon as the
 * answer is written; the body bytes still arriving then find the socket closed, and the kernel
 * answers them with a reset, which can discard the answer before the client read it: the
 * client saw EPIPE or ECONNRESET instead of the 413. Here the connection sends its FIN after
 * the answer and goes on reading (the HTTP parser discards the rest of the body) until the
 * client closes, for LINGER_MS at most.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

/** nginx's lingering_timeout: the client has had the answer in hand this long. */
const LINGER_MS = 5000

/** Arms the lingering close of `req`'s connection when its body is not all read yet. */
export function lingerIfUnread(req: IncomingMessage): void {
  if (req.complete) return
  const socket = req.socket as Socket | null
  if (socket === null || socket.destroyed) return
  // Node calls destroySoon on a connection that closes after its answer (and only then): a
  // keep-alive connection reads the rest of the body to reuse the connection, as before.
  socket.destroySoon = lingeringClose
}

function lingeringClose(this: Socket): void {
  if (this.destroyed) return
  this.end()
  this.resume()
  const timer = setTimeout(() => this.destroy(), LINGER_MS)
  timer.unref()
  this.once('close', () => clearTimeout(timer))
}
