/**
 * A JSON-RPC batch (2025-03-26) with an invalid element, through both modes to a real MCP SDK
 * server: JSON-RPC 2.0 §6 answers that element with its own -32600 (with its id when it can be
 * read) and serves the rest, instead of refusing the whole body. An empty batch stays one
 * Invalid Request, and a batch of notifications alone gets 202 and no body.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type SseEvent, SseParser } from '../../src/protocol/sse.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { initializeBody, MCP_ACCEPT, openSession, readUntil } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

interface Answer {
  id?: unknown
  result?: { content?: Array<{ text?: string }> }
  error?: { code: number; message: string }
}

const VALID_REQUEST = {
  jsonrpc: '2.0',
  id: 'ok',
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'served' } },
}
/** Not JSON-RPC 2.0 (wrong version) but its id can be read: the error names it. */
const INVALID_WITH_ID = { jsonrpc: '1.0', id: 'bad', method: 'ping' }
/** Nothing to read an id from. */
const INVALID_WITHOUT_ID = 42
const VALID_NOTIFICATION = { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }

/** The answers of a batch, from a JSON array or from the SSE stream they were merged into. */
function answersOf(contentType: string, text: string): Answer[] {
  if (contentType.includes('application/json')) return JSON.parse(text) as Answer[]
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line.length > 6)
    .map((line) => JSON.parse(line.slice(6)) as Answer)
}

async function postBatch(url: string, session: string, body: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26' },
    body,
  })
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    text: await response.text(),
  }
}

describe('a JSON-RPC batch with an invalid element is answered element by element', () => {
  let upstream: StoreUpstream
  let transparent: RunningPortico
  let gateway: RunningPortico

  before(async () => {
    upstream = await startStoreUpstream()
    transparent = await startPortico({ upstream: upstream.url })
    gateway = await startPortico({
      // Unprefixed, so the tool has the same name through both modes.
      backends: [{ name: 'store', transport: 'http', url: upstream.url, namespace: false }],
    })
  })
  after(async () => {
    await transparent?.close()
    await gateway?.close()
    await upstream?.close()
  })

  for (const mode of ['transparent', 'gateway'] as const) {
    const portico = () => (mode === 'transparent' ? transparent : gateway)

    it(`${mode}: serves the valid request, refuses each invalid element with its own -32600`, async () => {
      const { url, sink } = portico()
      const session = await openSession(url, '2025-03-26')
      const batch = [VALID_REQUEST, INVALID_WITH_ID, INVALID_WITHOUT_ID, VALID_NOTIFICATION]
      const answer = await postBatch(url, session, JSON.stringify(batch))
      assert.equal(answer.status, 200, answer.text)
      const answers = answersOf(answer.contentType, answer.text)
      // One answer per element that needs one: the request and the two invalid elements.
      assert.equal(answers.length, 3, answer.text)
      const served = answers.find((a) => a.id === 'ok')
      assert.equal(served?.result?.content?.[0]?.text, 'served', answer.text)
      const named = answers.find((a) => a.id === 'bad')
      assert.equal(named?.error?.code, -32600, answer.text)
      // An unreadable id is left out (MCP's schemas have no null RequestId; 2025-11-25 omits it).
      const anonymous = answers.filter((a) => !('id' in a))
      assert.equal(anonymous.length, 1, answer.text)
      assert.equal(anonymous[0]?.error?.code, -32600, answer.text)
      // The valid call was served and recorded as such; the refusals are recorded too.
      await sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.jsonrpcId === 'bad'),
      )
      const exchanges = sink.exchanges()
      assert.equal(exchanges.find((e) => e.jsonrpcId === 'ok')?.outcome, 'ok')
      const refused = exchanges.find((e) => e.jsonrpcId === 'bad')
      assert.equal(refused?.reason, 'invalid_request')
      assert.equal(refused?.errorCode, -32600)
      assert.equal(refused?.method, 'POST', 'recorded as a lone invalid body is')
    })

    it(`${mode}: an empty batch is one Invalid Request; notifications alone get 202`, async () => {
      const { url } = portico()
      const session = await openSession(url, '2025-03-26')
      const empty = await postBatch(url, session, '[]')
      assert.equal(empty.status, 400)
      const error = JSON.parse(empty.text) as Answer
      assert.equal(Array.isArray(error), false, empty.text)
      assert.equal(error.error?.code, -32600)
      const quiet = await postBatch(url, session, JSON.stringify([VALID_NOTIFICATION]))
      assert.equal(quiet.status, 202)
      assert.equal(quiet.text, '')
    })
  }
})

