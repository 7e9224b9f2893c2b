/**
 * What the two parallel pipelines got wrong, fixed by the one chain: every request id gets an
 * answer (also when the upstream's stream breaks or an event is too large), refusals carry the
 * right status and headers from the reason table, and a client's cancel is not a backend
 * failure.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Middleware } from '../../src/pipeline/compose.ts'
import { type Misbehaving, startMisbehaving } from '../fixtures/misbehaving-upstream.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { initializeBody, MCP_ACCEPT, openSession, postInitialize } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'

const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 'c1',
  method: 'tools/call',
  params: { name: 'x' },
})

function messagesOf(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
}

describe('transparent: every request id gets an answer', () => {
  let bad: Misbehaving
  before(async () => {
    bad = await startMisbehaving()
  })
  after(async () => {
    await bad?.close()
  })

  async function through(path: string, config: object = {}) {
    const portico = await startPortico({ upstream: `${bad.origin}${path}`, ...config })
    try {
      const response = await fetch(portico.url, { method: 'POST', headers: MCP_ACCEPT, body: CALL })
      const text = await response.text()
      await portico.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.jsonrpcId === 'c1'),
      )
      return {
        status: response.status,
        text,
        event: portico.sink.exchanges().find((e) => e.jsonrpcId === 'c1'),
      }
    } finally {
      await portico.close()
    }
  }

  it('ends a stream the upstream killed with an error for the pending id', async () => {
    const { status, text, event } = await through('/dies')
    assert.equal(status, 200)
    const [progress, error] = messagesOf(text)
    assert.equal(progress?.method, 'notifications/progress')
    assert.equal(error?.id, 'c1')
    assert.equal((error?.error as { code: number } | undefined)?.code, -32603)
    assert.equal(event?.reason, 'upstream_stream_ended')
    assert.equal(event?.outcome, 'error')
  })

  it('legacy HTTP+SSE: a stream that ends with a call in flight answers it with its id', async () => {
    const portico = await startPortico({ upstream: `${bad.origin}/l/sse` })
    const client = new Client({ name: 'legacy-dies', version: '1' })
    try {
      await client.connect(new SSEClientTransport(new URL('/sse', portico.origin)))
      await assert.rejects(client.callTool({ name: 'x' }), (error: Error & { code?: number }) => {
        assert.equal(error.code, -32603)
        assert.match(error.message, /ended its answer/)
        return true
      })
      await portico.sink.waitFor((events) =>
        events.some(
          (e) => e.type === 'exchange' && e.name === 'x' && e.reason === 'upstream_stream_ended',
        ),
      )
    } finally {
      await client.close().catch(() => undefined)
      await portico.close()
    }
  })

  it('legacy HTTP+SSE: an answer the upstream sends just before ending its stream still reaches the client', async () => {
    // A middleware that takes its time with the answer (as one asking a shared store would):
    // the stream's end comes while the answer is still on its way back through the chain.
    const slowAnswer: Middleware = async (call, next) => {
      const reply = await next(call)
      if (call.method === 'tools/call') await new Promise((resolve) => setTimeout(resolve, 100))
      return reply
    }
    const portico = await startPortico(
      { upstream: `${bad.origin}/l/sse` },
      { middleware: [slowAnswer] },
    )
    const client = new Client({ name: 'legacy-last-words', version: '1' })
    try {
      await client.connect(new SSEClientTransport(new URL('/sse', portico.origin)))
      const result = await client.callTool({ name: 'last_words' })
      assert.deepEqual(result.content, [{ type: 'text', text: 'said before leaving' }])
    } finally {
      await client.close().catch(() => undefined)
      await portico.close()
    }
  })

  it('legacy HTTP+SSE: an endpoint on another host is never passed on; the stream ends', async () => {
    // `/slashes`: on the upstream's origin, but its path `//elsewhere.invalid/msg` sent as is
    // would be a protocol-relative link to that host.
    for (const upstream of ['/foreign/sse', '/slashes/sse']) {
      const portico = await startPortico({ upstream: `${bad.origin}${upstream}` })
      try {
        const response = await fetch(new URL('/sse', portico.origin), {
          headers: { accept: 'text/event-stream' },
          signal: AbortSignal.timeout(10_000),
        })
        const text = await response.text()
        assert.doesNotMatch(text, /elsewhere\.invalid/, upstream)
        assert.doesNotMatch(text, /event: endpoint/, upstream)
      } finally {
        await portico.close()
      }
    }
  })

  it('legacy HTTP+SSE: a server with a messages path per stream keeps working past 64 streams', async () => {
    const portico = await startPortico({ upstream: `${bad.origin}/p/sse` })
    try {
      let path = ''
      for (let stream = 1; stream <= 70; stream++) {
        const controller = new AbortController()
        const response = await fetch(new URL('/sse', portico.origin), {
          headers: { accept: 'text/event-stream' },
          signal: controller.signal,
        })
        const reader = (response.body as ReadableStream<Uint8Array>).getReader()
        let text = ''
        const readUntil = async (pattern: RegExp) => {
          while (!pattern.test(text)) {
            const { value, done } = await reader.read()
            if (done) break
            text += new TextDecoder().decode(value)
          }
          return pattern.exec(text)?.[1] ?? ''
        }
        path = await readUntil(/event: endpoint\ndata: (\S+)\n\n/)
        if (stream < 70) controller.abort()
        else {
          const posted = await fetch(new URL(path, portico.origin), {
            method: 'POST',
            headers: MCP_ACCEPT,
            body: JSON.stringify({ jsonrpc: '2.0', id: 70, method: 'ping' }),
          })
          assert.equal(posted.status, 202, `POST ${path} is MCP traffic, forwarded`)
          const answer = await readUntil(/event: message\ndata: (\S+)\n\n/)
          assert.deepEqual(JSON.parse(answer), {
            jsonrpc: '2.0',
            id: 70,
            result: { path: '/p/msg/70' },
          })
          controller.abort()
        }
      }
      assert.equal(path, '/p/msg/70')
      // Through the chain (recorded as a call), not forwarded as unknown traffic past it.
      await portico.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.method === 'ping' && e.jsonrpcId === 70),
      )
    } finally {
      await portico.close()
    }
  })

  it('legacy HTTP+SSE: a POST whose query names two sessions is refused, not guessed at', async () => {
    const portico = await startPortico({ upstream: `${bad.origin}/l/sse` })
    const controller = new AbortController()
    try {
      const path = await legacyEndpoint(portico.origin, controller.signal)
      assert.match(path, /sessionId=s1$/)
      for (const second of ['&sessionId=s2', '&session_id=s2']) {
        const posted = await fetch(new URL(path + second, portico.origin), {
          method: 'POST',
          headers: MCP_ACCEPT,
          body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'ping' }),
          signal: AbortSignal.timeout(5000),
        })
        assert.equal(posted.status, 400, second)
        const body = (await posted.json()) as { error?: { code: number; message: string } }
        assert.equal(body.error?.code, -32600)
        assert.match(body.error?.message ?? '', /names more than one session/)
      }
      // The same session twice is one session.
      const same = await fetch(new URL(`${path}&sessionId=s1`, portico.origin), {
        method: 'POST',
        headers: MCP_ACCEPT,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
        signal: AbortSignal.timeout(5000),
      })
      assert.equal(same.status, 202)
    } finally {
      controller.abort()
      await portico.close()
    }
  })

  it('legacy HTTP+SSE: an upstream that answers an uncorrelated POST in its body is relayed', async () => {
    const portico = await startPortico({ upstream: `${bad.origin}/j/sse` })
    const controller = new AbortController()
    try {
      const path = await legacyEndpoint(portico.origin, controller.signal)
      assert.equal(path, '/j/msg')
      const posted = await fetch(new URL(path, portico.origin), {
        method: 'POST',
        headers: MCP_ACCEPT,
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }),
      })
      assert.equal(posted.status, 200)
      assert.deepEqual(await posted.json(), { jsonrpc: '2.0', id: 7, result: { inBody: true } })
      const notified = await fetch(new URL(path, portico.origin), {
        method: 'POST',
        headers: MCP_ACCEPT,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      })
      assert.equal(notified.status, 202)
    } finally {
      controller.abort()
      await portico.close()
    }
  })

  it('an SSE answer with another id does not answer the call: the call gets an error with its id', async () => {
    const { status, text, event } = await through('/sse-wrong-id')
    assert.equal(status, 200)
    const messages = messagesOf(text)
    // Not passed on (a client could take it for its own request 999); the call is answered.
    assert.deepEqual(
      messages.map((message) => message.id),
      ['c1'],
    )
    assert.equal((messages[0]?.error as { code: number } | undefined)?.code, -32603)
    assert.equal(event?.reason, 'upstream_stream_ended')
  })

  it('answers an SSE event over the bound with a clear error, not a 500 or an empty body', async () => {
    const { status, text, event } = await through('/huge-event', { max_response_body_size: 4096 })
    assert.equal(status, 200)
    const [error] = messagesOf(text)
    assert.equal(error?.id, 'c1')
    assert.match(
      (error?.error as { message: string } | undefined)?.message ?? '',
      /larger than 4096 bytes/,
    )
    assert.equal(event?.reason, 'response_too_large')
  })

  it('answers a JSON answer with another id, or garbage, with an error carrying the call id, and records it', async () => {
    const wrong = await through('/json-wrong-id')
    assert.equal(wrong.status, 502)
    const answer = JSON.parse(wrong.text) as { id: string; error: { message: string } }
    assert.equal(answer.id, 'c1', 'the call is answered, not left waiting for its id')
    assert.match(answer.error.message, /invalid response to request "c1": the response to id 999/)
    assert.equal(wrong.event?.outcome, 'error')
    assert.equal(wrong.event?.reason, 'upstream_bad_response')
    const garbage = await through('/json-garbage')
    assert.equal(garbage.status, 502)
    assert.equal(garbage.event?.outcome, 'error')
    assert.equal(garbage.event?.reason, 'upstream_bad_response')
  })

  it('bounds a JSON answer whose body stalls by the timeout, with a proper error', async () => {
    const { status, text, event } = await through('/stall-body', { request_timeout: '300ms' })
    assert.equal(status, 504)
    const body = JSON.parse(text) as { id: string; error: { data: { reason: string } } }
    assert.equal(body.id, 'c1')
    assert.equal(body.error.data.reason, 'timeout')
    assert.equal(event?.reason, 'upstream_timeout')
  })
})

/**
 * A 2026-07-28 request whose mirrored headers name another method or target than its body
 * (SEP-2243): refused with 400 and -32020, its id kept; matching headers (also base64-wrapped)
 * pass. Portico judges calls by their body, so a router reading the headers must agree with it.
 */
