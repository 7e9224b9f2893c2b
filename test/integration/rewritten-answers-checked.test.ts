/**
 * An upstream answer Portico rewrites (a widget's CSP, a role's filtered list) is still the
 * upstream's answer: one that carries another request's id, or both a result and an error, is
 * refused with the request's own id, as it is when nothing rewrites it. The rewritten copy
 * used to count as Portico's own answer and skipped those checks, so the client got id 999
 * and waited for its own for ever. A byte order mark before the JSON (RFC 8259 lets a parser
 * ignore it, and fetch does) is read, rewritten and served, as it is served when nothing
 * rewrites it.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'

type Shape = 'other-id' | 'result-and-error' | 'bom' | 'sse-bom'

const WIDGET = {
  uri: 'ui://w/r',
  mimeType: 'text/html;profile=mcp-app',
  text: '<p>',
  _meta: { ui: { csp: { connectDomains: ['http://localhost:9000'] } } },
}
const TOOLS = [
  { name: 'echo', inputSchema: { type: 'object' } },
  { name: 'secret', inputSchema: { type: 'object' } },
]

/** Answers every request in the shape the test names next (`shape.next`). */
function shapedUpstream(shape: { next: Shape }): Server {
  return createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: number; method?: string }
      if (message.id === undefined) return void res.writeHead(202).end()
      const result =
        message.method === 'tools/list'
          ? { tools: TOOLS }
          : message.method === 'initialize'
            ? {
                protocolVersion: '2025-11-25',
                capabilities: {},
                serverInfo: { name: 's', version: '1' },
              }
            : { contents: [WIDGET] }
      const answer: Record<string, unknown> = { jsonrpc: '2.0', id: message.id, result }
      if (message.method !== 'initialize' && shape.next === 'other-id') answer.id = 999
      if (message.method !== 'initialize' && shape.next === 'result-and-error') {
        answer.error = { code: 1, message: 'both' }
      }
      const text = JSON.stringify(answer)
      if (shape.next === 'sse-bom' && message.method !== 'initialize') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's' })
        res.end(`event: message\ndata: \ufeff${text}\n\n`)
        return
      }
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's' })
      res.end(shape.next === 'bom' ? `\ufeff${text}` : text)
    })
  })
}

const SESSION = { 'mcp-session-id': 's', 'mcp-protocol-version': '2025-11-25' }

describe('rewritten upstream answers are checked as the upstream’s', () => {
  const shape: { next: Shape } = { next: 'other-id' }
  let upstream: Server
  let withCsp: RunningPortico
  let withRoles: RunningPortico
  let plain: RunningPortico
  before(async () => {
    upstream = shapedUpstream(shape).listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`
    withCsp = await startPortico({ upstream: url, public_url: 'https://mcp.example.com' })
    plain = await startPortico({ upstream: url })
    withRoles = await startPortico({
      upstream: url,
      auth: {
        api_keys: [{ name: 'alice', key: 'alice-key-0123456789', roles: ['reader'] }],
        roles: [{ name: 'reader', allow_tools: ['echo'] }],
      },
    })
  })
  after(async () => {
    await withCsp?.close()
    await withRoles?.close()
    await plain?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  const read = () => rpc(withCsp.url, request(7, 'resources/read', { uri: 'ui://w/r' }), SESSION)

  it('refuses a rewritten widget answer that carries another id, with the request’s id', async () => {
    shape.next = 'other-id'
    const answer = await read()
    assert.equal(answer.status, 502)
    assert.equal(answer.message?.id, 7)
    assert.equal(answer.message?.error?.code, -32603)
    assert.match(String(answer.message?.error?.message), /the response to id 999/)
  })

  it('refuses a rewritten widget answer holding both a result and an error', async () => {
    shape.next = 'result-and-error'
    const answer = await read()
    assert.equal(answer.status, 502)
    assert.equal(answer.message?.id, 7)
    assert.equal(answer.message?.result, undefined)
    assert.match(String(answer.message?.error?.message), /both a result and an error/)
  })

  it('refuses a role-filtered list that answers another id', async () => {
    shape.next = 'other-id'
    const headers = { ...SESSION, ...bearer('alice-key-0123456789') }
    // The session is alice's once she opened it through Portico.
    const opened = await rpc(
      withRoles.url,
      request(1, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'c', version: '1' },
      }),
      bearer('alice-key-0123456789'),
    )
    assert.equal(opened.status, 200)
    const answer = await rpc(withRoles.url, request(7, 'tools/list'), headers)
    assert.equal(answer.status, 502)
    assert.equal(answer.message?.id, 7)
    assert.equal(answer.message?.result, undefined)
  })

  it('reads an answer after a byte order mark, and rewrites its widget', async () => {
    shape.next = 'bom'
    const answer = await read()
    assert.equal(answer.status, 200)
    assert.equal(answer.message?.id, 7)
    const contents = answer.message?.result?.contents as (typeof WIDGET)[]
    assert.deepEqual(contents[0]?._meta.ui.csp.connectDomains, ['https://mcp.example.com'])
  })

  it('does not take an SSE event whose data starts with a byte order mark for the answer', async () => {
    // Clients JSON.parse event data, which the mark breaks: taken for the response and passed
    // on, the client read nothing it could use and waited for its own timeout.
    shape.next = 'sse-bom'
    const response = await fetch(plain.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, ...SESSION },
      body: JSON.stringify(request(7, 'tools/call', { name: 'x', arguments: {} })),
      signal: AbortSignal.timeout(10_000),
    })
    const lines = (await response.text()).split('\n').filter((line) => line.startsWith('data: '))
    const readable = lines
      .map((line) => line.slice('data: '.length))
      .filter((data) => !data.startsWith('\ufeff'))
      .map((data) => JSON.parse(data) as { id?: unknown; error?: { code?: number } })
    assert.equal(readable.length, 1, lines.join('\n'))
    assert.equal(readable[0]?.id, 7)
    assert.equal(readable[0]?.error?.code, -32603)
  })
})
