/**
 * Traffic protection of the transparent upstream: the top-level tables (`[retry]`,
 * `[circuit_breaker]`, `[cache]`, `[timeout]`) and mcpr's `max_concurrent_upstream`, with a
 * real SDK client through Portico to the fault-injecting server over HTTP. The same middleware
 * as the gateway's backends; here refusals carry their HTTP status (503, 504) as transparent
 * mode always did.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { ConfigInput } from '../../src/config/schema.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { COUNTER_URI, startModernServer } from '../fixtures/modern-server.ts'
import { type Served, serveMcp } from '../fixtures/serve.ts'
import {
  RESOURCE_URI,
  startSubscribableServer,
  UPDATES_PER_SUBSCRIBE,
} from '../fixtures/subscribable-server.ts'
import { ManualClock } from '../helpers/clock.ts'
import { openListenStream } from '../helpers/listen.ts'
import { MCP_ACCEPT, statelessRequest, toolCallBody } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'protect-transparent', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

describe('transparent: retries, max_concurrent_upstream, cache, whole-call timeout', () => {
  let server: FaultyHttp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    server = await startFaultyHttp('upstream')
    portico = await startPortico({
      upstream: server.url,
      max_concurrent_upstream: 1,
      retry: { max_retries: 2, initial_backoff_ms: 10, max_backoff_ms: 50 },
      cache: { tool_ttl_seconds: 60 },
      timeout: { seconds: 2 },
    } as ConfigInput)
    client = await connect(portico.url)
    await client.listTools() // teaches Portico the tools' annotations
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('retries a read-only tool after a connection reset, never a write that ran', async () => {
    server.server.plan([{ mode: 'reset', times: 1, tool: 'lookup' }])
    assert.match(
      text(await client.callTool({ name: 'lookup', arguments: { key: 'k' } })),
      /value of k/,
    )
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'lookup' && e.retries === 1),
    )
    server.server.plan([{ mode: 'reset-after', times: 1, tool: 'write' }])
    await assert.rejects(client.callTool({ name: 'write', arguments: {} }))
    assert.equal(server.server.runs.get('write'), 1, 'the write ran once')
  })

  it('queues beyond max_concurrent_upstream and records the wait', async () => {
    const results = await Promise.all(
      [1, 2].map((i) => client.callTool({ name: 'slow', arguments: { ms: 300, i } })),
    )
    for (const result of results) assert.match(text(result), /slow done/)
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'slow' && (e.queuedMs ?? 0) > 0),
    )
  })

  it('answers a cached tool call from the cache (the SSE-free JSON answer, the caller’s id)', async () => {
    await client.callTool({ name: 'echo', arguments: { text: 'cache me' } })
    await client.callTool({ name: 'echo', arguments: { text: 'cache me' } })
    assert.equal(server.server.runs.get('echo'), 1)
  })

  it('keeps apart callers the upstream knows by X-API-Key, on one address', async () => {
    const before = server.server.runs.get('echo') ?? 0
    for (const key of ['alice-key', 'bob-key', 'alice-key']) {
      const response = await fetch(portico.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25', 'x-api-key': key },
        body: toolCallBody(1, 'echo', { text: 'whose answer' }),
      })
      assert.equal(response.status, 200, await response.clone().text())
      await response.text()
    }
    // Alice's answer, then Bob's own (before: Alice's, from the cache), then Alice's cached.
    assert.equal((server.server.runs.get('echo') ?? 0) - before, 2)
  })

  it('keeps apart callers whose query the upstream gets (?api_key=, ?tenant=)', async () => {
    const before = server.server.runs.get('echo') ?? 0
    for (const query of ['?api_key=alice', '?api_key=bob', '?tenant=a', '?api_key=alice']) {
      const response = await fetch(portico.url + query, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
        body: toolCallBody(1, 'echo', { text: 'whose query' }),
      })
      assert.equal(response.status, 200, await response.clone().text())
      await response.text()
    }
    // Alice, Bob and tenant a each their own (before: all Alice's), then Alice's cached.
    assert.equal((server.server.runs.get('echo') ?? 0) - before, 3)
  })

  it('ends the whole call at [timeout] seconds: 504 upstream_timeout, cancelled upstream', async () => {
    const before = server.server.cancelled
    await assert.rejects(
      client.callTool({ name: 'hang', arguments: {} }, undefined, { timeout: 20_000 }),
      (error: Error & { code?: number }) => {
        assert.equal(error.code, 504)
        assert.match(error.message, /did not answer within 2000 ms \(the whole call\)/)
        return true
      },
    )
    await until(
      () => server.server.cancelled > before || undefined,
      5000,
      'the upstream request to be aborted',
    )
  })
})

describe('transparent: circuit breaker (hand-driven clock)', () => {
  let server: FaultyHttp
  let portico: RunningPortico
  let client: Client
  const clock = new ManualClock()

  before(async () => {
    server = await startFaultyHttp('upstream')
    portico = await startPortico(
      {
        upstream: server.url,
        admin: { enabled: true },
        circuit_breaker: {
          minimum_calls: 2,
          wait_duration_seconds: 10,
          permitted_calls_in_half_open: 1,
        },
      } as ConfigInput,
      { clock },
    )
    client = await connect(portico.url)
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('opens on 5xx answers, refuses with 503 and Retry-After at once, closes after a good probe', async () => {
    const sessionId = client.transport?.sessionId
    /** A client notification, raw (the SDK client sends only those its capabilities allow). */
    const notify = () =>
      fetch(portico.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }),
      })
    // The session's initialize succeeded; one failed call is half of two requests: open.
    server.server.plan([{ mode: 'http500', times: 1, tool: 'echo' }])
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.callTool({ name: 'echo', arguments: {} }))
      // A client's notifications say nothing of the upstream's health. Before: each counted
      // as a call that succeeded, and these kept the breaker from opening.
      for (let n = 0; n < 3; n++) assert.equal((await notify()).status, 202)
    }
    const refused = await fetch(portico.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 42,
        method: 'tools/call',
        params: { name: 'echo' },
      }),
    })
    assert.equal(refused.status, 503)
    assert.equal(refused.headers.get('retry-after'), '10')
    const body = (await refused.json()) as { id: number; error: { message: string } }
    assert.equal(body.id, 42)
    assert.match(body.error.message, /Circuit of http:\/\/127\.0\.0\.1:\d+\/mcp is open/)
    assert.equal(server.server.runs.get('echo'), undefined)
    // The admin API (and the dashboard's Gateway page) says so. Before: healthy and state
    // from the readiness probe alone, no breaker, and 0 for what is not counted.
    const backends = await fetch(`${portico.origin}/admin/backends`)
    const [upstream] = ((await backends.json()) as { backends: Array<Record<string, unknown>> })
      .backends
    assert.equal(upstream?.breaker, 'open', JSON.stringify(upstream))
    assert.equal(upstream?.healthy, false)
    assert.match(String(upstream?.error), /circuit breaker open/)
    assert.deepEqual(
      [upstream?.consecutive_failures, upstream?.restarts, upstream?.connections],
      [null, null, null],
    )
    // Not ready while it is open, as a gateway whose only backend's breaker is open (before:
    // 200 "ready" while every call got 503).
    const readyz = await fetch(`${portico.origin}/readyz`)
    assert.equal(readyz.status, 503)
    const readiness = (await readyz.json()) as { state?: string; protect?: { breaker?: string } }
    assert.deepEqual([readiness.state, readiness.protect?.breaker], ['degraded', 'open'])
    // A notification passes an open breaker (a cancel must reach the upstream).
    assert.equal((await notify()).status, 202)
    await clock.advance(10_000)
    assert.match(text(await client.callTool({ name: 'echo', arguments: { text: 'ok' } })), /ok/)
    assert.equal((await fetch(`${portico.origin}/readyz`)).status, 200)
  })
})

