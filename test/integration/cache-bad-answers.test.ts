/**
 * The cache keeps successes only. A real HTTP upstream answers each tool badly the first time
 * (an HTTP error with a result-shaped body, a response without a result, another request's
 * response, a batch) and well the second; through a real Portico with `tool_ttl_seconds`, the
 * second call must reach the upstream and get the good answer. Before: each bad answer was
 * stored as it came and served again, a 500's body as a 200 success. (From the protection
 * fuzzer.)
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { ConfigInput } from '../../src/config/schema.ts'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const good = (id: unknown, text: string) =>
  JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } })

/** The first answer of each tool: [status, body]. */
const FIRST: Record<string, (id: unknown) => [number, string]> = {
  server_error: (id) => [500, good(id, 'from a 500')],
  too_many: (id) => [429, good(id, 'from a 429')],
  no_result: (id) => [200, JSON.stringify({ jsonrpc: '2.0', id })],
  another_id: () => [200, good(999_999, 'for another request')],
  batch: (id) => [200, `[${good(id, 'in a batch')}]`],
}

describe('the cache keeps successes only', () => {
  let upstream: Server
  let portico: RunningPortico
  const runs = new Map<string, number>()

  before(async () => {
    upstream = createServer((req, res) => {
      let text = ''
      req.on('data', (chunk: Buffer) => {
        text += chunk
      })
      req.on('end', () => {
        const message = JSON.parse(text) as { id?: unknown; params?: { name?: string } }
        const name = message.params?.name ?? ''
        const count = (runs.get(name) ?? 0) + 1
        runs.set(name, count)
        const [status, body] =
          count === 1 && FIRST[name] ? FIRST[name](message.id) : [200, good(message.id, 'good')]
        res.writeHead(status, { 'content-type': 'application/json' }).end(body)
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const port = (upstream.address() as AddressInfo).port
    portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/mcp`,
      cache: { tool_ttl_seconds: 60 },
    } as ConfigInput)
  })
  after(async () => {
    await portico?.close()
    upstream?.closeAllConnections()
    await new Promise<void>((resolve) => upstream?.close(() => resolve()))
  })

  async function call(name: string, id: number) {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name, arguments: {} },
      }),
    })
    return { status: response.status, text: await response.text() }
  }

  for (const name of Object.keys(FIRST)) {
    it(`does not keep ${name.replace('_', ' ')}: the next call reaches the upstream`, async () => {
      const first = await call(name, 1)
      assert.notEqual(first.status, 200, first.text)
      // Stored after the answer is written: let that turn pass.
      await new Promise((resolve) => setTimeout(resolve, 50))
      const second = await call(name, 2)
      assert.equal(second.status, 200, second.text)
      assert.equal(JSON.parse(second.text).result.content[0].text, 'good', second.text)
      assert.equal(runs.get(name), 2)
    })
  }

  it('keeps a success: the third call is answered from the cache', async () => {
    await call('server_error', 3)
    assert.equal(runs.get('server_error'), 2)
  })
})
