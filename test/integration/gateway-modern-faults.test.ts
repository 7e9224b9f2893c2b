/**
 * A 2026-07-28 backend that misbehaves, or that several clients share, behind a real gateway:
 * a raw HTTP server scripted per test (real sockets), a v1 SDK client on a 2025 session and raw
 * stateless requests in front. From the fuzzers of the gateway's 2026-07-28 backends; each
 * failed on the build before its fix.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { startJwtIssuer } from '../fixtures/jwt-issuer.ts'
import { statelessRequest } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const MODERN = '2026-07-28'

interface Posted {
  id?: unknown
  method?: string
  params?: Record<string, unknown>
}

/** Answers a request itself (or returns true to hold it unanswered); else the default. */
type Script = (body: Posted, res: ServerResponse, req: IncomingMessage) => unknown

interface RawModern {
  url: string
  /** Every JSON-RPC request it was sent, in order. */
  posted: Posted[]
  /** The listen stream open now (the last one). */
  listen: ServerResponse | undefined
  close(): Promise<void>
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}

function event(res: ServerResponse, value: unknown): void {
  res.write(`event: message\ndata: ${JSON.stringify(value)}\n\n`)
}

/** A tool call's answer: one text content. */
function answerText(res: ServerResponse, id: unknown, text: string): void {
  json(res, { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } })
}

/** What a 2026-07-28-only server answers a 2025-11-25 request (the SDK's strict mode). */
function refuseRevision(res: ServerResponse, id: unknown): void {
  const error = {
    code: -32022,
    message: 'Unsupported protocol version: 2025-11-25',
    data: { supported: [MODERN] },
  }
  json(res, { jsonrpc: '2.0', id, error }, 400)
}

const discovered = (capabilities: object) => ({
  supportedVersions: [MODERN],
  capabilities,
  resultType: 'complete',
  _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'raw-modern', version: '1' } },
})

/**
 * A 2026-07-28 server: `server/discover` answered with `capabilities`, listen streams held
 * open, `tools/list` one tool `t`; everything else goes to `script` (or -32601).
 */