describe('transparent: hedging', () => {
  let server: FaultyHttp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    server = await startFaultyHttp('upstream')
    portico = await startPortico({
      upstream: server.url,
      hedging: { delay_ms: 50, max_hedges: 1 },
    } as ConfigInput)
    client = await connect(portico.url)
    await client.listTools()
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('answers a slow read from the hedge (its own id upstream, the caller’s id back), cancels the slow one', async () => {
    server.server.plan([{ mode: 'latency', ms: 30_000, times: 1, tool: 'lookup' }])
    assert.match(
      text(await client.callTool({ name: 'lookup', arguments: { key: 'h' } })),
      /value of h/,
    )
    await until(
      () => server.server.cancelled >= 1 || undefined,
      5000,
      'the slow attempt to be cancelled',
    )
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'lookup' && e.hedges === 1),
    )
  })
})

describe('transparent: hedging an SDK server that answers with event streams', () => {
  let server: Served
  let portico: RunningPortico
  let client: Client
  /** Calls of `lookup` the server began, and those of them cancelled before answering. */
  let began = 0
  let cancelled = 0

  /** Stateless, answering every call with an SSE stream (the SDK's default); the first lookup hangs. */
  function startServer(): Promise<Served> {
    return serveMcp(async (req: IncomingMessage, res: ServerResponse) => {
      const mcp = new McpServer({ name: 'sse-upstream', version: '1.0.0' })
      mcp.registerTool(
        'lookup',
        { description: 'A read', annotations: { readOnlyHint: true } },
        async (extra) => {
          if (++began === 1) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 30_000)
              extra.signal.addEventListener('abort', () => {
                cancelled++
                clearTimeout(timer)
                resolve()
              })
            })
          }
          return { content: [{ type: 'text' as const, text: `answer ${began}` }] }
        },
      )
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
      res.on('close', () => {
        void transport.close()
        void mcp.close()
      })
      await mcp.connect(transport)
      await transport.handleRequest(req, res)
    })
  }

  before(async () => {
    server = await startServer()
    portico = await startPortico({
      upstream: server.url,
      hedging: { delay_ms: 50, max_hedges: 1 },
    } as ConfigInput)
    client = await connect(portico.url)
    await client.listTools() // teaches Portico that lookup is read-only
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('hedges on the first message, not the stream head: the hedge answers, the first is cancelled', async () => {
    const result = await client.callTool({ name: 'lookup', arguments: {} })
    // The first attempt hangs until cancelled: only the hedge could answer.
    assert.equal(text(result), 'answer 2', 'the hedge, sent after 50 ms, answered')
    await until(() => (cancelled === 1 ? true : undefined), 5000, 'the first attempt cancelled')
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'lookup' && e.hedges === 1),
    )
  })
})

