/**
 * Both modes in front of an upstream that answers badly: a real HTTP server that answers each
 * tool its own wrong way, through a real Portico, asked by raw HTTP (to see every byte) and by
 * the MCP SDK (to see that a client is not left waiting). An answer that is not the request's
 * response (another id, none, not JSON, a batch, a shape no client reads, a 2xx page) becomes
 * a JSON-RPC error with the request's id, HTTP 502, saying what came; an HTTP error passes
 * through as it is; a JSON answer trickling a byte at a time is cut off at `request_timeout`.
 * The gateway, which relays only matched responses, says the same of what came instead.
 * (test/fixtures/misbehaving-upstream.ts misbehaves per path, one way per upstream URL; an SDK
 * client needs one upstream whose `initialize` works, so this one misbehaves per tool.)
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { ConfigInput } from '../../src/config/schema.ts'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

interface Rpc {
  id?: unknown
  method?: string
  params?: { name?: string; protocolVersion?: string }
}

const json = (res: ServerResponse, body: string, status = 200) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(body)

const sse = (res: ServerResponse, messages: unknown[]) =>
  res
    .writeHead(200, { 'content-type': 'text/event-stream' })
    .end(messages.map((message) => `data: ${JSON.stringify(message)}\n\n`).join(''))

/** How the upstream answers `tools/call` of each tool. */
/** The messages of an SSE body's data lines. */
const dataOf = (body: string) =>
  body
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))

/** Portico's error event for a call whose answer ended without its response. */
const ENDED = {
  jsonrpc: '2.0',
  error: { code: -32603, message: 'Upstream ended its answer without a response' },
}

const ANSWERS: Record<string, (res: ServerResponse, id: unknown) => void> = {
  another_id: (res) => json(res, '{"jsonrpc":"2.0","id":999999,"result":{"content":[]}}'),
  no_id: (res) => json(res, '{"jsonrpc":"2.0","result":{"content":[]}}'),
  not_json: (res) => json(res, 'not json'),
  // Read from its text, each looks like a success with the right id; none parses.
  cut_short: (res, id) => json(res, `{"jsonrpc":"2.0","id":${id},"result":{"content":[]}`),
  nan: (res, id) => json(res, `{"jsonrpc":"2.0","id":${id},"result":{"a":NaN}}`),
  trailing: (res, id) => json(res, `{"jsonrpc":"2.0","id":${id},"result":{}}garbage`),
  sse_cut_short: (res, id) =>
    res
      .writeHead(200, { 'content-type': 'text/event-stream' })
      .end(`data: {"jsonrpc":"2.0","id":${id},"result":{"content":[]}\n\n`),
  batch: (res, id) => json(res, JSON.stringify([{ jsonrpc: '2.0', id, result: { content: [] } }])),
  null_id_error: (res) =>
    json(res, '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'),
  error_null: (res, id) => json(res, JSON.stringify({ jsonrpc: '2.0', id, error: null })),
  both: (res, id) =>
    json(res, JSON.stringify({ jsonrpc: '2.0', id, result: {}, error: { code: 1, message: 'x' } })),
  no_result: (res, id) => json(res, JSON.stringify({ jsonrpc: '2.0', id })),
  result_null: (res, id) => json(res, JSON.stringify({ jsonrpc: '2.0', id, result: null })),
  no_jsonrpc: (res, id) => json(res, JSON.stringify({ id, result: { content: [] } })),
  sse_result_null: (res, id) => sse(res, [{ jsonrpc: '2.0', id, result: null }]),
  sse_no_jsonrpc: (res, id) => sse(res, [{ id, result: { content: [] } }]),
  sse_error_null: (res, id) =>
    res
      .writeHead(200, { 'content-type': 'text/event-stream' })
      .end(`data: ${JSON.stringify({ jsonrpc: '2.0', id, error: null })}\n\n`),
  sse_no_id: (res) => sse(res, [{ jsonrpc: '2.0', result: { content: [] } }]),
  // A progress event whose `id:` is empty (it resets the client's last event id: nothing to
  // resume from), then the end.
  sse_empty_event_id: (res) =>
    res
      .writeHead(200, { 'content-type': 'text/event-stream' })
      .end(
        'id:\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n',
      ),
  sse_null_id: (res) =>
    sse(res, [{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }]),
  sse_batch_then_answer: (res, id) =>
    sse(res, [
      [{ jsonrpc: '2.0', id, result: { content: [] } }],
      { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'real' }] } },
    ]),
  page: (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>'),
  server_error: (res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'),
  trickle: (res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' })
    const timer = setInterval(() => res.write(' '), 100)
    res.on('close', () => clearInterval(timer))
  },
  // A byte order mark first, which fetch's .json() (the SDK client's reader) ignores.
  bom: (res, id) =>
    json(res, `\uFEFF${JSON.stringify({ jsonrpc: '2.0', id, result: { content: [] } })}`),
  // Media types are case-insensitive (RFC 9110 §8.3.1).
  json_in_capitals: (res, id) =>
    res
      .writeHead(200, { 'content-type': 'Application/JSON' })
      .end(JSON.stringify({ jsonrpc: '2.0', id, result: { content: [] } })),
  sse_in_capitals: (res, id) =>
    res
      .writeHead(200, { 'content-type': 'Text/Event-Stream' })
      .end(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { content: [] } })}\n\n`),
  fine: (res, id) =>
    json(
      res,
      JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'fine' }] } }),
    ),
}

function upstreamAnswer(res: ServerResponse, message: Rpc): void {
  if (message.id === undefined) {
    res.writeHead(202).end()
    return
  }
  if (message.method === 'initialize') {
    const result = {
      protocolVersion: message.params?.protocolVersion,
      capabilities: { tools: {} },
      serverInfo: { name: 'misbehaving', version: '1.0.0' },
    }
    json(res, JSON.stringify({ jsonrpc: '2.0', id: message.id, result }))
    return
  }
  if (message.method === 'tools/list') {
    const tools = Object.keys(ANSWERS).map((name) => ({ name, inputSchema: { type: 'object' } }))
    json(res, JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { tools } }))
    return
  }
  const answer = ANSWERS[message.params?.name ?? ''] ?? ANSWERS.fine
  answer?.(res, message.id)
}

let upstream: Server
let upstreamUrl: string
const open = new Set<ServerResponse>()

before(async () => {
  upstream = createServer((req, res) => {
    open.add(res)
    res.on('close', () => open.delete(res))
    // The SDK's GET stream and its DELETE at close: not offered.
    if (req.method !== 'POST') {
      res.writeHead(405).end()
      return
    }
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => upstreamAnswer(res, JSON.parse(body) as Rpc))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`
})