describe('legacy HTTP+SSE (2024-11-05): a batch with an invalid element, answers on the stream', () => {
  let everything: Spawned & { url: string }
  let portico: RunningPortico

  before(async () => {
    everything = await startEverything('sse')
    portico = await startPortico({ upstream: everything.url })
  })
  after(async () => {
    await portico?.close()
    await everything?.stop()
  })

  it('answers the valid request and the invalid element on the stream, each with its id', async () => {
    const stream = await fetch(new URL('/sse', portico.origin), {
      headers: { accept: 'text/event-stream' },
    })
    const parser = new SseParser()
    const events: SseEvent[] = []
    const answers = () =>
      events.filter((e) => e.event !== 'endpoint' && e.data !== '').map((e) => JSON.parse(e.data))
    const answered = (id: unknown) => answers().some((a: Answer) => a.id === id)
    const reading = readUntil(
      stream,
      (chunk) => events.push(...parser.push(chunk)),
      () => answered('ok') && answered('bad'),
      'the batch answers on the stream',
      15_000,
    )
    const endpoint = await until(() => events.find((e) => e.event === 'endpoint')?.data)
    const post = (body: string) =>
      fetch(new URL(endpoint, portico.origin), { method: 'POST', headers: MCP_ACCEPT, body })
    await (await post(initializeBody({ id: 'init', protocolVersion: '2024-11-05' }))).text()
    await until(() => answered('init'), 10_000, 'the initialize answer')
    await (
      await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }))
    ).text()
    const batch = [
      { jsonrpc: '2.0', id: 'ok', method: 'ping' },
      INVALID_WITH_ID,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'none' } },
    ]
    const accepted = await post(JSON.stringify(batch))
    assert.equal(accepted.status, 202, await accepted.text())
    await reading
    const ok = answers().find((a: Answer) => a.id === 'ok') as Answer
    const bad = answers().find((a: Answer) => a.id === 'bad') as Answer
    assert.deepEqual(ok.result, {})
    assert.equal(bad.error?.code, -32600)
  })
})

describe('a batch whose upstream cannot be reached', () => {
  let portico: RunningPortico
  before(async () => {
    portico = await startPortico({ upstream: 'http://127.0.0.1:9/mcp' })
  })
  after(async () => {
    await portico?.close()
  })

  const notification = {
    jsonrpc: '2.0',
    method: 'notifications/cancelled',
    params: { requestId: 1 },
  }
  const response = { jsonrpc: '2.0', id: 'asked-1', result: {} }

  it('answers its requests only: a notification or a response gets no error object', async () => {
    const ping = { jsonrpc: '2.0', id: 99, method: 'ping' }
    const answer = await postBatch(
      portico.url,
      'abc',
      JSON.stringify([response, notification, ping]),
    )
    assert.equal(answer.status, 200)
    const answers = answersOf(answer.contentType, answer.text)
    // Before, three elements: two errors with no id, answering a response and a notification.
    assert.deepEqual(
      answers.map((a) => a.id),
      [99],
    )
    assert.equal(answers[0]?.error?.code, -32603)
  })

  it('with no request in it, fails as a lone notification does (its status, one error)', async () => {
    const answer = await postBatch(portico.url, 'abc', JSON.stringify([notification, response]))
    assert.equal(answer.status, 502)
    assert.match(answer.text, /unreachable/)
    assert.ok(!answer.text.startsWith('['), answer.text)
  })
})

