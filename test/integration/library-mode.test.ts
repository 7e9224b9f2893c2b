/**
 * Library mode end to end: an application imports Portico by its package name, adds one
 * middleware and one HTTP filter, and both run for every message of every mode: transparent
 * (JSON and SSE answers), legacy HTTP+SSE and gateway. The middleware counts calls, refuses
 * one tool with a PorticoError (the client gets the reason's code with its request id, and
 * the HTTP status on a plain JSON answer) and changes another tool's answer; the filter sees
 * GET and DELETE as well as POST. Embedding `portico.handler` in Express works the same.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import express from 'express'
import {
  createPortico,
  type HttpFilter,
  Logger,
  type Middleware,
  mapAnswer,
  type Portico,
  PorticoError,
} from 'portico'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { MCP_ACCEPT, openSession, postInitialize } from '../helpers/mcp-http.ts'
import { serverBin } from '../helpers/mcp-servers.ts'
import { captureSink } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'

interface Harness {
  counts: Map<string, number>
  seen: string[]
  middleware: Middleware
  filter: HttpFilter
}

/** The application's own middleware and filter, as a user would write them. */
function harness(refused: string, shouted: string): Harness {
  const counts = new Map<string, number>()
  const seen: string[] = []
  const middleware: Middleware = async (call, next) => {
    const key = call.target?.name
      ? `${call.method} ${call.target.name}`
      : (call.method ?? 'response')
    counts.set(key, (counts.get(key) ?? 0) + 1)
    if (call.method === 'tools/call' && call.target?.name === refused) {
      throw new PorticoError('forbidden', `${refused} is not for you`)
    }
    const reply = await next(call)
    if (call.target?.name !== shouted) return reply
    // Changes the answer whatever its shape (JSON, or the answering event of an SSE stream).
    return mapAnswer(call, reply, (response) => {
      const content = (response.result?.content as Array<{ text: string }> | undefined) ?? []
      const shout = content.map((c) => ({ ...c, text: c.text.toUpperCase() }))
      return { ...response, result: { ...response.result, content: shout } }
    })
  }
  const filter: HttpFilter = (req) => {
    seen.push(`${req.method} ${req.url?.split('?')[0]}`)
    if (req.headers['x-block'] === 'yes') throw new PorticoError('forbidden', 'blocked by filter')
  }
  return { counts, seen, middleware, filter }
}

async function start(
  config: object,
  h: Harness,
): Promise<{ portico: Portico; url: string; sink: ReturnType<typeof captureSink> }> {
  const sink = captureSink()
  const portico = createPortico(
    { host: '127.0.0.1', port: 0, access_log: false, drain_timeout: 1, ...config },
    {
      logger: new Logger({ level: 'silent' }),
      middleware: [h.middleware],
      filters: [h.filter],
      sinks: [sink],
    },
  )
  const { url } = await portico.listen()
  return { portico, url, sink }
}

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

for (const json of [true, false]) {
  describe(`library mode, transparent, ${json ? 'JSON' : 'SSE'} answers`, () => {
    let upstream: StoreUpstream
    let running: Awaited<ReturnType<typeof start>>
    let h: Harness

    before(async () => {
      upstream = await startStoreUpstream({ json })
      h = harness('fails', 'echo')
      running = await start({ upstream: upstream.url }, h)
    })
    after(async () => {
      await running?.portico.close()
      await upstream?.close()
    })

    it('counts every call, refuses one with its id and status, changes another', async () => {
      const transport = new StreamableHTTPClientTransport(new URL(running.url))
      const client = new Client({ name: 'library-test', version: '1.0.0' })
      await client.connect(transport)
      assert.equal(
        text(await client.callTool({ name: 'echo', arguments: { text: 'quiet' } })),
        'QUIET',
      )
      await assert.rejects(client.callTool({ name: 'fails' }), /403|not for you/)
      await transport.terminateSession()
      await client.close()
      assert.equal(h.counts.get('initialize'), 1)
      assert.equal(h.counts.get('notifications/initialized'), 1)
      assert.equal(h.counts.get('tools/call echo'), 1)
      assert.equal(h.counts.get('tools/call fails'), 1)
      assert.ok(h.seen.includes('POST /mcp'))
      assert.ok(h.seen.includes('DELETE /mcp'), `filter saw ${h.seen.join(', ')}`)
      if (!json) assert.ok(h.seen.includes('GET /mcp'), 'the SSE client opened its GET stream')
      await running.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.reason === 'forbidden'),
      )
      const refused = running.sink.exchanges().find((e) => e.reason === 'forbidden')
      assert.equal(refused?.name, 'fails')
      assert.equal(refused?.httpStatus, 403)
    })

    it('answers a refused call with the reason code, the request id and 403', async () => {
      const session = await openSession(running.url)
      const response = await fetch(running.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'r-7',
          method: 'tools/call',
          params: { name: 'fails' },
        }),
      })
      assert.equal(response.status, 403)
      const body = (await response.json()) as {
        id: string
        error: { code: number; message: string }
      }
      assert.equal(body.id, 'r-7')
      assert.equal(body.error.code, -32600)
      assert.equal(body.error.message, 'fails is not for you')
    })

    it('lets a filter refuse any request, GET included, and records it', async () => {
      const response = await fetch(running.url, {
        headers: { accept: 'text/event-stream', 'x-block': 'yes' },
      })
      assert.equal(response.status, 403)
      assert.match(await response.text(), /blocked by filter/)
      await running.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.method === 'GET' && e.reason === 'forbidden'),
      )
    })
  })
}

