/**
 * Re-initializing an HTTP backend session the backend forgot, against a strict backend: like
 * the Python SDK's server, it refuses a request on a session before that session's
 * `notifications/initialized`. A session re-created after a 404 must send that notice before
 * the request it retries, or the retry is refused.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** Session id → whether its `notifications/initialized` came. */
type Sessions = Map<string, boolean>

/** How many `initialize` requests the backend answered. */
const initializes = { count: 0 }
/** How many coming `notifications/initialized` the backend refuses with 404 (the session stays). */
const noticeRefusals = { count: 0 }
/** What each session was asked to keep: `<session> <method> <uri or level>`. */
const kept: string[] = []

function strictBackend(sessions: Sessions): Server {
  let next = 0
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    for await (const chunk of req) body += chunk
    if (req.method !== 'POST') return void res.writeHead(req.method === 'DELETE' ? 200 : 405).end()
    const message = JSON.parse(body) as { id?: number; method: string }
    const json = (value: object, headers: Record<string, string> = {}) =>
      res
        .writeHead(200, { 'content-type': 'application/json', ...headers })
        .end(JSON.stringify(value))
    if (message.method === 'initialize') {
      initializes.count++
      // Slow enough that calls refused by a forgotten session all come back while one
      // re-initialization is still under way.
      if (next > 0) await new Promise((resolve) => setTimeout(resolve, 300))
      const id = `s${++next}`
      sessions.set(id, false)
      const result = {
        protocolVersion: '2025-11-25',
        capabilities: { tools: {}, resources: { subscribe: true }, logging: {} },
        serverInfo: { name: 'strict', version: '1' },
      }
      return json({ jsonrpc: '2.0', id: message.id, result }, { 'mcp-session-id': id })
    }
    const session = String(req.headers['mcp-session-id'])
    if (!sessions.has(session)) return void res.writeHead(404).end()
    if (message.method === 'notifications/initialized') {
      sessions.set(session, true)
      if (noticeRefusals.count > 0) {
        noticeRefusals.count--
        return void res.writeHead(404).end()
      }
      return void res.writeHead(202).end()
    }
    if (message.id === undefined) return void res.writeHead(202).end()
    if (!sessions.get(session)) {
      const error = { code: -32600, message: 'request before initialization was complete' }
      return json({ jsonrpc: '2.0', id: message.id, error })
    }
    if (message.method === 'resources/subscribe' || message.method === 'logging/setLevel') {
      const params = (message as { params?: { uri?: string; level?: string } }).params
      kept.push(`${session} ${message.method} ${params?.uri ?? params?.level}`)
      return json({ jsonrpc: '2.0', id: message.id, result: {} })
    }
    if (message.method === 'tools/list') {
      const tools = [{ name: 'echo', inputSchema: { type: 'object' } }]
      return json({ jsonrpc: '2.0', id: message.id, result: { tools } })
    }
    kept.push(`${session} ${message.method} -`)
    const content = [{ type: 'text', text: `echo on ${session}` }]
    return json({ jsonrpc: '2.0', id: message.id, result: { content } })
  })
}

describe('gateway: an HTTP backend session re-created after a 404', () => {
  const sessions: Sessions = new Map()
  const backend = strictBackend(sessions)
  let gateway: RunningPortico

  before(async () => {
    backend.listen(0, '127.0.0.1')
    await once(backend, 'listening')
    const { port } = backend.address() as AddressInfo
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [{ name: 'strict', transport: 'http', url: `http://127.0.0.1:${port}/mcp` }],
    })
  })
  after(async () => {
    await gateway?.close()
    backend.closeAllConnections()
    backend.close()
  })

  it('says initialized before the request it retries, so a strict backend serves it', async () => {
    const client = new Client({ name: 'reinit-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      const text = async () =>
        JSON.stringify(await client.callTool({ name: 'strict__echo', arguments: {} }))
      const first = await text()
      assert.match(first, /echo on s\d+/)
      // The backend restarts: every session it had is unknown to it now (404).
      sessions.clear()
      const again = await text()
      assert.match(again, /echo on s\d+/, again)
      assert.notEqual(again, first, 'served on a new session')
    } finally {
      await client.close()
    }
  })

  it('asks the new session for the subscriptions and the log level the lost one had', async () => {
    const client = new Client({ name: 'reinit-kept', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      await client.subscribeResource({ uri: 'memo://strict__notes/today' })
      await client.setLoggingLevel('warning')
      const first = JSON.stringify(await client.callTool({ name: 'strict__echo', arguments: {} }))
      const lost = /echo on (s\d+)/.exec(first)?.[1]
      sessions.clear()
      const again = JSON.stringify(await client.callTool({ name: 'strict__echo', arguments: {} }))
      const renewed = /echo on (s\d+)/.exec(again)?.[1]
      assert.ok(lost && renewed && renewed !== lost, `${first} then ${again}`)
      // Before: the new session knew of neither, and the client heard of no update again.
      const renewedLines = kept.filter((line) => line.startsWith(`${renewed} `))
      // Both asked again, before the call that found the session lost went out again (a call
      // touching the resource must find the subscription there).
      assert.deepEqual(renewedLines.slice(0, 2).sort(), [
        `${renewed} logging/setLevel warning`,
        `${renewed} resources/subscribe memo://notes/today`,
      ])
      assert.equal(renewedLines[2], `${renewed} tools/call -`)
    } finally {
      await client.close()
    }
  })

  it('re-creates the session once for concurrent calls the forgotten session refused', async () => {
    const client = new Client({ name: 'reinit-race', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      const call = async (i: number) =>
        JSON.stringify(await client.callTool({ name: 'strict__echo', arguments: { i } }))
      assert.match(await call(0), /echo on s\d+/)
      sessions.clear()
      const before = initializes.count
      const answers = await Promise.allSettled([1, 2, 3, 4].map(call))
      for (const answer of answers) {
        assert.equal(answer.status, 'fulfilled', JSON.stringify(answer))
        if (answer.status === 'fulfilled') assert.match(answer.value, /echo on s\d+/)
      }
      assert.equal(initializes.count - before, 1, 'one re-initialization for all four calls')
    } finally {
      await client.close()
    }
  })

  it('does not wait on itself when the new session’s notifications/initialized gets 404', async () => {
    const client = new Client({ name: 'reinit-notice', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      const call = async (i: number) =>
        JSON.stringify(
          await client.callTool({ name: 'strict__echo', arguments: { i } }, undefined, {
            timeout: 15_000,
          }),
        )
      assert.match(await call(0), /echo on s\d+/)
      // Before: the notice's 404 started a re-initialization that waited for the notice, and
      // this call and every later one of the connection waited until their deadline.
      sessions.clear()
      noticeRefusals.count = 1
      assert.match(await call(1), /echo on s\d+/)
      assert.match(await call(2), /echo on s\d+/)
    } finally {
      await client.close()
    }
  })
})