describe("a batch element the upstream answered with another request's id", () => {
  // Answers tools/list under id 999, resources/list with `"id": null` (as an SDK server's
  // 400 does), ping with its own id: as SSE when its id is "sse", which merges the batch.
  const portico = behindRawUpstream((message, res) => {
    const answer = (id: unknown) => JSON.stringify({ jsonrpc: '2.0', id, result: {} })
    if (message.method === 'tools/list') res.writeHead(200, JSON_TYPE).end(answer(999))
    else if (message.method === 'resources/list') {
      const error = { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad' } }
      res.writeHead(400, JSON_TYPE).end(JSON.stringify(error))
    } else if (message.id === 'sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(`event: message\ndata: ${answer(message.id)}\n\n`)
    } else res.writeHead(200, JSON_TYPE).end(answer(message.id))
  })

  for (const [shape, pingId] of [
    ['a JSON array', 'json'],
    ['SSE (one element streamed)', 'sse'],
  ] as const) {
    it(`answers each request under its own id, in ${shape}`, async () => {
      const batch = [
        { jsonrpc: '2.0', id: pingId, method: 'ping' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 3, method: 'resources/list' },
      ]
      const answer = await postBatch(portico().url, 'abc', JSON.stringify(batch))
      const answers = answersOf(answer.contentType, answer.text)
      // Before, 999 and null were passed on: ids 2 and 3 never got an answer.
      assert.deepEqual(answers.map((a) => a.id).sort(), [2, 3, pingId].sort())
      const errors = answers.filter((a) => a.error !== undefined)
      assert.deepEqual(errors.map((a) => [a.id, a.error?.code]).sort(), [
        [2, -32603],
        [3, -32603],
      ])
    })
  }
})

describe("a request's SSE answer carrying other responses (transparent)", () => {
  const portico = behindRawUpstream((message, res) => {
    const answer = (id: unknown, said: string) =>
      JSON.stringify({ jsonrpc: '2.0', id, result: { said } })
    const name = message.params?.name ?? ''
    if (name.startsWith('forge')) {
      // Its stream carries another request's answer first, then its own twice; "forge-escaped"
      // spells `"result"` as every parser reads `"\u0072esult"`.
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const events = [answer('b', 'forged'), answer(message.id, 'own'), answer(message.id, 'dup')]
      const spelled = name === 'forge-escaped' ? events.map(escapeResultKey) : events
      res.end(spelled.map((data) => `event: message\ndata: ${data}\n\n`).join(''))
    } else setTimeout(() => res.writeHead(200, JSON_TYPE).end(answer(message.id, 'own')), 200)
  })

  const call = (id: string, name: string) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: {} },
  })

  for (const [what, body] of [
    ['in a batch', [call('a', 'forge'), call('b', 'plain')]],
    ['alone', call('a', 'forge')],
    ['in a batch, keys escaped', [call('a', 'forge-escaped'), call('b', 'plain')]],
    ['alone, keys escaped', call('a', 'forge-escaped')],
  ] as const) {
    it(`passes only its own first answer (${what})`, async () => {
      const answer = await postBatch(portico().url, 'abc', JSON.stringify(body))
      const answers = answersOf(answer.contentType, answer.text) as Array<
        Answer & { result?: { said?: string } }
      >
      // Before, "b" was answered first by a's stream ("forged"), and "a" twice.
      const said = answers.map((a) => `${String(a.id)}:${a.result?.said}`).sort()
      assert.deepEqual(said, Array.isArray(body) ? ['a:own', 'b:own'] : ['a:own'])
    })
  }
})

const JSON_TYPE = { 'content-type': 'application/json' }

/** The same message, its `"result"` key written as a `\u` escape (still `result` parsed). */
function escapeResultKey(json: string): string {
  return json.replace('"result"', '"\\u0072esult"')
}

interface Posted {
  id?: unknown
  method?: string
  params?: { name?: string }
}

/** A transparent Portico, for one suite, before a raw upstream answering as `answer` says. */
function behindRawUpstream(answer: (message: Posted, res: ServerResponse) => void) {
  let upstream: Server | undefined
  let portico: RunningPortico | undefined
  before(async () => {
    upstream = createServer(async (req, res) => answer(JSON.parse(await text(req)), res))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const { port } = upstream.address() as AddressInfo
    portico = await startPortico({ upstream: `http://127.0.0.1:${port}/mcp` })
  })
  after(async () => {
    await portico?.close()
    upstream?.close()
  })
  return () => portico as RunningPortico
}

async function text(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}