after(async () => {
  for (const res of open) res.destroy()
  await new Promise<void>((resolve) => upstream.close(() => resolve()))
})

describe('transparent mode in front of an upstream that answers badly', () => {
  let portico: RunningPortico

  before(async () => {
    portico = await startPortico({ upstream: upstreamUrl, request_timeout: 1 } as ConfigInput)
  })
  after(async () => {
    await portico?.close()
  })

  async function call(name: string, id: number) {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name } }),
    })
    return { status: response.status, body: await response.text() }
  }

  it('answers a request whose upstream answer is not its response with an error carrying its id', async () => {
    const cases: Array<[string, string]> = [
      ['another_id', 'the response to id 999999'],
      ['no_id', 'a response without an id'],
      ['not_json', 'not JSON'],
      ['cut_short', 'not JSON'],
      ['nan', 'not JSON'],
      ['trailing', 'not JSON'],
      ['batch', 'a batch, not one response'],
      ['null_id_error', 'the response to id null'],
      // The right id, in a shape no client can read (the SDK rejects it and keeps waiting).
      ['error_null', 'an error that is not an object with a numeric code and a message'],
      ['both', 'a response with both a result and an error'],
      ['no_result', 'a response with neither a result nor an error'],
      // Read from their text as successes; the SDK clients drop them (their schemas are strict).
      ['result_null', 'a result that is not an object'],
      ['no_jsonrpc', 'a response without "jsonrpc": "2.0"'],
    ]
    let id = 10
    for (const [name, what] of cases) {
      id++
      const { status, body } = await call(name, id)
      assert.equal(status, 502, name)
      const answer = JSON.parse(body)
      assert.equal(answer.id, id, name)
      assert.equal(answer.error.code, -32603, name)
      assert.equal(
        answer.error.message,
        `Upstream sent an invalid response to request ${id}: ${what}`,
      )
    }
    // The upstream's own error, which came without the id, is kept for whoever debugs it.
    const { body } = await call('null_id_error', 20)
    assert.deepEqual(JSON.parse(body).error.data, {
      upstreamError: { code: -32700, message: 'Parse error' },
    })
    // Recorded as what it was.
    await portico.sink.waitFor((events) =>
      events.some(
        (e) =>
          e.type === 'exchange' && e.name === 'another_id' && e.reason === 'upstream_bad_response',
      ),
    )
  })

  it('ends an SSE answer whose response no client can read with an error event for the id', async () => {
    const { status, body } = await call('sse_error_null', 35)
    assert.equal(status, 200)
    // The upstream's bytes pass as they came; the call is then answered.
    assert.deepEqual(dataOf(body), [
      { jsonrpc: '2.0', id: 35, error: null },
      { ...ENDED, id: 35 },
    ])
  })

  it('an SSE response event with a null result or without "jsonrpc" does not answer the call', async () => {
    for (const [name, id, event] of [
      ['sse_result_null', 41, { jsonrpc: '2.0', id: 41, result: null }],
      ['sse_no_jsonrpc', 42, { id: 42, result: { content: [] } }],
    ] as const) {
      const { status, body } = await call(name, id)
      assert.equal(status, 200)
      assert.deepEqual(dataOf(body), [event, { ...ENDED, id }])
    }
  })

  it('an SSE response without an id, with a null id or in a batch does not answer the call', async () => {
    // A client matches answers by id: these pass as they came, and the call is then answered.
    const noId = await call('sse_no_id', 36)
    assert.deepEqual(dataOf(noId.body), [
      { jsonrpc: '2.0', result: { content: [] } },
      { ...ENDED, id: 36 },
    ])
    const nullId = await call('sse_null_id', 37)
    assert.deepEqual(dataOf(nullId.body), [
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } },
      { ...ENDED, id: 37 },
    ])
    // An event cut short passes as it came, and does not answer the call either.
    const cut = await call('sse_cut_short', 39)
    const lines = cut.body.split('\n').filter((line) => line.startsWith('data: '))
    assert.equal(lines[0], 'data: {"jsonrpc":"2.0","id":39,"result":{"content":[]}')
    assert.deepEqual(JSON.parse((lines[1] ?? '').slice(6)), { ...ENDED, id: 39 })
    // A batch is not one response: the real answer after it is passed on, not dropped.
    const batch = await call('sse_batch_then_answer', 38)
    assert.deepEqual(dataOf(batch.body), [
      [{ jsonrpc: '2.0', id: 38, result: { content: [] } }],
      { jsonrpc: '2.0', id: 38, result: { content: [{ type: 'text', text: 'real' }] } },
    ])
  })

  it("passes a JSON answer to an id past 2^53 that the upstream's parser rounded", async () => {
    // This upstream reads ids with JSON.parse (as the SDK servers do): it answers
    // 9007199254740993 as 9007199254740992, the same double. Refused, the result was lost.
    for (const [method, params, what] of [
      ['tools/call', '{"name":"fine"}', /"text":"fine"/],
      // A listing is read (its schema recorded): the answer was checked, and refused 502.
      ['tools/list', '{}', /"tools":\[/],
    ] as const) {
      const response = await fetch(portico.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-06-18' },
        body: `{"jsonrpc":"2.0","id":9007199254740993,"method":"${method}","params":${params}}`,
      })
      assert.equal(response.status, 200, method)
      const text = await response.text()
      // Relayed as the upstream wrote it (a JavaScript client reads both as one number).
      assert.match(text, /"id":9007199254740992,"result"/, method)
      assert.match(text, what, method)
    }
  })

  it('an SSE answer that ends after an empty event id is answered: nothing can resume it', async () => {
    // Taken for a resumable stream, it ended with no answer and the client waited for ever.
    const { status, body } = await call('sse_empty_event_id', 43)
    assert.equal(status, 200)
    assert.deepEqual(dataOf(body).at(-1), { ...ENDED, id: 43 })
  })

  it('passes an answer that starts with a byte order mark, as a client reading it directly would', async () => {
    const { status, body } = await call('bom', 41)
    assert.equal(status, 200)
    assert.deepEqual(JSON.parse(body.replace(/^\uFEFF/, '')), {
      jsonrpc: '2.0',
      id: 41,
      result: { content: [] },
    })
  })

  it('reads a Content-Type in any case', async () => {
    // Before: 502, "not JSON-RPC (Text/Event-Stream)".
    for (const [tool, id] of [
      ['json_in_capitals', 43],
      ['sse_in_capitals', 44],
    ] as const) {
      const { status, body } = await call(tool, id)
      assert.equal(status, 200, `${tool}: ${body}`)
      assert.match(body, new RegExp(`"id":${id},"result"`), body)
    }
  })

  it('answers a 2xx page as the request error; passes an HTTP error through as it is', async () => {
    const page = await call('page', 30)
    assert.equal(page.status, 502)
    assert.deepEqual(JSON.parse(page.body), {
      jsonrpc: '2.0',
      id: 30,
      error: {
        code: -32603,
        message: 'Upstream answered this message with HTTP 200 (text/html), not JSON-RPC',
        data: { httpStatus: 200 },
      },
    })
    assert.deepEqual(await call('server_error', 31), { status: 500, body: 'boom' })
  })

  it('cuts off a JSON answer that trickles a byte at a time at request_timeout', async () => {
    const { status, body } = await call('trickle', 40)
    assert.equal(status, 504)
    const answer = JSON.parse(body)
    assert.equal(answer.id, 40)
    assert.equal(answer.error.data.reason, 'timeout')
  })

  it('an SDK client gets an error at once instead of waiting for an id that never comes', async () => {
    const client = new Client({ name: 'misbehaving-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    try {
      await assert.rejects(
        client.callTool({ name: 'another_id', arguments: {} }, undefined, { timeout: 30_000 }),
        /Upstream sent an invalid response to request \d+: the response to id 999999/,
      )
      const fine = await client.callTool({ name: 'fine', arguments: {} })
      assert.deepEqual(fine.content, [{ type: 'text', text: 'fine' }])
    } finally {
      await client.close()
    }
  })
})

