/**
 * A session's GET stream gets a keep-alive comment every 25 s. A stream Portico ended (an
 * expired token, a revoked key, a drain) whose client stopped reading stays open until its
 * socket drains, and its keep-alive wrote to the ended answer: ERR_STREAM_WRITE_AFTER_END, an
 * `error` event nobody listened to, and the gateway process died (fuzzer finding). A real
 * HTTP answer on a real socket; the 25 s passed on node:test's mocked clock.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it, mock } from 'node:test'
import { ClientSession } from '../../src/gateway/sessions.ts'

describe("a session's GET stream keep-alive", () => {
  it('writes comments while the stream is open and nothing once Portico ended it', async () => {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const answered = once(server, 'request') as Promise<[unknown, ServerResponse]>
    const client = request({ port: (server.address() as AddressInfo).port, path: '/mcp' })
    client.on('error', () => {}) // destroyed at the end: its hang-up is expected
    client.end()
    const [, res] = await answered
    const errors: Error[] = []
    res.on('error', (error) => errors.push(error))
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    let written = ''
    const write = res.write.bind(res) as (chunk: string) => boolean
    res.write = ((chunk: string) => {
      written += chunk
      return write(chunk)
    }) as typeof res.write
    mock.timers.enable({ apis: ['setInterval'] })
    const session = new ClientSession({}, () => undefined)
    try {
      session.attachStream(res)
      mock.timers.tick(25_000)
      assert.equal(written, ': keep-alive\n\n')
      // Ended, its `close` not come yet (as for a client that stopped reading).
      res.end()
      mock.timers.tick(25_000)
      mock.timers.tick(25_000)
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(
        errors.map((error) => (error as NodeJS.ErrnoException).code),
        [],
      )
      assert.equal(written, ': keep-alive\n\n', 'nothing written after the end')
    } finally {
      mock.timers.reset()
      session.close()
      client.destroy()
      server.close()
    }
  })
})