describe('transparent: a request that names a member twice, with limits and a cache', () => {
  // The upstream reads the first of a repeated member, as gjson-style lookups and streaming
  // parsers do; JSON.parse, and so Portico, reads the last.
  const received: string[] = []
  let runsOfExpensive = 0
  const firstOf = (raw: string, key: string) =>
    new RegExp(`"${key}"\\s*:\\s*"([^"]*)"`).exec(raw)?.[1]
  let upstream: Served
  let portico: RunningPortico

  before(async () => {
    upstream = await serveMcp(async (req: IncomingMessage, res: ServerResponse) => {
      let raw = ''
      for await (const chunk of req) raw += chunk
      received.push(raw)
      const message = JSON.parse(raw) as { id?: unknown }
      if (message.id === undefined) return void res.writeHead(202).end()
      const name = firstOf(raw, 'name')
      if (name === 'expensive') runsOfExpensive++
      const result = {
        content: [{ type: 'text', text: `${name} for ${firstOf(raw, 'q')}` }],
        cacheScope: 'public',
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }))
    })
    portico = await startPortico({
      upstream: upstream.url,
      cache: { tool_ttl_seconds: 60 },
      proxy: { rate_limit: { per_tool: [{ tool: 'expensive', requests: 1, period_seconds: 60 }] } },
    } as ConfigInput)
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  const post = (body: string, authorization: string) =>
    fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25', authorization },
      body,
    })

  it('sends upstream what its limits and cache keys read, so neither is escaped nor poisoned', async () => {
    const call = (id: number, params: string) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":${params}}`
    assert.equal(
      (await post(call(1, '{"name":"expensive","arguments":{}}'), 'Bearer a')).status,
      200,
    )
    const sneaky = await post(
      call(2, '{"name":"expensive","name":"cheap","arguments":{}}'),
      'Bearer a',
    )
    await sneaky.arrayBuffer()
    // Before: the body went as it came; the limit read `cheap`, the upstream ran `expensive`.
    assert.equal(runsOfExpensive, 1)
    assert.doesNotMatch(received.at(-1) ?? '', /"name":"expensive"/)
    await (
      await post(
        call(3, '{"name":"lookup","arguments":{"q":"evil","q":"safe"}}'),
        'Bearer attacker',
      )
    ).arrayBuffer()
    const victim = await post(
      call(4, '{"name":"lookup","arguments":{"q":"safe"}}'),
      'Bearer victim',
    )
    const answer = (await victim.json()) as { result?: { content: Array<{ text: string }> } }
    // Before: the answer the upstream built for `evil` was kept as the public answer for `safe`.
    assert.equal(answer.result?.content[0]?.text, 'lookup for safe')
  })

  it('refuses a member spelt in another case, and passes any other body as it came', async () => {
    const call = (id: number, params: string) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":${params}}`
    // Go's encoding/json reads `Name` (and `Nameſ`… any Unicode case of it) as `name`.
    for (const params of [
      '{"name":"cheap","Name":"expensive","arguments":{}}',
      '{"name":"lookup","arguments":{"q":"ok"},"Arguments":{"q":"evil"}}',
    ]) {
      const refused = await post(call(5, params), 'Bearer a')
      const body = (await refused.json()) as { id?: unknown; error?: { code: number } }
      assert.equal(refused.status, 400, params)
      assert.deepEqual([body.id, body.error?.code], [5, -32600], params)
    }
    // No repeated member: the bytes as they came, decimals exact (a re-encoding writes doubles).
    const exact = call(6, '{"name":"lookup","arguments":{"q":"x","amount":12345678901234567.89}}')
    await (await post(exact, 'Bearer a')).arrayBuffer()
    assert.equal(received.at(-1), exact)
  })
})

