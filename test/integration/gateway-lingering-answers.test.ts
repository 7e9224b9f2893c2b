/**
 * Answers a backend never ends, through a real gateway and real node:http backends. Nothing a
 * backend sends after the call's response is waited for, and no answer to a notification is
 * waited on: an HTTP backend that kept each call's SSE stream open after the result held one
 * socket per call until the session ended (and the gateway's own session, which stateless
 * clients share, never ends); a legacy SSE backend whose "Accepted" never ended did the same;
 * and one that answered the handshake's `notifications/initialized` with a body that never
 * ended held every call to it for ever. And a list a backend never ends: one that names the
 * page it was asked for as the next one had a client read that page for ever.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { modernHeaders, openSession, sessionHeaders, toolCallBody } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { startRawUpstream } from '../helpers/raw-upstream.ts'
import { until } from '../helpers/wait.ts'

type Message = { id?: number | string; method?: string; params?: Record<string, unknown> }

const TOOLS = { tools: [{ name: 'ping', inputSchema: { type: 'object' } }] }

function result(message: Message): Record<string, unknown> {
  if (message.method === 'initialize') {
    return {
      protocolVersion: (message.params?.protocolVersion as string) ?? '2025-11-25',
      capabilities: { tools: {} },
      serverInfo: { name: 'lingers', version: '1' },
    }
  }
  if (message.method === 'tools/list') return TOOLS
  return { content: [{ type: 'text', text: 'pong' }] }
}

async function bodyOf(req: IncomingMessage): Promise<Message> {
  let text = ''
  for await (const chunk of req) text += chunk
  return JSON.parse(text) as Message
}

/** A backend under test: its URL, the answers it holds open now, and how to stop it. */
interface Lingering {
  url: string
  /** Answers written and never ended, still open. */
  readonly open: number
  close(): Promise<void>
}

async function listen(server: Server, path: string, open: Set<ServerResponse>): Promise<Lingering> {
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    get open() {
      return open.size
    },
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Holds `res` open (a comment now and then), counted in `open` until its socket closes. */
function linger(res: ServerResponse, open: Set<ServerResponse>): void {
  open.add(res)
  const timer = setInterval(() => res.write(': still here\n\n'), 200)
  res.once('close', () => {
    clearInterval(timer)
    open.delete(res)
  })
}

/**
 * Streamable HTTP: every request is answered on an SSE stream that stays open after its
 * response; with `holdInitialized`, the handshake's notification gets 200 and a body that
 * never ends (SSE, or JSON when `json`).
 */
async function streamableBackend(holdInitialized?: 'sse' | 'json'): Promise<Lingering> {
  const open = new Set<ServerResponse>()
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end()
    const message = await bodyOf(req)
    if (message.id === undefined) {
      if (holdInitialized === undefined || message.method !== 'notifications/initialized') {
        return void res.writeHead(202).end()
      }
      const type = holdInitialized === 'json' ? 'application/json' : 'text/event-stream'
      res.writeHead(200, { 'content-type': type })
      res.write(holdInitialized === 'json' ? '{' : ': hello\n\n')
      return linger(res, open)
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's1' })
    res.write(
      `data: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: result(message) })}\n\n`,
    )
    linger(res, open)
  })
  return listen(server, '/mcp', open)
}

/** Legacy HTTP+SSE: answers come on the GET stream; each POST's 202 never ends. */
async function legacyBackend(): Promise<Lingering> {
  const open = new Set<ServerResponse>()
  let stream: ServerResponse | undefined
  const server = createServer(async (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('event: endpoint\ndata: /messages\n\n')
      stream = res
      return
    }
    const message = await bodyOf(req)
    res.writeHead(202, { 'content-type': 'text/plain' })
    res.write('Accepted')
    linger(res, open)
    if (message.id !== undefined) {
      const answer = { jsonrpc: '2.0', id: message.id, result: result(message) }
      stream?.write(`event: message\ndata: ${JSON.stringify(answer)}\n\n`)
    }
  })
  return listen(server, '/sse', open)
}

/** A stateless (2026-07-28) call: the gateway's own backend session serves it. */
async function statelessCall(url: string, id: number): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...modernHeaders('tools/call', 'b__ping'),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: {
        name: 'b__ping',
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
    signal: AbortSignal.timeout(10_000),
  })
  return response.text()
}

async function sessionCall(url: string, session: string, id: number): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: sessionHeaders(session),
    body: toolCallBody(id, 'b__ping'),
    signal: AbortSignal.timeout(10_000),
  })
  return response.text()
}

