/**
 * A call to an HTTP backend that expires at the backend's own deadline (`timeout`) ends the
 * backend's HTTP request too (a real node:http backend that sends its answer's headers and
 * then nothing, a real gateway, the SDK client): a request left open past its call would hold
 * a socket at the backend, and one in Portico's pool, for as long as the backend keeps it.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

describe('an HTTP backend call past its deadline', () => {
  let gateway: RunningPortico
  let client: Client
  /** The backend's tools/call requests still open. */
  const open = new Set<IncomingMessage>()
  let closed: (() => void) | undefined
  const backend = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') {
      // No GET stream, nothing to DELETE: only what a call needs.
      res.writeHead(405).end()
      return
    }
    let body = ''
    for await (const chunk of req) body += chunk
    const message = JSON.parse(body) as { id?: unknown; method: string; params?: unknown }
    const json = (value: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's' })
      res.end(JSON.stringify(value))
    }
    if (message.method === 'initialize') {
      const { protocolVersion } = message.params as { protocolVersion: string }
      json({
        jsonrpc: '2.0',
        id: message.id,
        result: {
          protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'stalls', version: '1' },
        },
      })
    } else if (message.method === 'tools/list') {
      json({
        jsonrpc: '2.0',
        id: message.id,
        result: { tools: [{ name: 'stall', inputSchema: { type: 'object' } }] },
      })
    } else if (message.method === 'tools/call') {
      // The answer's headers, then nothing: the call can only end by its deadline.
      open.add(req)
      res.once('close', () => {
        open.delete(req)
        closed?.()
      })
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's' })
      res.flushHeaders()
    } else {
      res.writeHead(202).end()
    }
  })

  before(async () => {
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
    const { port } = backend.address() as AddressInfo
    gateway = await startPortico({
      backends: [
        { name: 'slow', transport: 'http', url: `http://127.0.0.1:${port}/mcp`, timeout: '1s' },
      ],
    })
    client = new Client({ name: 'deadline', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  })
  after(async () => {
    await client?.close()
    await gateway?.close()
    backend.closeAllConnections()
    backend.close()
  })

  it('answers the client with the timeout and ends the request at the backend', async () => {
    await assert.rejects(
      client.callTool({ name: 'slow__stall', arguments: {} }),
      /did not answer tools\/call within 1000 ms/,
    )
    const ended = await new Promise<string>((resolve) => {
      const deadline = setTimeout(() => resolve(`${open.size} still open after 5 s`), 5000)
      closed = () => {
        if (open.size > 0) return
        clearTimeout(deadline)
        resolve('ended')
      }
      closed()
    })
    assert.equal(ended, 'ended')
  })
})
