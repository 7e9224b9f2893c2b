/**
 * A widget's answer that reaches the client on a resumed stream: the upstream ends the POST's
 * SSE stream after a priming event (as SDK servers with an event store do), and the client
 * resumes with GET and `Last-Event-ID`, where the answer comes. It gets the same CSP rewrite
 * as on the POST's own stream: the frame sources dropped (the default), the localhost source
 * replaced by `public_url`. Transparent mode (the gateway reads its backends' streams itself
 * and answers the client on the POST).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { MCP_ACCEPT, readEvents } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { request } from '../helpers/rpc.ts'

const WIDGET_META = {
  ui: {
    csp: { frameDomains: ['https://frames.example'], connectDomains: ['http://localhost:9000'] },
  },
}

/** Answers each request on a GET stream only, after a POST stream that ends at once. */
function resumingUpstream(): Server {
  let lastId: unknown
  let lastMethod: unknown
  return createServer((req, res) => {
    if (req.method === 'GET') {
      const contents = [
        { uri: 'ui://w/r', mimeType: 'text/html;profile=mcp-app', text: '<p>', _meta: WIDGET_META },
      ]
      // A list answer that also carries `contents: []`: read by its shape alone, it looked
      // like a read, and its resources' CSP went out as the app wrote it.
      const resources = [
        { uri: 'ui://w/r', name: 'w', mimeType: 'text/html;profile=mcp-app', _meta: WIDGET_META },
      ]
      // A tool's result with no `content`: its `_meta` CSP alone tells what it is.
      // A stray list member (`contents: []`) beside it must not hide it either.
      const toolResult = { structuredContent: { ok: true }, contents: [], _meta: WIDGET_META }
      const result =
        lastMethod === 'resources/list'
          ? { resources, contents: [] }
          : lastMethod === 'tools/call'
            ? toolResult
            : { contents }
      const answer = { jsonrpc: '2.0', id: lastId, result }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's' })
      res.write(`id: e2\nevent: message\ndata: ${JSON.stringify(answer)}\n\n`)
      return
    }
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: unknown; method?: unknown }
      if (message.id === undefined) return void res.writeHead(202).end()
      lastId = message.id
      lastMethod = message.method
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's' })
      res.end('id: e1\ndata: \n\n') // a priming event, then the stream ends: resume later
    })
  })
}

describe('widget CSP on a resumed stream (transparent)', () => {
  let upstream: Server
  let portico: RunningPortico
  before(async () => {
    upstream = resumingUpstream().listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`
    portico = await startPortico({ upstream: url, public_url: 'https://mcp.example.com' })
  })
  after(async () => {
    await portico?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  it('rewrites the answer the GET brings as the POST stream would have', async () => {
    const headers = { ...MCP_ACCEPT, 'mcp-session-id': 's', 'mcp-protocol-version': '2025-11-25' }
    const post = await fetch(portico.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(request(5, 'resources/read', { uri: 'ui://w/r' })),
    })
    assert.equal(post.status, 200)
    await post.text() // the priming event only: the answer is to come on a resumed stream
    const resumed = await fetch(portico.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 's', 'last-event-id': 'e1' },
    })
    const [event] = await readEvents(resumed, (events) => events.length > 0, 'the answer')
    const answer = JSON.parse(event?.data ?? '') as {
      id: number
      result: { contents: Array<{ _meta: { ui: { csp: Record<string, string[]> } } }> }
    }
    assert.equal(answer.id, 5)
    const csp = answer.result.contents[0]?._meta.ui.csp
    assert.deepEqual(csp?.frameDomains, [], 'frames dropped (the default), as on a POST')
    assert.ok(csp?.connectDomains?.includes('https://mcp.example.com'), JSON.stringify(csp))
    assert.ok(!JSON.stringify(csp).includes('localhost'), JSON.stringify(csp))
    assert.equal(event?.id, 'e2', 'the event id kept: the client can resume again')
  })

  it('rewrites a list answer that carries another method’s member too', async () => {
    const headers = { ...MCP_ACCEPT, 'mcp-session-id': 's', 'mcp-protocol-version': '2025-11-25' }
    const post = await fetch(portico.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(request(6, 'resources/list')),
    })
    await post.text()
    const resumed = await fetch(portico.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 's', 'last-event-id': 'e1' },
    })
    const [event] = await readEvents(resumed, (events) => events.length > 0, 'the answer')
    const answer = JSON.parse(event?.data ?? '') as {
      result: { resources: Array<{ _meta: { ui: { csp: Record<string, string[]> } } }> }
    }
    const csp = answer.result.resources[0]?._meta.ui.csp
    assert.deepEqual(csp?.frameDomains, [], JSON.stringify(csp))
    assert.ok(!JSON.stringify(csp).includes('localhost'), JSON.stringify(csp))
  })

  it('rewrites a tool result that carries no content, only its _meta', async () => {
    const headers = { ...MCP_ACCEPT, 'mcp-session-id': 's', 'mcp-protocol-version': '2025-11-25' }
    const post = await fetch(portico.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(request(7, 'tools/call', { name: 'show', arguments: {} })),
    })
    await post.text()
    const resumed = await fetch(portico.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 's', 'last-event-id': 'e1' },
    })
    const [event] = await readEvents(resumed, (events) => events.length > 0, 'the answer')
    const answer = JSON.parse(event?.data ?? '') as {
      result: { _meta: { ui: { csp: Record<string, string[]> } } }
    }
    // Before: matched no result shape, and went out as the app wrote it.
    const csp = answer.result._meta.ui.csp
    assert.deepEqual(csp?.frameDomains, [], JSON.stringify(csp))
    assert.ok(!JSON.stringify(csp).includes('localhost'), JSON.stringify(csp))
  })
})