describe('a gateway in front of backends that never end their answers', () => {
  const started: Array<{ close(): Promise<void> }> = []
  after(async () => {
    for (const item of started.reverse()) await item.close()
  })

  async function gatewayOver(
    backend: Lingering,
    transport: 'http' | 'sse',
  ): Promise<RunningPortico> {
    started.push(backend)
    const gateway = await startPortico({
      backends: [{ name: 'b', transport, url: backend.url }],
      request_timeout: 2,
      proxy: { admin_tools: false },
      store: { enabled: false },
    })
    started.push(gateway)
    return gateway
  }

  it('HTTP: the stream of each answered call is let go, in a session and stateless', async () => {
    const backend = await streamableBackend()
    const gateway = await gatewayOver(backend, 'http')
    const session = await openSession(gateway.url)
    for (let i = 0; i < 20; i++) {
      assert.match(await sessionCall(gateway.url, session, i), /pong/)
      assert.match(await statelessCall(gateway.url, 1000 + i), /pong/)
    }
    // 40 calls answered; before, 40 streams (and sockets) stayed open at the backend.
    await until(() => backend.open <= 2 || undefined, 5000, `few open answers (${backend.open})`)
  })

  it('legacy SSE: an "Accepted" that never ends is not read to its end', async () => {
    const backend = await legacyBackend()
    const gateway = await gatewayOver(backend, 'sse')
    const session = await openSession(gateway.url)
    for (let i = 0; i < 20; i++) {
      assert.match(await sessionCall(gateway.url, session, i), /pong/)
    }
    await until(() => backend.open === 0 || undefined, 5000, `no open POSTs (${backend.open})`)
  })

  it("legacy SSE: a GET never answered fails the backend's start at startup_timeout", async () => {
    // Accepts the connection, reads the GET, never answers it.
    const silent = createServer(() => {})
    const backend = await listen(silent, '/sse', new Set())
    started.push(backend)
    const gateway = await startPortico({
      backends: [{ name: 'b', transport: 'sse', url: backend.url, startup_timeout: '1s' }],
      request_timeout: 60,
      proxy: { admin_tools: false },
      store: { enabled: false },
    })
    started.push(gateway)
    // Before, the start waited for request_timeout (60 s) for the GET's headers.
    await until(
      async () => {
        const readiness = await gateway.portico.readiness()
        const backends = readiness.detail?.backends as Array<{ state: string }> | undefined
        return backends?.[0]?.state === 'starting' || backends?.[0]?.state === 'idle'
          ? undefined
          : true
      },
      10_000,
      'the backend out of "starting"',
    )
  })

  it('a backend that names the same page again ends its list there', async () => {
    const looping = await startRawUpstream('loops', (res, request) => {
      const asked = (request.params as { cursor?: string } | undefined)?.cursor
      const tools = [
        { name: asked === undefined ? 'first' : 'again', inputSchema: { type: 'object' } },
      ]
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({ jsonrpc: '2.0', id: request.id, result: { tools, nextCursor: 'same' } }),
      )
    })
    const gateway = await gatewayOver(
      { url: looping.url, open: 0, close: () => looping.close() },
      'http',
    )
    const session = await openSession(gateway.url)
    const names: string[] = []
    let cursor: string | undefined
    for (let page = 0; page < 5; page++) {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: sessionHeaders(session),
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: page,
          method: 'tools/list',
          params: cursor === undefined ? {} : { cursor },
        }),
      })
      const { result } = (await response.json()) as {
        result: { tools: Array<{ name: string }>; nextCursor?: string }
      }
      names.push(...result.tools.map((tool) => tool.name))
      cursor = result.nextCursor
      if (cursor === undefined) break
    }
    // The first page, then the page its cursor names, which names itself again: the end.
    assert.deepEqual(names, ['b__first', 'b__again'])
    assert.equal(cursor, undefined)
  })

  for (const holding of ['sse', 'json'] as const) {
    it(`HTTP: a notifications/initialized answered with a ${holding} body that never ends holds no call`, async () => {
      const backend = await streamableBackend(holding)
      const gateway = await gatewayOver(backend, 'http')
      const session = await openSession(gateway.url)
      // Within the request timeout (2 s) of the notification at most: before, never.
      assert.match(await sessionCall(gateway.url, session, 1), /pong/)
      assert.match(await statelessCall(gateway.url, 2), /pong/)
    })
  }
})