async function startRawModern(capabilities: object, script?: Script): Promise<RawModern> {
  const raw: RawModern = { url: '', posted: [], listen: undefined, close: async () => {} }
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk: Buffer) => {
      text += chunk
    })
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end()
      const body = JSON.parse(text) as Posted
      raw.posted.push(body)
      if (script && body.method !== undefined) {
        const held = script(body, res, req) === true
        if (held || res.headersSent || res.writableEnded) return
      }
      if (body.method === 'server/discover') {
        return json(res, { jsonrpc: '2.0', id: body.id, result: discovered(capabilities) })
      }
      if (body.method === 'subscriptions/listen') {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.flushHeaders()
        raw.listen = res
        return
      }
      if (body.method === 'tools/list') {
        const tools = [{ name: 't', inputSchema: { type: 'object' } }]
        return json(res, { jsonrpc: '2.0', id: body.id, result: { tools, resultType: 'complete' } })
      }
      if (body.method === 'resources/list') {
        const resources = [{ uri: 'demo://x', name: 'x' }]
        return json(res, { jsonrpc: '2.0', id: body.id, result: { resources } })
      }
      json(res, {
        jsonrpc: '2.0',
        id: body.id,
        error: { code: -32601, message: 'Method not found' },
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  raw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`
  raw.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return raw
}

async function session(url: string, capabilities: object = {}): Promise<Client> {
  const client = new Client({ name: 'faults', version: '1' }, { capabilities })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

async function gatewayFor(raw: RawModern, extra: object = {}): Promise<RunningPortico> {
  return startPortico({
    backends: [{ name: 'm', transport: 'http', url: raw.url, ...extra }],
  })
}

describe('2026-07-28 backends that misbehave or are shared', () => {
  it('a server/discover answer cut off says nothing of the revision: asked again, never initialize', async () => {
    let discovers = 0
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method === 'server/discover' && ++discovers === 1) {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.flushHeaders()
        res.destroy()
      }
      if (body.method === 'tools/call') {
        answerText(res, body.id, 'ok')
      }
    })
    const gateway = await gatewayFor(raw)
    try {
      await until(() => discovers >= 1)
      const answer = await until(async () => {
        const got = await statelessRequest(gateway.url, 'tools/call', {
          name: 'm__t',
          arguments: {},
        })
        return got.result === undefined ? undefined : got
      })
      assert.equal(answer.result?.content?.[0]?.text, 'ok')
      // Before: taken for a 2025 server for good, sent initialize on every call.
      assert.ok(raw.posted.every((body) => body.method !== 'initialize'))
    } finally {
      await gateway.close()
      await raw.close()
    }
  })

  it('asks the client nothing for a call that fails on an input it cannot give', async () => {
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method !== 'tools/call') return
      const inputRequests = {
        a: { method: 'elicitation/create', params: { message: 'Name?', requestedSchema: {} } },
        b: { method: 'sampling/createMessage', params: { messages: [], maxTokens: 1 } },
      }
      json(res, {
        jsonrpc: '2.0',
        id: body.id,
        result: { resultType: 'input_required', inputRequests, requestState: 's' },
      })
    })
    const gateway = await gatewayFor(raw)
    const client = await session(gateway.url, { elicitation: {} })
    let asked = 0
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked++
      return { action: 'decline' }
    })
    try {
      await assert.rejects(
        client.callTool({ name: 'm__t', arguments: {} }),
        /declared no sampling capability/,
      )
      await sleep(200)
      // Before: the user was asked the elicitation of a call that had already failed.
      assert.equal(asked, 0)
    } finally {
      await client.close()
      await gateway.close()
      await raw.close()
    }
  })

  it("never hands one client's answer to another: a response must come on its own call's stream", async () => {
    let slowId: unknown
    let releaseSlow: (() => void) | undefined
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method !== 'tools/call') return false
      const text = (value: string) => ({ content: [{ type: 'text', text: value }] })
      if (body.params?.name === 'slow') {
        slowId = body.id
        releaseSlow = () => json(res, { jsonrpc: '2.0', id: body.id, result: text('slow') })
        return true
      }
      // The backend answers the fast call with the slow call's id.
      json(res, { jsonrpc: '2.0', id: slowId, result: text('fast, for the other client') })
      return false
    })
    const gateway = await gatewayFor(raw)
    try {
      const slow = statelessRequest(gateway.url, 'tools/call', { name: 'm__slow', arguments: {} })
      await until(() => slowId !== undefined)
      const fast = await statelessRequest(gateway.url, 'tools/call', {
        name: 'm__fast',
        arguments: {},
      })
      assert.ok(fast.error !== undefined, JSON.stringify(fast))
      releaseSlow?.()
      const slowAnswer = await slow
      assert.equal(slowAnswer.result?.content?.[0]?.text, 'slow', JSON.stringify(slowAnswer))
    } finally {
      await gateway.close()
      await raw.close()
    }
  })

  it('every session subscribed to a resource gets its updates, the second one too', async () => {
    const raw = await startRawModern({ resources: { subscribe: true } })
    const gateway = await gatewayFor(raw)
    const [first, second] = [await session(gateway.url), await session(gateway.url)]
    const updates = { first: 0, second: 0 }
    first.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
      updates.first++
    })
    second.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
      updates.second++
    })
    try {
      const listed = await first.listResources()
      const uri = listed.resources[0]?.uri as string
      await first.subscribeResource({ uri })
      // Before: the second subscribe was answered without the session joining the backend's
      // audience, and it never heard an update.
      await second.subscribeResource({ uri })
      const asked = () => {
        const last = raw.posted.findLast((body) => body.method === 'subscriptions/listen')
        const filter = last?.params?.notifications as { resourceSubscriptions?: string[] }
        return filter?.resourceSubscriptions?.includes('demo://x') === true ? raw.listen : undefined
      }
      const stream = await until(asked)
      event(stream, {
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri: 'demo://x' },
      })
      await until(() => updates.first === 1 && updates.second === 1)
    } finally {
      await first.close()
      await second.close()
      await gateway.close()
      await raw.close()
    }
  })

  it('bounds what one session subscribes, and reopens the listen stream once per burst', async () => {
    const raw = await startRawModern({ resources: { subscribe: true } })
    const gateway = await gatewayFor(raw)
    const [greedy, other] = [await session(gateway.url), await session(gateway.url)]
    try {
      const listed = await greedy.listResources()
      const real = listed.resources[0]?.uri as string
      const prefix = real.slice(0, real.length - 'x'.length)
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => greedy.subscribeResource({ uri: `${prefix}r${i}` })),
      )
      // Before: one session could take every slot, with URIs the backend never listed.
      await assert.rejects(greedy.subscribeResource({ uri: `${prefix}r100` }), /at most 100/)
      await other.subscribeResource({ uri: real })
      await sleep(300)
      const listens = raw.posted.filter((body) => body.method === 'subscriptions/listen').length
      // Before: one reopen, with the whole list, per subscribe (101 here).
      assert.ok(listens <= 10, `${listens} listen requests for 101 subscribes`)
    } finally {
      await greedy.close()
      await other.close()
      await gateway.close()
      await raw.close()
    }
  })

  it('an update sent while the listen stream is opened again still reaches its subscriber', async () => {
    const streams: ServerResponse[] = []
    const raw = await startRawModern({ resources: { subscribe: true } }, (body, res) => {
      if (body.method !== 'subscriptions/listen') return
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.flushHeaders()
      const before = streams.at(-1)
      streams.push(res)
      // The backend has the new stream; the update it sends now goes on the one it replaces,
      // and the new one is acknowledged only after it.
      if (before !== undefined && !before.writableEnded) {
        event(before, {
          jsonrpc: '2.0',
          method: 'notifications/resources/updated',
          params: { uri: 'demo://x' },
        })
      }
      setTimeout(() => {
        event(res, {
          jsonrpc: '2.0',
          method: 'notifications/subscriptions/acknowledged',
          params: { _meta: { 'io.modelcontextprotocol/subscriptionId': body.id } },
        })
      }, 50)
      return true
    })
    const gateway = await gatewayFor(raw)
    const client = await session(gateway.url)
    const updated: string[] = []
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updated.push(notification.params.uri)
    })
    try {
      const listed = await client.listResources()
      const uri = listed.resources[0]?.uri as string
      await client.subscribeResource({ uri })
      await until(() => streams.length === 1)
      await client.subscribeResource({ uri: `${uri.slice(0, -1)}y` })
      await until(() => streams.length === 2)
      // Before: the stream was closed before its successor was opened, and the update was lost.
      await until(() => updated.length === 1, 3000)
      assert.deepEqual(updated, [uri])
      // The replaced stream is closed once its successor is acknowledged.
      await until(() => streams[0]?.destroyed === true || streams[0]?.closed === true, 3000)
    } finally {
      await client.close()
      await gateway.close()
      await raw.close()
    }
  })

  it("forward_auth: the revision probe is made again with the caller's token, and every call carries it", async () => {
    const issuer = await startJwtIssuer('alice')
    const seen: Array<{ method?: string; authorized: boolean }> = []
    const raw = await startRawModern({ tools: {} }, (body, res, req) => {
      const authorized = (req.headers.authorization ?? '').startsWith('Bearer ey')
      seen.push({ method: body.method, authorized })
      if (!authorized) {
        res.writeHead(401).end()
        return
      }
      if (body.method === 'tools/call') {
        answerText(res, body.id, 'hi')
      }
    })
    const gateway = await startPortico({
      backends: [{ name: 'm', transport: 'http', url: raw.url, forward_auth: true }],
      proxy: { admin_tools: false },
      auth: { type: 'jwt', issuer: issuer.issuer, jwks_uri: issuer.jwksUri },
    })
    try {
      const token = await issuer.sign(gateway.url)
      const client = new Client({ name: 'alice', version: '1' })
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      )
      try {
        const result = await client.callTool({ name: 'm__t', arguments: {} })
        assert.deepEqual(result.content, [{ type: 'text', text: 'hi' }])
      } finally {
        await client.close()
      }
      // The start-up probe had no caller, and was refused; hers was answered, in 2026-07-28.
      // The tool's marks were looked up with her token too, before her call.
      const hers = seen.filter((request) => request.authorized)
      assert.deepEqual(
        hers.map((request) => request.method),
        ['server/discover', 'tools/list', 'tools/call'],
      )
      assert.ok(seen.every((request) => request.method !== 'initialize'))
    } finally {
      await gateway.close()
      await raw.close()
      await issuer.close()
    }
  })

  it('withdraws the other input requests of a round one of which the client refused', async () => {
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method !== 'tools/call') return false
      const schema = { type: 'object', properties: {} }
      const inputRequests = {
        a: { method: 'elicitation/create', params: { message: 'A?', requestedSchema: schema } },
        b: { method: 'elicitation/create', params: { message: 'B?', requestedSchema: schema } },
      }
      json(res, {
        jsonrpc: '2.0',
        id: body.id,
        result: { resultType: 'input_required', inputRequests },
      })
      return true
    })
    const gateway = await gatewayFor(raw)
    const client = await session(gateway.url, { elicitation: {} })
    let withdrawn = false
    client.setRequestHandler(ElicitRequestSchema, async (request, extra) => {
      if (request.params.message === 'A?') throw new Error('the user closed the dialog')
      // B waits for its user, until the gateway withdraws it.
      await new Promise<void>((resolve) => {
        extra.signal.addEventListener('abort', () => {
          withdrawn = true
          resolve()
        })
      })
      return { action: 'cancel' }
    })
    try {
      await assert.rejects(client.callTool({ name: 'm__t', arguments: {} }), /did not answer/)
      // Before: B stayed asked (and waited for) after its call had failed.
      await until(() => withdrawn, 5000, 'B withdrawn')
    } finally {
      await client.close()
      await gateway.close()
      await raw.close()
    }
  })

  it("a call's stream speaks only of that call: progress naming another client's call is dropped", async () => {
    let slowToken: unknown
    let releaseSlow: (() => void) | undefined
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method !== 'tools/call') return false
      const meta = body.params?._meta as { progressToken?: unknown } | undefined
      if (body.params?.name === 'slow') {
        slowToken = meta?.progressToken
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        releaseSlow = () => {
          event(res, {
            jsonrpc: '2.0',
            id: body.id,
            result: { content: [{ type: 'text', text: 'slow' }] },
          })
          res.end()
        }
        return true
      }
      // On the other client's call's stream: progress under the slow call's (gateway) token.
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const progress = { progressToken: slowToken, progress: 1, message: 'the other client’s data' }
      event(res, { jsonrpc: '2.0', method: 'notifications/progress', params: progress })
      event(res, {
        jsonrpc: '2.0',
        id: body.id,
        result: { content: [{ type: 'text', text: 'fast' }] },
      })
      res.end()
      return true
    })
    const gateway = await gatewayFor(raw)
    const client = await session(gateway.url)
    const seen: string[] = []
    try {
      const slow = client.callTool({ name: 'm__slow', arguments: {} }, undefined, {
        onprogress: (progress) => seen.push(String(progress.message)),
      })
      await until(() => slowToken !== undefined)
      const fast = await statelessRequest(gateway.url, 'tools/call', {
        name: 'm__fast',
        arguments: {},
      })
      assert.equal(fast.result?.content?.[0]?.text, 'fast')
      releaseSlow?.()
      await slow
      // Before: the slow call's client got the other client's progress message.
      assert.deepEqual(seen, [])
    } finally {
      await client.close()
      await gateway.close()
      await raw.close()
    }
  })

  it("an input round's error keeps the backend's message", async () => {
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method !== 'tools/call') return false
      if (body.params?.inputResponses === undefined) {
        const ask = {
          method: 'elicitation/create',
          params: { message: 'Go?', requestedSchema: { type: 'object', properties: {} } },
        }
        json(res, {
          jsonrpc: '2.0',
          id: body.id,
          result: { resultType: 'input_required', inputRequests: { go: ask } },
        })
        return true
      }
      json(
        res,
        { jsonrpc: '2.0', id: body.id, error: { code: -32603, message: 'disk full on node 7' } },
        500,
      )
      return true
    })
    const gateway = await gatewayFor(raw)
    const client = await session(gateway.url, { elicitation: {} })
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: {} }))
    try {
      await assert.rejects(
        client.callTool({ name: 'm__t', arguments: {} }),
        /answered HTTP 500: disk full on node 7/,
      )
    } finally {
      await client.close()
      await gateway.close()
      await raw.close()
    }
  })

  it('portico__call_tool passes on inputResponses a backend asked for without a requestState', async () => {
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method !== 'tools/call') return false
      const answers = body.params?.inputResponses as Record<string, unknown> | undefined
      if (answers?.go === undefined) {
        const ask = {
          method: 'elicitation/create',
          params: { message: 'Go?', requestedSchema: { type: 'object', properties: {} } },
        }
        json(res, {
          jsonrpc: '2.0',
          id: body.id,
          result: { resultType: 'input_required', inputRequests: { go: ask } },
        })
        return true
      }
      answerText(res, body.id, 'gone')
      return true
    })
    const gateway = await startPortico({
      proxy: { tool_exposure: 'search' },
      backends: [{ name: 'm', transport: 'http', url: raw.url }],
    })
    try {
      const call = (extra: object) =>
        statelessRequest(
          gateway.url,
          'tools/call',
          { name: 'portico__call_tool', arguments: { name: 'm__t', arguments: {} }, ...extra },
          { capabilities: { elicitation: {} } },
        )
      const first = await call({})
      assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
      // Before: the answers were dropped on the way, and the backend asked again for ever.
      const retry = await call({ inputResponses: { go: { action: 'accept', content: {} } } })
      assert.equal(retry.result?.content?.[0]?.text, 'gone', JSON.stringify(retry))
    } finally {
      await gateway.close()
      await raw.close()
    }
  })

  it("forward_auth: a stateless caller's token decides its probe, and another caller's refused one never decides it", async () => {
    const issuer = await startJwtIssuer('bob')
    let release: (() => void) | undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const raw = await startRawModern({ tools: {} }, (body, res, req) => {
      const token = req.headers.authorization ?? ''
      if (!token.startsWith('Bearer ey')) {
        // The start-up probe: refused, after the callers' calls are on their way.
        void held.then(() => res.writeHead(401).end())
        return true
      }
      if (req.headers['x-user-id'] === 'mallory') {
        // As an OAuth layer refuses a token (RFC 6750): a 400 that is no MCP server's answer.
        json(res, { error: 'invalid_request' }, 400)
        return true
      }
      if (body.method === 'tools/call') {
        answerText(res, body.id, 'hi')
        return true
      }
      return false
    })
    const gateway = await startPortico({
      backends: [{ name: 'm', transport: 'http', url: raw.url, forward_auth: true }],
      proxy: { admin_tools: false },
      auth: { type: 'jwt', issuer: issuer.issuer, jwks_uri: issuer.jwksUri },
    })
    try {
      const bob = await issuer.sign(gateway.url)
      const mallory = await issuer.sign(gateway.url, { claims: { sub: 'mallory' } })
      const call = (token: string) =>
        fetch(gateway.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            authorization: `Bearer ${token}`,
            'mcp-protocol-version': MODERN,
            'mcp-method': 'tools/call',
            'mcp-name': 'm__t',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'tools/call',
            params: {
              name: 'm__t',
              arguments: {},
              _meta: {
                'io.modelcontextprotocol/protocolVersion': MODERN,
                'io.modelcontextprotocol/clientCapabilities': {},
              },
            },
          }),
        }).then((response) => response.text())
      // Both stateless, both waiting on the token-less probe; Mallory's token is refused.
      const answers = [call(mallory), call(bob)]
      await sleep(200)
      release?.()
      const [malloryAnswer, bobAnswer] = await Promise.all(answers)
      // Before: a stateless caller's token was never used, and Bob's call could join
      // Mallory's refused probe.
      assert.match(String(bobAnswer), /"text":"hi"/, bobAnswer)
      assert.doesNotMatch(String(malloryAnswer), /"text":"hi"/)
      // Mallory again, then Bob: her 400 never made the backend a 2025 one (before, it did,
      // for good, and Bob's calls were sent initialize).
      assert.doesNotMatch(await call(mallory), /"text":"hi"/)
      assert.match(await call(bob), /"text":"hi"/)
      assert.ok(raw.posted.every((body) => body.method !== 'initialize'))
    } finally {
      await gateway.close()
      await raw.close()
      await issuer.close()
    }
  })

  it('a tools/list that never answers does not hold the calls: the marks lookup has a share of the deadline', async () => {
    const raw = await startRawModern({ tools: {} }, (body, res) => {
      if (body.method === 'tools/list') return true // held: never answered
      if (body.method !== 'tools/call') return false
      answerText(res, body.id, 'ok')
      return true
    })
    const gateway = await gatewayFor(raw, { timeout: '2s' })
    try {
      for (let id = 1; id <= 2; id++) {
        const answer = await statelessRequest(gateway.url, 'tools/call', {
          name: 'm__t',
          arguments: {},
        })
        // Before: every call waited for the lookup past its own deadline, and failed.
        assert.equal(answer.result?.content?.[0]?.text, 'ok', JSON.stringify(answer))
      }
    } finally {
      await gateway.close()
      await raw.close()
    }
  })

  it('a backend that changes its revision is learned again, both ways', async () => {
    let mode: 'modern' | 'legacy' = 'modern'
    const text = (value: string) => ({ content: [{ type: 'text', text: value }] })
    const raw = await startRawModern({ tools: {} }, (body, res, req) => {
      if (mode === 'modern') {
        if (body.method === 'tools/call') {
          const legacyRequest =
            req.headers['mcp-session-id'] !== undefined || body.method === undefined
          if (legacyRequest || req.headers['mcp-protocol-version'] !== MODERN) {
            refuseRevision(res, body.id)
            return true
          }
          json(res, { jsonrpc: '2.0', id: body.id, result: text('modern') })
          return true
        }
        if (body.method === 'initialize') {
          refuseRevision(res, body.id)
          return true
        }
        return false
      }
      // A 2025-11-25 server with sessions.
      if (body.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's1' })
        const result = {
          protocolVersion: '2025-11-25',
          capabilities: { tools: {} },
          serverInfo: { name: 'old', version: '1' },
        }
        res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, result }))
        return true
      }
      if (body.id === undefined) {
        res.writeHead(202).end()
        return true
      }
      if (req.headers['mcp-session-id'] !== 's1') {
        json(
          res,
          {
            jsonrpc: '2.0',
            id: null,
            error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
          },
          400,
        )
        return true
      }
      if (body.method === 'tools/list') {
        json(res, {
          jsonrpc: '2.0',
          id: body.id,
          result: { tools: [{ name: 't', inputSchema: { type: 'object' } }] },
        })
        return true
      }
      json(res, { jsonrpc: '2.0', id: body.id, result: text('legacy') })
      return true
    })
    const gateway = await gatewayFor(raw)
    const call = () => statelessRequest(gateway.url, 'tools/call', { name: 'm__t', arguments: {} })
    const answered = (expected: string) =>
      until(
        async () => ((await call()).result?.content?.[0]?.text === expected ? true : undefined),
        15_000,
        expected,
      )
    try {
      await answered('modern')
      // Restarted as a 2025 server: before, every call failed "answered HTTP 400" for good.
      mode = 'legacy'
      await answered('legacy')
      // Restarted as a 2026-07-28-only server: before, its -32022 refusal of the gateway's own
      // session reached the client as a refusal of the client's request, for good.
      mode = 'modern'
      await answered('modern')
    } finally {
      await gateway.close()
      await raw.close()
    }
  })

  it("each caller's tool marks are looked up in its own listing", async () => {
    const marked = {
      name: 'admin_route',
      inputSchema: {
        type: 'object',
        properties: { region: { type: 'string', 'x-mcp-header': 'Region' } },
      },
    }
    const raw = await startRawModern({ tools: {} }, (body, res, req) => {
      const user = req.headers['x-user-id']
      if (body.method === 'tools/list') {
        // Only bob is shown the marked tool.
        const tools = [
          { name: 't', inputSchema: { type: 'object' } },
          ...(user === 'bob' ? [marked] : []),
        ]
        json(res, { jsonrpc: '2.0', id: body.id, result: { tools } })
        return true
      }
      if (body.method !== 'tools/call') return false
      const args = body.params?.arguments as { region?: string } | undefined
      if (body.params?.name === 'admin_route' && req.headers['mcp-param-region'] !== args?.region) {
        const error = { code: -32020, message: 'the Mcp-Param-Region header is absent' }
        json(res, { jsonrpc: '2.0', id: body.id, error }, 400)
        return true
      }
      answerText(res, body.id, `ok ${user}`)
      return true
    })
    const gateway = await startPortico({
      backends: [{ name: 'm', transport: 'http', url: raw.url }],
      proxy: { admin_tools: false },
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'bob', key: 'bob-key-0123456789' },
        ],
      },
    })
    const as = async (key: string) => {
      const client = new Client({ name: key, version: '1' })
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), {
          requestInit: { headers: { authorization: `Bearer ${key}` } },
        }),
      )
      return client
    }
    const [alice, bob] = [await as('alice-key-0123456789'), await as('bob-key-0123456789')]
    try {
      // Alice's call looks up her listing, which has no admin_route.
      await alice.callTool({ name: 'm__t', arguments: {} })
      // Before: her listing counted for everyone, and Bob's call went without the header.
      const result = await bob.callTool({ name: 'm__admin_route', arguments: { region: 'eu' } })
      assert.deepEqual(result.content, [{ type: 'text', text: 'ok bob' }])
    } finally {
      await alice.close()
      await bob.close()
      await gateway.close()
      await raw.close()
    }
  })

  it('a listen stream refused 429 is opened again, and its list changes reach the sessions', async () => {
    let listens = 0
    const raw = await startRawModern({ tools: { listChanged: true } }, (body, res) => {
      if (body.method === 'subscriptions/listen' && ++listens === 1) {
        json(res, { error: 'slow down' }, 429)
      }
    })
    const gateway = await gatewayFor(raw)
    const client = await session(gateway.url)
    let changed = 0
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++
    })
    try {
      await client.listTools()
      const stream = await until(() => (listens >= 2 ? raw.listen : undefined), 5000)
      event(stream, { jsonrpc: '2.0', method: 'notifications/tools/list_changed' })
      await until(() => changed > 0, 5000)
    } finally {
      await client.close()
      await gateway.close()
      await raw.close()
    }
  })
})