describe('library mode, legacy HTTP+SSE', () => {
  let everything: Spawned & { url: string }
  let running: Awaited<ReturnType<typeof start>>
  let h: Harness

  before(async () => {
    everything = await startEverything('sse')
    h = harness('get-sum', 'echo')
    running = await start({ upstream: everything.url }, h)
  })
  after(async () => {
    await running?.portico.close()
    await everything?.stop()
  })

  it('runs the middleware for POSTed messages: the refusal reaches the client with its id', async () => {
    const client = new Client({ name: 'legacy-library', version: '1.0.0' })
    await client.connect(new SSEClientTransport(new URL('/sse', new URL(running.url).origin)))
    try {
      assert.equal(
        text(await client.callTool({ name: 'echo', arguments: { message: 'old' } })),
        'ECHO: OLD',
      )
      await assert.rejects(
        client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }),
        (error: Error & { code?: number }) => {
          assert.equal(error.code, -32600)
          assert.match(error.message, /get-sum is not for you/)
          return true
        },
      )
      // The session still works after a refusal.
      assert.equal(
        text(await client.callTool({ name: 'echo', arguments: { message: 'again' } })),
        'ECHO: AGAIN',
      )
    } finally {
      await client.close()
    }
    assert.equal(h.counts.get('tools/call echo'), 2)
    assert.equal(h.counts.get('tools/call get-sum'), 1)
    assert.ok(h.seen.includes('GET /sse'))
    assert.ok(h.seen.some((line) => line.startsWith('POST /message')))
  })
})

describe('library mode, gateway', () => {
  let upstream: StoreUpstream
  let running: Awaited<ReturnType<typeof start>>
  let h: Harness

  before(async () => {
    upstream = await startStoreUpstream()
    h = harness('store__fails', 'store__echo')
    running = await start(
      { backends: [{ name: 'store', transport: 'http', url: upstream.url }] },
      h,
    )
  })
  after(async () => {
    await running?.portico.close()
    await upstream?.close()
  })

  it('counts, refuses and changes calls to a backend, and filters GET and DELETE', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(running.url))
    const client = new Client({ name: 'gateway-library', version: '1.0.0' })
    await client.connect(transport)
    assert.equal(
      text(await client.callTool({ name: 'store__echo', arguments: { text: 'hi' } })),
      'HI',
    )
    await assert.rejects(client.callTool({ name: 'store__fails' }), /403|not for you/)
    await transport.terminateSession()
    await client.close()
    assert.equal(h.counts.get('tools/call store__echo'), 1)
    assert.equal(h.counts.get('tools/call store__fails'), 1)
    assert.ok(h.seen.includes('GET /mcp'))
    assert.ok(h.seen.includes('DELETE /mcp'))
  })

  it('creates no session for an initialize the middleware refused', async () => {
    const refuser = await start(
      { backends: [{ name: 'store', transport: 'http', url: upstream.url }] },
      {
        ...harness('x', 'y'),
        middleware: async (call, next) => {
          if (call.method === 'initialize') throw new PorticoError('forbidden', 'no new sessions')
          return next(call)
        },
      },
    )
    try {
      const response = await postInitialize(refuser.url, { id: 1 })
      assert.equal(response.status, 403)
      assert.equal(response.headers.get('mcp-session-id'), null)
      assert.equal(((await response.json()) as { id: number }).id, 1)
      const ready = (await (await fetch(new URL('/readyz', refuser.url))).json()) as {
        sessions: number
      }
      assert.equal(ready.sessions, 0)
    } finally {
      await refuser.portico.close()
    }
  })
})

