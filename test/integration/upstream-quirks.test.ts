/**
 * Transparent mode in front of an upstream that does what HTTP allows and MCP servers rarely
 * do, from the rogue-upstream fuzzer (each failed on the build before): an informational
 * `103 Early Hints` before the answer (the client waited for ever: the hint was taken for the
 * answer), answers compressed although Portico asked for none (Portico's error event went out
 * under the upstream's `Content-Encoding: gzip`), an SSE answer starting with a byte order
 * mark (passed on without the CSP rewrite), a redirect of the MCP POST (relayed bare, recorded
 * ok), a forwarded file whose body stalls (held for as long as the client waited), MCP posted
 * to another path (refused without its id). A real node:http upstream.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type SseEvent, SseParser } from '../../src/protocol/sse.ts'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const GZ_LOG = { level: 'info', data: 'from a gzip stream' }

const sse = (message: object) => `event: message\ndata: ${JSON.stringify(message)}\n\n`
const result = (id: unknown, text: string) => ({
  jsonrpc: '2.0',
  id,
  result: { content: [{ type: 'text', text }] },
})

/** What the upstream does with a tool call, by the tool's name. */
const TOOLS: Record<string, (res: ServerResponse, id: unknown) => void> = {
  hints(res, id) {
    res.writeEarlyHints({ link: '</app.css>; rel=preload' })
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse(result(id, 'hinted')))
  },
  gzip_sse(res, id) {
    const body = gzipSync(sse(result(id, 'unzipped')))
    res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
    res.end(body)
  },
  gzip_json(res, id) {
    const body = gzipSync(JSON.stringify(result(id, 'unzipped json')))
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    res.end(body)
  },
  not_gzip(res, id) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
    res.end(sse(result(id, 'plain text under a gzip label')))
  },
  zstd(res, id) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'zstd' })
    res.end(JSON.stringify(result(id, 'unreadable')))
  },
  redirect(res) {
    res.writeHead(307, { location: '/mcp/' }).end()
  },
  error_page(res) {
    // An error page a compression middleware tagged gzip, though it is plain text: relayed.
    res.writeHead(500, { 'content-type': 'text/plain', 'content-encoding': 'gzip' })
    res.end('internal error, in plain text')
  },
  cr_pair(res, id) {
    // Lines ended by a lone CR (the SSE spec allows it), and the stream left open after the
    // answer for longer than request_timeout.
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(`event: message\rdata: ${JSON.stringify(result(id, 'after a CR pair'))}\r\r`)
    setTimeout(() => res.end(), 3000).unref()
  },
  cut_big(res, id) {
    // A large answer that comes in parts (so they go ahead of its end), then the stream ends
    // cleanly in its middle.
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(
      `data: {"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"content":[{"type":"text","text":"`,
    )
    let parts = 4
    const next = (): void => {
      if (parts-- === 0) return void res.end()
      res.write('x'.repeat(50_000))
      setTimeout(next, 50)
    }
    next()
  },
  bom(res, id) {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(`\uFEFF${sse(result(id, 'after a mark'))}`)
  },
}

/** Answers no HTTP/1.1 reader can take, by path. */
const RAW_ANSWERS: Record<string, string> = {
  '/upgraded':
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello',
  '/http2': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
}

