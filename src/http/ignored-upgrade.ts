/**
 * Serving a request that asks for a protocol upgrade the server does not perform as the plain
 * HTTP/1.1 request it also is (RFC 9110 §7.8: a server may ignore `Upgrade`). Node hands every
 * request carrying `Upgrade` to the server's 'upgrade' listener once there is one, with no way
 * to decline it; so the request's head is written again without the upgrade and put back in
 * front of the bytes already read, and the socket is given to the server as a new connection,
 * whose parser then reads it as any request. (`curl --http2` over http:// sends
 * `Upgrade: h2c` with every request.)
 *
 * The socket is handed over only once the answers of the requests before it on the connection
 * (pipelined) are complete: they belong to the connection's old state, and an answer the new
 * state wrote meanwhile would wait behind them for ever.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** Headers that only carry the upgrade: dropped, as is their name in `Connection`. */
const UPGRADE_ONLY = new Set(['upgrade', 'http2-settings'])

/** Answers still open per connection, for the server that serves ignored upgrades. */
export class OpenAnswers {
  readonly #open = new WeakMap<Socket, { count: number; idle: Array<() => void> }>()

  /** Counts `res` on its connection until it closes: called for each request served. */
  opened(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket
    let entry = this.#open.get(socket)
    if (entry === undefined) {
      entry = { count: 0, idle: [] }
      this.#open.set(socket, entry)
    }
    entry.count++
    const counted = entry
    res.once('close', () => {
      if (--counted.count > 0) return
      this.#open.delete(socket)
      for (const then of counted.idle) then()
    })
  }

  /** Runs `then` once the connection has no answer open (at once if it has none). */
  whenIdle(socket: Socket, then: () => void): void {
    const entry = this.#open.get(socket)
    if (entry === undefined) then()
    else entry.idle.push(then)
  }
}

export function serveWithoutUpgrade(
  server: Server,
  answers: OpenAnswers,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  // Between the parser's detaching and the handover, an error must not go unheard.
  const onError = () => socket.destroy()
  socket.on('error', onError)
  answers.whenIdle(socket, () => {
    socket.removeListener('error', onError)
    if (socket.destroyed) return
    socket.unshift(Buffer.concat([Buffer.from(headWithoutUpgrade(req), 'latin1'), head]))
    server.emit('connection', socket)
  })
}

function headWithoutUpgrade(req: IncomingMessage): string {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (UPGRADE_ONLY.has(lower)) continue
    let value = raw[i + 1] as string
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token !== '' && !UPGRADE_ONLY.has(token.toLowerCase()))
        .join(', ')
      if (value === '') continue
    }
    text += `${name}: ${value}\r\n`
  }
  return `${text}\r\n`
}
