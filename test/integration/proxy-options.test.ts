/**
 * Transparent-mode options end to end, each against a real upstream: `max_response_body_size`
 * (JSON answers up to it are inspected and rewritten, larger ones stream through untouched),
 * `connect_timeout` (an upstream that accepts TCP but never completes the TLS handshake), and
 * custom `mcp_path` / `sse_path` (served there, and nowhere else).
 */
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import {
  PAYMENT_URI,
  type RunningApp,
  startCspApp,
  startLegacyCspApp,
} from '../fixtures/csp-app.ts'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { listenOnZero } from '../helpers/ports.ts'

const CSP = { connectDomains: { domains: ['https://api.example.com'] } }

function readRequest(id: number): RequestInit {
  return {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'resources/read',
      params: { uri: PAYMENT_URI },
    }),
  }
}

describe('max_response_body_size', () => {
  let app: RunningApp
  let inspected: RunningPortico
  let bounded: RunningPortico

  before(async () => {
    app = await startCspApp({ json: true })
    const config = { upstream: app.url, public_url: 'https://mcp.example.com', csp: CSP }
    inspected = await startPortico(config)
    bounded = await startPortico({ ...config, max_response_body_size: 256 })
  })
  after(async () => {
    await inspected?.close()
    await bounded?.close()
    await app?.close()
  })

  it('rewrites a JSON answer within the bound and streams a larger one through untouched', async () => {
    const direct = await (await fetch(app.url, readRequest(1))).text()
    assert.ok(Buffer.byteLength(direct) > 256, 'the answer is larger than the small bound')
    const rewritten = await (await fetch(inspected.url, readRequest(1))).text()
    assert.notEqual(rewritten, direct)
    assert.match(rewritten, /https:\/\/api\.example\.com/)
    const response = await fetch(bounded.url, readRequest(1))
    assert.equal(response.status, 200)
    assert.equal(await response.text(), direct, 'byte for byte, and complete')
  })
})

describe('an event over max_response_body_size on a GET stream', () => {
  it('ends the stream and is recorded response_too_large, not as the upstream breaking off', async () => {
    const { createServer: createHttpServer } = await import('node:http')
    const upstream = createHttpServer((req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405).end()
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const big = 'x'.repeat(64 * 1024)
      res.write(
        `data: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"${big}"}}\n\n`,
      )
    })
    const port = await listenOnZero(upstream as unknown as Parameters<typeof listenOnZero>[0])
    const portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/mcp`,
      max_response_body_size: 16 * 1024,
    })
    try {
      const stream = await fetch(portico.url, {
        headers: { accept: 'text/event-stream', 'mcp-session-id': 'S' },
      })
      assert.equal(stream.status, 200)
      await stream.text() // ended by Portico
      const isGet = (e: { type: string; method?: string }) =>
        e.type === 'exchange' && e.method === 'GET'
      await portico.sink.waitFor((events) => events.some(isGet))
      const event = portico.sink.exchanges().find(isGet)
      assert.equal(event?.reason, 'response_too_large')
    } finally {
      await portico.close()
      upstream.closeAllConnections()
      upstream.close()
    }
  })
})

describe('connect_timeout', () => {
  const sockets = new Set<Socket>()
  let accepted = 0
  // Accepts TCP connections and never says a word: a TLS handshake with it never completes.
  const silent = createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  let portico: RunningPortico

  before(async () => {
    const port = await listenOnZero(silent)
    portico = await startPortico({
      upstream: `https://127.0.0.1:${port}/mcp`,
      connect_timeout: '300ms',
      request_timeout: 60,
    })
  })
  after(async () => {
    await portico?.close()
    for (const socket of sockets) socket.destroy()
    silent.close()
  })

  it('gives up on an upstream that does not complete the connection', async () => {
    // request_timeout is 60 s and the default connect_timeout 10 s: only the configured
    // 300 ms answers within this request's 8 s deadline.
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_ACCEPT,
      body: JSON.stringify({ jsonrpc: '2.0', id: 'c', method: 'tools/list' }),
      signal: AbortSignal.timeout(8000),
    })
    assert.equal(response.status, 504)
    const body = (await response.json()) as {
      id: string
      error: { message: string; data: { reason: string } }
    }
    assert.equal(body.id, 'c')
    assert.equal(body.error.data.reason, 'connect_timeout')
    assert.match(body.error.message, /did not accept the connection/)
    assert.ok(accepted > 0, 'Portico reached the upstream (TCP) and waited for the handshake')
  })
})