async function assertHeadersMatchBody(url: string, tool: string): Promise<void> {
  const call = (name: string) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: 'h1',
      method: 'tools/call',
      params: {
        name,
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    })
  const post = (headers: Record<string, string>, body: string) =>
    fetch(url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2026-07-28', ...headers },
      body,
    })
  const mismatches: Array<Record<string, string>> = [
    { 'mcp-method': 'tools/call', 'mcp-name': 'secret' },
    { 'mcp-method': 'ping', 'mcp-name': tool },
    {
      'mcp-method': 'tools/call',
      'mcp-name': `=?base64?${Buffer.from('secret').toString('base64')}?=`,
    },
    // The version header names another revision than the body's `_meta` (with or without
    // the other mirrored headers).
    { 'mcp-method': 'tools/call', 'mcp-name': tool, 'mcp-protocol-version': '2025-11-25' },
    { 'mcp-protocol-version': '2025-11-25' },
  ]
  for (const headers of mismatches) {
    const refused = await post(headers, call(tool))
    assert.equal(refused.status, 400, JSON.stringify(headers))
    const answer = (await refused.json()) as { id: string; error: { code: number } }
    assert.equal(answer.error.code, -32020)
    assert.equal(answer.id, 'h1')
  }
  // A batch whose headers name its first call: each message goes upstream alone with them,
  // so the second, another tool, would have carried headers that name what it is not.
  const batch = `[${call(tool)},${call('secret').replace('"h1"', '"h2"')}]`
  const refusedBatch = await post({ 'mcp-method': 'tools/call', 'mcp-name': tool }, batch)
  assert.equal(refusedBatch.status, 400)
  assert.match(await refusedBatch.text(), /-32020.*in a batch, its headers hold for every message/)
  const wrapped = `=?base64?${Buffer.from(tool).toString('base64')}?=`
  for (const name of [tool, wrapped]) {
    const passed = await post({ 'mcp-method': 'tools/call', 'mcp-name': name }, call(tool))
    // Whatever the upstream answers, Portico let it through.
    assert.doesNotMatch(await passed.text(), /Header mismatch|-32020/, name)
  }
}