describe('library mode, the per-upstream chain', () => {
  it('runs upstream middleware for the transparent upstream, stdio and HTTP backends and list pages', async () => {
    const upstream = await startStoreUpstream()
    const folder = mkdtempSync(join(tmpdir(), 'portico-upstream-chain-'))
    const seen: string[] = []
    const perUpstream: Middleware = async (call, next) => {
      seen.push(`${call.upstream} ${call.method}${call.target?.name ? ` ${call.target.name}` : ''}`)
      // The seam breakers will use: refuse one upstream without touching the others.
      if (call.upstream === 'memory' && call.method === 'tools/call') {
        throw new PorticoError('circuit_open', 'memory is resting')
      }
      return next(call)
    }
    const logger = new Logger({ level: 'silent' })
    const gateway = createPortico(
      {
        port: 0,
        access_log: false,
        drain_timeout: 1,
        backends: [
          { name: 'store', transport: 'http', url: upstream.url },
          {
            name: 'memory',
            transport: 'stdio',
            command: process.execPath,
            args: [serverBin('memory')],
            env: { MEMORY_FILE_PATH: join(folder, 'memory.jsonl') },
          },
        ],
      },
      { logger, upstreamMiddleware: [perUpstream] },
    )
    const transparent = createPortico(
      { upstream: upstream.url, port: 0, access_log: false, drain_timeout: 1 },
      { logger, upstreamMiddleware: [perUpstream] },
    )
    try {
      const gatewayClient = new Client({ name: 'upstream-chain', version: '1' })
      await gatewayClient.connect(
        new StreamableHTTPClientTransport(new URL((await gateway.listen()).url)),
      )
      const tools = await gatewayClient.listTools()
      assert.ok(tools.tools.some((t) => t.name === 'memory__read_graph'))
      assert.equal(
        text(await gatewayClient.callTool({ name: 'store__echo', arguments: { text: 'a' } })),
        'a',
      )
      const refused = await gatewayClient
        .callTool({ name: 'memory__read_graph' })
        .catch((e: Error) => e)
      assert.match(String((refused as Error).message ?? refused), /memory is resting/)
      await gatewayClient.close()
      const client = new Client({ name: 'upstream-chain-t', version: '1' })
      await client.connect(
        new StreamableHTTPClientTransport(new URL((await transparent.listen()).url)),
      )
      await client.callTool({ name: 'echo', arguments: { text: 'b' } })
      await client.close()
      assert.ok(seen.includes('store tools/list'), seen.join(' | '))
      assert.ok(seen.includes('memory tools/list'), 'a stdio backend list page')
      assert.ok(seen.includes('store tools/call echo'), 'the backend-local name')
      assert.ok(seen.includes('memory tools/call read_graph'))
      assert.ok(
        seen.some((line) => /^http:\/\/127\.0\.0\.1:\d+\/mcp tools\/call echo$/.test(line)),
        'the transparent upstream, named by its URL',
      )
    } finally {
      await gateway.close()
      await transparent.close()
      await upstream.close()
      rmSync(folder, { recursive: true, force: true })
    }
  })
})

describe('library mode, embedded in Express', () => {
  it('serves MCP through portico.handler mounted on an Express app', async () => {
    const upstream = await startStoreUpstream()
    const h = harness('fails', 'echo')
    const portico = createPortico(
      { upstream: upstream.url, access_log: false, drain_timeout: 1 },
      { logger: new Logger({ level: 'silent' }), middleware: [h.middleware] },
    )
    const app = express()
    app.get('/hello', (_req, res) => void res.send('express route'))
    app.all('/mcp', (req, res) => portico.handler(req, res))
    const server = createServer(app)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    try {
      const client = new Client({ name: 'express', version: '1.0.0' })
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)),
      )
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'x' } })), 'X')
      await client.close()
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/hello`)).text(), 'express route')
      assert.equal(h.counts.get('tools/call echo'), 1)
    } finally {
      server.closeAllConnections()
      server.close()
      await portico.close()
      await upstream.close()
    }
  })
})