function serve(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method === 'GET' && req.url === '/hints.html') {
    res.writeEarlyHints({ link: '</app.css>; rel=preload' })
    res.writeHead(200, { 'content-type': 'text/html' }).end('<p>widget page</p>')
    return
  }
  const raw = req.method === 'GET' ? RAW_ANSWERS[req.url ?? ''] : undefined
  if (raw !== undefined) {
    // Written on the socket past Node's own HTTP writer.
    req.socket.end(raw)
    return
  }
  if (req.method === 'GET' && req.url === '/switching') {
    // 101 Switching Protocols, though no upgrade was asked for.
    res.statusCode = 101
    res.end()
    return
  }
  if (req.method === 'GET' && req.url === '/stall.js') {
    // A head and half the body, then nothing: the rest never comes.
    res.writeHead(200, { 'content-type': 'text/javascript', 'content-length': '100' })
    res.write('x'.repeat(50))
    return
  }
  if (req.method === 'GET' && req.headers['mcp-session-id'] === 'stalls') {
    // A head and the start of a first event, then nothing.
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: {"jsonrpc":"2.0","method":"notifications/mess')
    return
  }
  if (req.method === 'GET' && req.url?.startsWith('/mcp')) {
    // The standalone stream, compressed though asked uncoded.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
    res.end(gzipSync(sse({ jsonrpc: '2.0', method: 'notifications/message', params: GZ_LOG })))
    return
  }
  if (req.method !== 'POST') return void res.writeHead(405).end()
  const message = JSON.parse(body) as { id?: unknown; method?: string; params?: { name?: string } }
  // Every acknowledgement tagged gzip with no body at all, as compression middleware does.
  if (message.id === undefined) return void res.writeHead(202, { 'content-encoding': 'gzip' }).end()
  if (message.method === 'initialize') {
    const result = {
      protocolVersion: '2025-11-25',
      capabilities: { tools: {} },
      serverInfo: { name: 'quirks', version: '1' },
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    return void res.end(gzipSync(JSON.stringify({ jsonrpc: '2.0', id: message.id, result })))
  }
  if (message.method === 'tools/list') {
    const tools = Object.keys(TOOLS).map((name) => ({ name, inputSchema: { type: 'object' } }))
    res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
    return void res.end(gzipSync(sse({ jsonrpc: '2.0', id: message.id, result: { tools } })))
  }
  const tool = TOOLS[message.params?.name ?? '']
  if (message.method === 'tools/call' && tool !== undefined) {
    tool(res, message.id)
    return
  }
  if (message.method === 'resources/read') {
    // A widget whose CSP names localhost, on an SSE stream that starts with a byte order mark.
    const contents = [
      {
        uri: 'ui://widget/a.html',
        mimeType: 'text/html;profile=mcp-app',
        text: '<p>hi</p>',
        _meta: { ui: { csp: { connectDomains: ['http://localhost:9999'] } } },
      },
    ]
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(`\uFEFF${sse({ jsonrpc: '2.0', id: message.id, result: { contents } })}`)
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: {} }))
}

