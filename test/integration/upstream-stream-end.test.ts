/**
 * The end of an upstream SSE answer, over a real socket: the body upstream/answer.ts hands out
 * says when its last chunk arrived (`complete`), so a reader through `chunksOf` is done as soon
 * as it has read it, before Node's 'end' event a tick later (the proxy then ends its own answer
 * in the same write as the last event). Ending early must not abort the finished request:
 * the keep-alive connection serves the next one.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import { HttpClient } from '../../src/upstream/http-client.ts'
import { chunksOf } from '../../src/util/chunks.ts'

let server: Server
let origin: string
let connections = 0

before(async () => {
  server = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n')
    res.end('event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n')
  })
  server.on('connection', () => {
    connections++
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('an upstream SSE answer that has ended', () => {
  it('is read to its end before Node emits it, and leaves its connection for the next request', async () => {
    const http = new HttpClient({ connectTimeoutMs: 5_000, headersTimeoutMs: 5_000 })
    try {
      for (let request = 0; request < 2; request++) {
        const response = await http.send({
          url: new URL('/mcp', origin),
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call"}'),
          label: 'the upstream',
          timeoutMs: 5_000,
        })
        const body = response.body
        body.setEncoding('utf8')
        let endEmitted = false
        body.on('end', () => {
          endEmitted = true
        })
        let text = ''
        for await (const chunk of chunksOf<string>(body)) text += chunk
        assert.match(text, /"result"/)
        assert.equal(endEmitted, false, 'the reader was done before the end event')
        // As a client's next call comes: later, not in the same turn as the end of this one
        // (undici frees the connection for the pool once it has handled the end).
        await tick()
      }
      assert.equal(connections, 1, 'the second request reused the keep-alive connection')
    } finally {
      await http.destroy()
    }
  })
})