describe('custom mcp_path and sse_path', () => {
  let demo: DemoServer
  let sseApp: RunningApp
  let streamable: RunningPortico
  let legacy: RunningPortico

  before(async () => {
    demo = await startDemoServer()
    // A legacy server whose stream is at the same custom path Portico serves it at.
    sseApp = await startLegacyCspApp(undefined, '/tenant/sse')
    streamable = await startPortico({ upstream: demo.url, mcp_path: '/tenant/mcp' })
    legacy = await startPortico({ upstream: sseApp.url, sse_path: '/tenant/sse' })
  })
  after(async () => {
    await streamable?.close()
    await legacy?.close()
    await demo?.close()
    await sseApp?.close()
  })

  it("serves MCP at mcp_path; the upstream's own /mcp is not reachable around it", async () => {
    assert.equal(new URL(streamable.url).pathname, '/tenant/mcp')
    const client = new Client({ name: 'path-test', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(streamable.url)))
    try {
      const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })
      assert.deepEqual(result.structuredContent, { sum: 5 })
    } finally {
      await client.close()
    }
    await streamable.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'tools/call' && e.name === 'add'),
    )
    // Forwarding /mcp as plain traffic would reach the upstream's MCP endpoint around
    // Portico's filters: it is refused, and recorded.
    const raw = await fetch(`${streamable.origin}/mcp`, { method: 'GET' })
    assert.equal(raw.status, 404)
    await raw.body?.cancel()
    await streamable.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.path === '/mcp' && e.reason === 'not_found'),
    )
    assert.equal(
      streamable.sink.exchanges().filter((e: ExchangeEvent) => e.method === 'tools/call').length,
      1,
    )
  })

  it('serves the legacy HTTP+SSE stream at sse_path; /sse is then plain traffic', async () => {
    const client = new Client({ name: 'sse-path-test', version: '1' })
    await client.connect(new SSEClientTransport(new URL('/tenant/sse', legacy.origin)))
    try {
      const result = await client.callTool({ name: 'echo', arguments: {} })
      assert.deepEqual(result.content, [{ type: 'text', text: 'echo' }])
    } finally {
      await client.close()
    }
    await legacy.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'echo' && e.transport === 'sse'),
    )
    const raw = await fetch(`${legacy.origin}/sse`, { headers: { accept: 'text/event-stream' } })
    assert.equal(raw.status, 404, 'forwarded to the upstream, which has nothing at /sse')
    await raw.text()
    await legacy.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.kind === 'http' && e.path === '/sse'),
    )
  })

  // Portico took the upstream's stream to be at origin + sse_path unless the upstream URL
  // ended with sse_path, so an upstream at the usual /sse could not be served at another path.
  it('serves an upstream /sse stream at a custom sse_path', async () => {
    const standard = await startLegacyCspApp()
    const portico = await startPortico({ upstream: standard.url, sse_path: '/tenant/sse' })
    const client = new Client({ name: 'sse-path-todo', version: '1' })
    try {
      await client.connect(new SSEClientTransport(new URL('/tenant/sse', portico.origin)))
      const result = await client.callTool({ name: 'echo', arguments: {} })
      assert.deepEqual(result.content, [{ type: 'text', text: 'echo' }])
    } finally {
      await client.close().catch(() => undefined)
      await portico.close()
      await standard.close()
    }
  })
})
