/**
 * Serving a request that asks for a protocol upgrade the server does not perform as the plain
 * HTTP/1.1 request it also is (RFC 9110 §7.8: a server may ignore `Upgrade`). Node hands every
 * request carrying `Upgrade` to the server's 'upgrade' listener once there is one, with no way
 * to decline it; so the request's head is written again without the upgrade and put back in
 * front of the bytes already read, and the socket is given to the server as a new connection,
 * whose parser then reads it as any request. (`curl --http2` over http:// sends
 * `Upgrade: h2c` with every request.)
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'

/** Headers that only carry the upgrade: dropped, as is their name in `Connection`. */
const UPGRADE_ONLY = new Set(['upgrade', 'http2-settings'])

export function serveWithoutUpgrade(
  server: Server,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  socket.unshift(Buffer.concat([Buffer.from(headWithoutUpgrade(req), 'latin1'), head]))
  server.emit('connection', socket)
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