describe('mirrored headers must match the body (2026-07-28)', () => {
  it('transparent and gateway refuse a mismatch with -32020, the id kept', async () => {
    const upstream = await startStoreUpstream({ stateless: true, json: true })
    const transparent = await startPortico({ upstream: upstream.url })
    const gateway = await startPortico({
      backends: [{ name: 'store', transport: 'http', url: upstream.url }],
    })
    try {
      await assertHeadersMatchBody(transparent.url, 'fast')
      await assertHeadersMatchBody(gateway.url, 'store__fast')
    } finally {
      await transparent.close()
      await gateway.close()
      await upstream.close()
    }
  })
})

describe('ids above 2^53 come back exactly as sent', () => {
  const BIG = '12345678901234567890123'

  it("in a gateway answer, and in Portico's own error in transparent mode", async () => {
    const upstream = await startStoreUpstream()
    const gateway = await startPortico({
      backends: [{ name: 'store', transport: 'http', url: upstream.url }],
    })
    const dead = await startPortico({ upstream: `${REFUSED_ORIGIN}/mcp` })
    try {
      const session = await openSession(gateway.url)
      const listed = await fetch(gateway.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
        body: `{"jsonrpc":"2.0","id":${BIG},"method":"tools/list"}`,
      })
      assert.match(await listed.text(), new RegExp(`"id":${BIG}[,}]`))
      const refused = await fetch(dead.url, {
        method: 'POST',
        headers: MCP_ACCEPT,
        body: `{"jsonrpc":"2.0","id":${BIG},"method":"tools/list"}`,
      })
      assert.equal(refused.status, 502)
      assert.match(await refused.text(), new RegExp(`"id":${BIG}[,}]`))
      await dead.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.jsonrpcId === BIG),
      )
    } finally {
      await gateway.close()
      await dead.close()
      await upstream.close()
    }
  })
})

