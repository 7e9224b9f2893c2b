/**
 * Answers Portico relays without a JSON-RPC call (a GET stream, DELETE, an asset) when the
 * upstream dies in them: an event stream ends cleanly after the events that came (a client
 * reconnects, as after any end), and a body that broke off before its first byte is Portico's
 * 502, not a connection closed with no answer at all.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** Each answer: its head, what it writes, then the socket destroyed. */
const CUT: Record<string, { status: number; type: string; body: string }> = {
  '/stream': { status: 200, type: 'text/event-stream', body: ': ping\n\ndata: {"x":1}\n\n' },
  '/asset.js': { status: 200, type: 'text/javascript', body: '' },
}

describe('a relayed answer the upstream cuts off', () => {
  let upstream: Server
  let portico: RunningPortico

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume()
      const path = req.url === '/mcp' && req.method === 'GET' ? '/stream' : '/asset.js'
      const cut = CUT[path] as { status: number; type: string; body: string }
      res.writeHead(cut.status, { 'content-type': cut.type })
      // The head is sent: the answer began, then broke off.
      if (cut.body === '') res.flushHeaders()
      else res.write(cut.body)
      setTimeout(() => res.destroy(), 5)
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const port = (upstream.address() as AddressInfo).port
    portico = await startPortico({ upstream: `http://127.0.0.1:${port}/mcp` })
  })
  after(async () => {
    await portico?.close()
    upstream?.closeAllConnections()
    await new Promise((resolve) => upstream?.close(resolve))
  })

  it('a GET stream ends cleanly after the events that came', async () => {
    const response = await fetch(portico.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 's1' },
    })
    assert.equal(response.status, 200)
    assert.equal(await response.text(), ': ping\n\ndata: {"x":1}\n\n')
  })

  it('a body cut before its first byte is a 502 with a JSON-RPC error', async () => {
    for (const method of ['GET', 'DELETE']) {
      const url = method === 'GET' ? `${portico.origin}/asset.js` : portico.url
      const response = await fetch(url, { method, headers: { 'mcp-session-id': 's1' } })
      assert.equal(response.status, 502, method)
      const answer = (await response.json()) as { error: { code: number; message: string } }
      assert.equal(answer.error.code, -32603, method)
      assert.match(answer.error.message, /broke off/, method)
    }
  })
})