describe('gateway mode in front of the same upstream', () => {
  it('says what came instead of the response, in the error with the client id', async () => {
    const portico = await startPortico({
      proxy: { admin_tools: false },
      request_timeout: 1,
      backends: [{ name: 'bad', transport: 'http', url: upstreamUrl }],
    } as ConfigInput)
    const client = new Client({ name: 'misbehaving-gateway-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    try {
      const said: string[] = []
      for (const name of ['another_id', 'not_json', 'page', 'no_id']) {
        await client.callTool({ name: `bad__${name}`, arguments: {} }).then(
          () => said.push(`${name}: answered`),
          (error: Error) => said.push(error.message.replace(/\(http:[^)]*\) /, '')),
        )
      }
      assert.deepEqual(said, [
        'MCP error -32603: Backend bad sent no response to the call: the response to id 999999',
        'MCP error -32603: Backend bad sent no response to the call: not JSON',
        'MCP error -32603: Backend bad sent no response to the call: HTTP 200 (text/html), not JSON-RPC',
        'MCP error -32603: Backend bad sent no response to the call: a response without an id',
      ])
    } finally {
      await client.close()
      await portico.close()
    }
  })
})

describe('transparent mode: a DELETE or GET whose upstream body stalls', () => {
  it('is cut at request_timeout, not held open for ever (an event stream may stay quiet)', async () => {
    const stalled: ServerResponse[] = []
    const stalling = createServer((req, res) => {
      req.resume()
      stalled.push(res)
      if (req.method === 'GET') {
        // An event stream: its quiet is no stall.
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write(': open\n\n')
        return
      }
      // Half an answer, then nothing.
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"jsonrpc":')
    })
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(stalling.address() as AddressInfo).port}/mcp`
    const portico = await startPortico({ upstream: url, request_timeout: 1 } as ConfigInput)
    const headers = { ...MCP_ACCEPT, 'mcp-session-id': 's1' }
    try {
      // Cut (a 504, or the body ended short) is an end; our own 10 s timeout is not.
      const outcome = (error: Error) => (error.name === 'TimeoutError' ? 'held open' : 'ended')
      const ended = await fetch(portico.url, {
        method: 'DELETE',
        headers,
        signal: AbortSignal.timeout(10_000),
      }).then((response) => response.text().then(() => 'ended', outcome), outcome)
      assert.equal(ended, 'ended')
      // The GET stream, quiet for longer than request_timeout, is still open.
      const stream = await fetch(portico.url, {
        headers: { ...headers, accept: 'text/event-stream' },
      })
      assert.equal(stream.status, 200)
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
      await reader.read()
      const quiet = await Promise.race([
        reader.read().then(() => 'ended'),
        new Promise((resolve) => setTimeout(() => resolve('open'), 2000)),
      ])
      assert.equal(quiet, 'open')
      await reader.cancel()
    } finally {
      await portico.close()
      for (const res of stalled) res.destroy()
      await new Promise<void>((resolve) => stalling.close(() => resolve()))
    }
  })
})