describe('transparent: a cached resource its server says changed', () => {
  // Before: the cached read outlived the update (the gateway's cache dropped it, transparent
  // mode's did not), and a subscriber re-reading got the old contents for resource_ttl_seconds.
  it('is read again after an update on the GET stream or on the call’s own stream', async () => {
    const upstream = await startSubscribableServer({ touchable: true })
    const portico = await startPortico({
      upstream: upstream.url,
      cache: { resource_ttl_seconds: 300 },
    } as ConfigInput)
    const client = new Client({ name: 'cache-updates', version: '1.0.0' })
    const updates: string[] = []
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (note) => {
      updates.push(note.params.uri)
    })
    const read = async () => {
      const { contents } = await client.readResource({ uri: RESOURCE_URI })
      return (contents[0] as { text?: string }).text
    }
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      await client.subscribeResource({ uri: RESOURCE_URI })
      // The fixture announces twice after a subscribe: let those pass before reading.
      await until(() => updates.length >= UPDATES_PER_SUBSCRIBE || undefined, 5000, 'updates')
      assert.equal(await read(), 'memo 0')
      assert.equal(await read(), 'memo 0', 'kept')
      for (const [tool, n] of [
        ['touch', 1],
        ['touch_here', 2],
      ] as const) {
        const seen = updates.length
        await client.callTool({ name: tool, arguments: {} })
        await until(() => updates.length > seen || undefined, 5000, `the update of ${tool}`)
        assert.equal(await read(), `memo ${n}`, tool)
        assert.equal(await read(), `memo ${n}`, `${tool}: kept again`)
      }
    } finally {
      await client.close()
      await portico.close()
      await upstream.close()
    }
  })

  it('is read again after an update on a 2026-07-28 subscriptions/listen stream', async () => {
    const upstream = await startModernServer({ counter: true })
    const portico = await startPortico({
      upstream: upstream.url,
      cache: { resource_ttl_seconds: 300 },
    } as ConfigInput)
    const read = async (id: number) => {
      const answer = await statelessRequest(
        portico.url,
        'resources/read',
        { uri: COUNTER_URI },
        { id },
      )
      return (answer.result as { contents?: Array<{ text: string }> } | undefined)?.contents?.[0]
        ?.text
    }
    const listen = await openListenStream(portico.url, 'listen-1', {
      resourceSubscriptions: [COUNTER_URI],
    })
    try {
      assert.equal(await read(1), 'count 0')
      await statelessRequest(portico.url, 'tools/call', {
        name: 'bump',
        arguments: { quiet: true },
      })
      assert.equal(await read(2), 'count 0', 'kept (the change was not announced)')
      await statelessRequest(portico.url, 'tools/call', { name: 'bump', arguments: {} })
      await listen.until(
        (all) => all.some((m) => m.method === 'notifications/resources/updated'),
        'the update',
      )
      assert.equal(await read(4), 'count 2')
    } finally {
      listen.close()
      await portico.close()
      await upstream.close()
    }
  })
})
