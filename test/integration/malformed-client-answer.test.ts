/**
 * A client's answer to a server request (elicitation) that is not a well-formed JSON-RPC
 * response: neither `result` nor `error`, both, or an error without an integer `code` and a
 * string `message`. The client's POST is refused 400 (-32600; without the answered id when it
 * carries a result or an error: that would read as the answer to a request of the client's
 * own), and the server that asked is
 * told, with an error under its request's id, instead of waiting for its deadline. Before, the
 * answer was only refused: the backend's request (and the client's tool call) waited for the
 * request timeout. From the protocol-flows fuzzer (N4). Real SDK servers and clients, every
 * mode: gateway stdio, gateway HTTP, transparent.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { startElicitServer } from '../fixtures/elicit-server.ts'
import {
  type LegacyMessage,
  messagesIn,
  openLegacyClient,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { MCP_ACCEPT, openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** Long enough that a call which waits for it fails the test's own timeout first. */
const REQUEST_TIMEOUT = '120s'

type Breakage = (id: unknown) => object

const BREAKAGES: Record<string, Breakage> = {
  'neither result nor error': (id) => ({ jsonrpc: '2.0', id }),
  'both result and error': (id) => ({
    jsonrpc: '2.0',
    id,
    result: {},
    error: { code: -1, message: 'x' },
  }),
  'an error code that is a string': (id) => ({
    jsonrpc: '2.0',
    id,
    error: { code: 'x', message: 'no' },
  }),
  'an error code that is no integer': (id) => ({
    jsonrpc: '2.0',
    id,
    error: { code: 1.5, message: 'no' },
  }),
  'an error without a message': (id) => ({ jsonrpc: '2.0', id, error: { code: -1 } }),
}

interface Refusal {
  status: number
  body: { id?: unknown; error?: { code?: number; message?: string } }
}

/**
 * An SDK client whose answers to server requests are replaced by `breakage` on the wire; the
 * refusals those answers got are collected.
 */
async function breakingClient(url: string, breakage: Breakage) {
  const refusals: Refusal[] = []
  const fetchBreaking: typeof fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as object) : undefined
    if (body === undefined || 'method' in body || !('id' in body)) return fetch(input, init)
    const response = await fetch(input, { ...init, body: JSON.stringify(breakage(body.id)) })
    refusals.push({
      status: response.status,
      body: (await response.clone().json()) as Refusal['body'],
    })
    return response
  }
  const client = new Client(
    { name: 'breaking', version: '1.0.0' },
    { capabilities: { elicitation: {} } },
  )
  client.setRequestHandler(ElicitRequestSchema, async () => ({
    action: 'accept',
    content: { name: 'alice' },
  }))
  // The refused answer fails its POST: the SDK reports it here; the call goes on.
  client.onerror = () => {}
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: fetchBreaking }))
  return { client, refusals }
}

/** Calls `tool` once per breakage; each call must end with the server told, each answer refused. */
async function everyBreakageTold(url: string, tool: string): Promise<void> {
  for (const [what, breakage] of Object.entries(BREAKAGES)) {
    const { client, refusals } = await breakingClient(url, breakage)
    try {
      const result = await client.callTool({ name: tool, arguments: {} })
      const text = JSON.stringify(result.content)
      assert.equal(result.isError, true, `${what}: ${text}`)
      assert.match(text, /answer to this request was not a valid JSON-RPC response/, what)
      assert.equal(refusals.length, 1, what)
      const [refusal] = refusals as [Refusal]
      assert.equal(refusal.status, 400, what)
      assert.equal(refusal.body.error?.code, -32600, what)
      assert.match(refusal.body.error?.message ?? '', /either a result or an error/, what)
      // Under its id only when it could be a request without a method (as any invalid message).
      const couldBeRequest = what === 'neither result nor error'
      assert.equal('id' in refusal.body, couldBeRequest, `${what}: ${JSON.stringify(refusal.body)}`)
    } finally {
      await client.close()
    }
  }
}

/** Each answer's id and error code, in id order (a merged stream interleaves them). */
function idsAndCodes(answers: unknown): Array<[unknown, unknown]> {
  const list = answers as Array<{ id?: unknown; error?: { code?: unknown } }>
  return list
    .map((answer): [unknown, unknown] => [answer.id, answer.error?.code])
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
}

