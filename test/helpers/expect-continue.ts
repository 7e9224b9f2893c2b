/** The first status line a server answers to a request head with `Expect: 100-continue`. */
import { connect } from 'node:net'

export function firstLineToExpect(
  port: number,
  head: { method: string; path: string; host: string; length: number; extra?: string },
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')))
    socket.on('connect', () =>
      socket.write(
        `${head.method} ${head.path} HTTP/1.1\r\nHost: ${head.host}\r\nContent-Type: application/json\r\n${head.extra ?? ''}Content-Length: ${head.length}\r\nExpect: 100-continue\r\n\r\n`,
      ),
    )
    socket.once('data', (data: Buffer) => {
      resolve(data.toString('latin1').split('\r\n')[0] ?? '')
      socket.destroy()
    })
    socket.on('error', reject)
  })
}