describe('gateway: statuses from the reason table', () => {
  let upstream: StoreUpstream
  let gateway: RunningPortico

  before(async () => {
    upstream = await startStoreUpstream()
    gateway = await startPortico({
      backends: [{ name: 'store', transport: 'http', url: upstream.url }],
      proxy: { max_sessions: 1 },
    })
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  it('answers DELETE without a session 400, with an unknown one 404, and records both', async () => {
    const missing = await fetch(gateway.url, { method: 'DELETE' })
    assert.equal(missing.status, 400)
    assert.equal(((await missing.json()) as { error: { code: number } }).error.code, -32000)
    const unknown = await fetch(gateway.url, {
      method: 'DELETE',
      headers: { 'mcp-session-id': 'nope' },
    })
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as { error: { code: number } }).error.code, -32001)
    await gateway.sink.waitFor((events) =>
      ['session_required', 'session_not_found'].every((reason) =>
        events.some((e) => e.type === 'exchange' && e.method === 'DELETE' && e.reason === reason),
      ),
    )
  })

  it('reads a gzip body, and refuses one that decodes past the body limit with 413', async () => {
    const body = (id: number, padding = 0) =>
      gzipSync(initializeBody({ id, client: 'gzip'.padEnd(padding + 4, ' ') }))
    const headers = { ...MCP_ACCEPT, 'content-encoding': 'gzip' }
    const read = await fetch(gateway.url, { method: 'POST', headers, body: body(21) })
    assert.equal(read.status, 200)
    const answer = (await read.json()) as { id: number; result: { serverInfo: unknown } }
    assert.equal(answer.id, 21)
    assert.ok(answer.result.serverInfo)
    const bomb = body(22, 8 * 1024 * 1024)
    assert.ok(bomb.length < 64 * 1024, String(bomb.length))
    const refused = await fetch(gateway.url, { method: 'POST', headers, body: bomb })
    assert.equal(refused.status, 413)
  })

  it('answers a lone invalid message that carries an id with that id', async () => {
    // (A batch's invalid element is answered on its own: batch-invalid-element.test.ts.)
    const cases: Array<[string, unknown]> = [
      ['{"jsonrpc":"1.0","id":3,"method":"ping"}', 3],
      ['{"jsonrpc":"2.0","id":"no-method"}', 'no-method'],
      ['{"jsonrpc":"2.0","id":12345678901234567890,"params":1,"method":"x"}', undefined],
    ]
    for (const [body, id] of cases) {
      const response = await fetch(gateway.url, { method: 'POST', headers: MCP_ACCEPT, body })
      assert.equal(response.status, 400, body)
      const text = await response.text()
      const answer = JSON.parse(text) as { id?: unknown; error: { code: number } }
      assert.equal(answer.error.code, -32600, body)
      if (id !== undefined) {
        assert.equal(answer.id, id, body)
      } else {
        // An id above 2^53 comes back as the exact literal the client sent.
        assert.match(text, /"id":12345678901234567890[,}]/, body)
      }
    }
  })

  it('refuses a body not labelled JSON with 415 and the id it holds, and records it', async () => {
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'content-type': 'text/plain' },
      body: '{"jsonrpc":"2.0","id":"plain","method":"tools/list"}',
    })
    assert.equal(response.status, 415)
    const answer = (await response.json()) as { id?: unknown; error: { code: number } }
    assert.equal(answer.error.code, -32600)
    assert.equal(answer.id, 'plain')
    await gateway.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.reason === 'unsupported_media_type'),
    )
  })

  it('answers other methods 405 with Allow', async () => {
    const response = await fetch(gateway.url, { method: 'PUT', body: '{}' })
    assert.equal(response.status, 405)
    assert.equal(response.headers.get('allow'), 'GET, POST, DELETE')
    assert.equal(((await response.json()) as { error: { code: number } }).error.code, -32600)
  })

  it('refuses a session past max_sessions with 503 and Retry-After; the first one works', async () => {
    const client = new Client({ name: 'first', version: '1' })
    const transport = new StreamableHTTPClientTransport(new URL(gateway.url))
    await client.connect(transport)
    try {
      const second = await postInitialize(gateway.url, { id: 5, client: 'second' })
      assert.equal(second.status, 503)
      assert.equal(second.headers.get('retry-after'), '30')
      assert.equal(((await second.json()) as { id: number }).id, 5)
      assert.ok((await client.listTools()).tools.length > 0, 'the existing session still works')
    } finally {
      await transport.terminateSession()
      await client.close()
    }
  })
})

/** Opens a legacy `/sse` stream through Portico; the messages path its `endpoint` event names. */
async function legacyEndpoint(origin: string, signal: AbortSignal): Promise<string> {
  const stream = await fetch(new URL('/sse', origin), {
    headers: { accept: 'text/event-stream' },
    signal,
  })
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
  let text = ''
  while (!/event: endpoint\ndata: \S+\n\n/.test(text)) {
    const { value, done } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  return /event: endpoint\ndata: (\S+)\n\n/.exec(text)?.[1] ?? ''
}