/** The quirky upstream on a free port of loopback. */
async function startQuirks(): Promise<Server> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => serve(req, res, body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

describe('transparent mode in front of an upstream with HTTP quirks', () => {
  let upstream: Server
  let portico: RunningPortico

  before(async () => {
    upstream = await startQuirks()
    const { port } = upstream.address() as AddressInfo
    portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/mcp`,
      request_timeout: 1,
      csp: { connectDomains: { domains: ['https://api.example.com'] } },
    })
  })
  after(async () => {
    await portico?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  async function call(tool: string, id: number) {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool } }),
    })
    const text = await response.text()
    const data = text.startsWith('{')
      ? text
      : text
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('')
    return {
      status: response.status,
      encoding: response.headers.get('content-encoding'),
      answer: JSON.parse(data) as {
        id?: unknown
        result?: { content: Array<{ text: string }> }
        error?: { message: string }
      },
    }
  }

  function recorded(id: number) {
    return portico.sink.exchanges().find((e) => e.method === 'tools/call' && e.jsonrpcId === id)
  }

  it('an answer after 103 Early Hints reaches the client, for a call and a forwarded page', async () => {
    const { answer } = await call('hints', 1)
    assert.equal(answer.result?.content[0]?.text, 'hinted')
    const page = await fetch(new URL('/hints.html', portico.origin))
    assert.equal(page.status, 200)
    assert.equal(await page.text(), '<p>widget page</p>')
  })

  it('answers compressed though asked uncoded are decoded (SSE and JSON)', async () => {
    for (const [tool, text, id] of [
      ['gzip_sse', 'unzipped', 2],
      ['gzip_json', 'unzipped json', 3],
    ] as const) {
      const { answer, encoding } = await call(tool, id)
      assert.equal(encoding, null, tool)
      assert.equal(answer.id, id, tool)
      assert.equal(answer.result?.content[0]?.text, text, tool)
    }
  })

  it('a body that is not in its coding, or a coding Portico cannot read: an error with the id', async () => {
    for (const [tool, words, id] of [
      ['not_gzip', /not valid gzip/, 4],
      ['zstd', /content coding Portico cannot read \("zstd"/, 5],
    ] as const) {
      const { answer, encoding } = await call(tool, id)
      assert.equal(encoding, null, tool)
      assert.equal(answer.id, id, tool)
      assert.match(answer.error?.message ?? '', words, tool)
    }
    await portico.sink.waitFor(() => recorded(5) !== undefined)
    assert.equal(recorded(4)?.reason, 'upstream_bad_response')
    assert.equal(recorded(5)?.reason, 'upstream_bad_response')
  })

  it('an SSE answer starting with a byte order mark is read, and its CSP rewritten', async () => {
    const { answer } = await call('bom', 6)
    assert.equal(answer.result?.content[0]?.text, 'after a mark')
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'resources/read',
        params: { uri: 'ui://widget/a.html' },
      }),
    })
    const text = await response.text()
    assert.ok(!text.includes('\uFEFF'), 'no mark is passed on')
    const data = JSON.parse(text.slice(text.indexOf('data: ') + 6)) as {
      result: { contents: Array<{ _meta: { ui: { csp: { connectDomains: string[] } } } }> }
    }
    const connect = data.result.contents[0]?._meta.ui.csp.connectDomains
    assert.ok(connect?.includes('https://api.example.com'), JSON.stringify(connect))
  })

  it('a redirected call is answered with an error naming the path, recorded as such', async () => {
    const { status, answer } = await call('redirect', 8)
    assert.equal(status, 502)
    assert.equal(answer.id, 8)
    assert.match(answer.error?.message ?? '', /redirected this message \(HTTP 307 to \/mcp\/\)/)
    await portico.sink.waitFor(() => recorded(8) !== undefined)
    assert.equal(recorded(8)?.outcome, 'error')
    assert.equal(recorded(8)?.reason, 'upstream_bad_response')
  })

  it('a 101 nobody asked for is an invalid answer (502), not an unreachable upstream', async () => {
    // Before: "Upstream … is unreachable (ERR_ASSERTION)", "(UND_ERR_SOCKET)", and so on.
    for (const path of ['/switching', ...Object.keys(RAW_ANSWERS)]) {
      const response = await fetch(new URL(path, portico.origin))
      const body = await response.text()
      assert.equal(response.status, 502, path)
      assert.match(body, /sent an answer that is not valid HTTP/, path)
      assert.doesNotMatch(body, /unreachable|ERR_ASSERTION/, path)
    }
  })

  it('a forwarded file whose body stalls is cut at request_timeout', async () => {
    const response = await fetch(new URL('/stall.js', portico.origin))
    assert.equal(response.status, 200)
    // The body never completes: the client learns it (a cut), instead of waiting for ever.
    await assert.rejects(response.text())
  })

  it('relays what it only relays with its coding, and survives an empty body tagged gzip', async () => {
    const page = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 10,
        method: 'tools/call',
        params: { name: 'error_page' },
      }),
    })
    assert.equal(page.status, 500)
    // The upstream's error page as it came (its label wrong as it was): fetch cannot read it.
    assert.equal(page.headers.get('content-encoding'), 'gzip')
    await page.body?.cancel()
    const note = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    })
    assert.equal(note.status, 202)
    // Portico is still there (an unread body failing to decode once ended the process).
    const { answer } = await call('gzip_json', 11)
    assert.equal(answer.result?.content[0]?.text, 'unzipped json')
  })

  it('a standalone GET stream compressed though asked uncoded is decoded', async () => {
    const stream = await fetch(portico.url, {
      headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip' },
    })
    assert.equal(stream.status, 200)
    assert.equal(stream.headers.get('content-encoding'), null)
    assert.match(await stream.text(), /from a gzip stream/)
  })

  it('MCP posted to another path is refused with its id', async () => {
    for (const path of ['/other', '/MCP', '/mcp/']) {
      const response = await fetch(new URL(path, portico.origin), {
        method: 'POST',
        headers: MCP_ACCEPT,
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      })
      assert.equal(response.status, 404, path)
      const body = (await response.json()) as { id?: unknown }
      assert.equal(body.id, 9, path)
    }
  })
})

describe('transparent mode in front of an upstream whose SSE answers pause or break off', () => {
  // No CSP here: a call's large event goes ahead of its end only when nothing rewrites it.
  let upstream: Server
  let portico: RunningPortico

  before(async () => {
    upstream = await startQuirks()
    const { port } = upstream.address() as AddressInfo
    portico = await startPortico({ upstream: `http://127.0.0.1:${port}/mcp`, request_timeout: 1 })
  })
  after(async () => {
    await portico?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  /** The events of a POST's SSE answer until one answers `id` (the stream may stay open). */
  async function eventsUntilAnswer(tool: string, id: number): Promise<SseEvent[]> {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool } }),
    })
    const parser = new SseParser()
    const events: SseEvent[] = []
    const decoder = new TextDecoder()
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      events.push(...parser.push(decoder.decode(chunk, { stream: true })))
      if (events.some((event) => answers(event, id))) break
    }
    await response.body?.cancel().catch(() => undefined)
    return events
  }

  const answers = (event: SseEvent, id: number) => {
    try {
      return (JSON.parse(event.data) as { id?: unknown }).id === id
    } catch {
      return false
    }
  }

  it('an event ended by a CR pair goes on at once, while the upstream keeps its stream open', async () => {
    // Before: its last CR was held for a LF that never came; at request_timeout (1 s) the
    // client got "did not answer in time" instead of the answer the upstream had sent.
    const events = await eventsUntilAnswer('cr_pair', 31)
    const answer = JSON.parse(events.find((event) => answers(event, 31))?.data ?? '{}') as {
      result?: { content: Array<{ text: string }> }
    }
    assert.equal(answer.result?.content[0]?.text, 'after a CR pair', JSON.stringify(events))
  })

  it("an answer cut in the middle of a large event that went ahead: Portico's error event reads whole", async () => {
    // Before: the error event was written straight after the cut event's first 200 KB, so a
    // client read both as one event whose data was no JSON, and the call had no answer.
    const events = await eventsUntilAnswer('cut_big', 32)
    const answer = JSON.parse(events.find((event) => answers(event, 32))?.data ?? '{}') as {
      error?: { message: string }
    }
    assert.match(answer.error?.message ?? '', /ended its answer without a response/i)
  })

  it('a GET stream whose first event stalls half-way still has its head at once', async () => {
    // Before: the head waited for the upstream bytes already there to become a whole event.
    const stream = await fetch(portico.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 'stalls' },
      signal: AbortSignal.timeout(5000),
    })
    assert.equal(stream.status, 200)
    assert.equal(stream.headers.get('content-type')?.startsWith('text/event-stream'), true)
    await stream.body?.cancel()
  })
})

describe('gateway mode in front of a backend that compresses its answers', () => {
  let upstream: Server
  let gateway: RunningPortico

  before(async () => {
    upstream = await startQuirks()
    const { port } = upstream.address() as AddressInfo
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [{ name: 'up', transport: 'http', url: `http://127.0.0.1:${port}/mcp` }],
    })
  })
  after(async () => {
    await gateway?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  it('reads gzip JSON and SSE answers as the transparent mode does', async () => {
    const client = new Client({ name: 'gz', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      const { tools } = await client.listTools()
      assert.ok(tools.some((tool) => tool.name === 'up__gzip_json'))
      for (const [tool, text] of [
        ['up__gzip_json', 'unzipped json'],
        ['up__gzip_sse', 'unzipped'],
      ] as const) {
        const result = (await client.callTool({ name: tool, arguments: {} })) as {
          content: Array<{ text: string }>
        }
        assert.equal(result.content[0]?.text, text, tool)
      }
    } finally {
      await client.close()
    }
  })
})