describe("a client's malformed answer to a server request", () => {
  let elicit: Awaited<ReturnType<typeof startElicitServer>>
  let gateway: RunningPortico
  let transparent: RunningPortico
  before(async () => {
    elicit = await startElicitServer()
    gateway = await startPortico({
      request_timeout: REQUEST_TIMEOUT,
      backends: [
        {
          name: 'io',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('elicit-stdio')],
        },
        { name: 'web', transport: 'http', url: elicit.url },
      ],
    })
    transparent = await startPortico({ upstream: elicit.url, request_timeout: REQUEST_TIMEOUT })
  })
  after(async () => {
    await gateway?.close()
    await transparent?.close()
    await elicit?.close()
  })

  it('is refused 400, and a stdio backend that asked is told at once (gateway)', async () => {
    await everyBreakageTold(gateway.url, 'io__ask')
  })

  it('is refused 400, and an HTTP backend that asked is told at once (gateway)', async () => {
    await everyBreakageTold(gateway.url, 'web__ask')
  })

  it('is refused 400, and the upstream that asked is told at once (transparent)', async () => {
    await everyBreakageTold(transparent.url, 'ask')
  })

  it("in a batch: the answers array holds the requests' answers; alone, it is refused 400", async () => {
    const session = await openSession(gateway.url, '2025-11-25', { elicitation: {} })
    const post = (body: unknown) =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, ...sessionHeaders(session) },
        body: JSON.stringify(body),
      })
    const malformed = { jsonrpc: '2.0', id: 'nobody-asked', error: { code: 'x' } }
    // JSON-RPC answers nothing to a client's response, a refused one included (sendArray).
    const mixed = await post([malformed, { jsonrpc: '2.0', id: 'ping', method: 'ping' }])
    assert.equal(mixed.status, 200)
    const answers = (await mixed.json()) as Array<{ id?: unknown; error?: unknown }>
    assert.deepEqual(
      answers.map((answer) => [answer.id, answer.error]),
      [['ping', undefined]],
    )
    const alone = await post([malformed])
    assert.equal(alone.status, 400)
    const refusal = (await alone.json()) as Refusal['body']
    assert.equal(refusal.error?.code, -32600)
    assert.equal('id' in refusal, false)
    // Two that could be requests without a method, batched: each gets its own -32600 under its
    // id among the answers, as each would alone and as any invalid element does (before: one
    // refusal naming neither, and beside a request, no answer at all).
    const both = await post([
      { jsonrpc: '2.0', id: 5 },
      { jsonrpc: '2.0', id: 6 },
    ])
    assert.equal(both.status, 200)
    assert.deepEqual(idsAndCodes(await both.json()), [
      [5, -32600],
      [6, -32600],
    ])
  })

  it('in a batch beside a request: a message with only an id gets its -32600 under that id, in both modes', async () => {
    for (const url of [gateway.url, transparent.url]) {
      const session = await openSession(url, '2025-11-25', { elicitation: {} })
      const answered = await fetch(url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, ...sessionHeaders(session) },
        body: JSON.stringify([
          { jsonrpc: '2.0', id: 1, method: 'ping' },
          { jsonrpc: '2.0', id: 'q' },
        ]),
      })
      assert.equal(answered.status, 200, url)
      const type = answered.headers.get('content-type') ?? ''
      const text = await answered.text()
      const answers = type.includes('event-stream') ? messagesIn(text) : JSON.parse(text)
      assert.deepEqual(idsAndCodes(answers), [
        [1, undefined],
        ['q', -32600],
      ])
    }
  })

  it('that answers no request is refused the same, and the session serves on', async () => {
    const session = await openSession(transparent.url, '2025-11-25', { elicitation: {} })
    const headers = { ...MCP_ACCEPT, ...sessionHeaders(session) }
    const refused = await fetch(transparent.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, result: 'not an object', error: null }),
    })
    assert.equal(refused.status, 400)
    const body = (await refused.json()) as Refusal['body']
    assert.equal(body.error?.code, -32600)
    assert.equal('id' in body, false)
    const ping = await fetch(transparent.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'ping' }),
    })
    assert.equal(ping.status, 200)
    assert.match(await ping.text(), /"id":8/)
  })
})

describe("a client's malformed answer on the legacy HTTP+SSE transport", () => {
  it('is refused 400 on its POST, and the upstream is told under its id', async () => {
    const upstream = await startLegacyUpstream()
    const portico = await startPortico({ upstream: upstream.url })
    try {
      const client = await openLegacyClient(portico.origin)
      try {
        const broken = { jsonrpc: '2.0', id: 'srv-1', error: { code: 'x' } }
        // Before: 400 and nothing sent, so the upstream's request waited for its deadline.
        assert.equal(await client.post(broken as unknown as LegacyMessage), 400)
        assert.deepEqual(upstream.received, [
          {
            jsonrpc: '2.0',
            id: 'srv-1',
            error: {
              code: -32603,
              message: "The client's answer to this request was not a valid JSON-RPC response",
            },
          },
        ])
        assert.equal(
          await client.post({ jsonrpc: '2.0', method: 'notifications/initialized' }),
          202,
        )
      } finally {
        client.leave()
      }
    } finally {
      await portico.close()
      await upstream.close()
    }
  })
})
