/**
 * A client's `notifications/cancelled` in transparent mode ends the request it names: recorded
 * as `cancelled` (not as the upstream's failure), the upstream request let go once the cancel
 * was delivered, and no error answer invented for it. Real SDK clients and servers (a server
 * that keeps a cancelled request's stream open), and the hand-written fault server that ends a
 * cancelled request with 202 and no answer. On a session, closing a stream is no cancel: the
 * notification is the client's only word, and before this Portico did not relate it to the
 * call: the call stayed open through Portico until the client left, or was recorded as an
 * `upstream_bad_response` / `upstream_stream_ended` error.
 */
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { type CancelUpstream, startCancelUpstream } from '../fixtures/cancel-upstream.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import {
  type LegacyUpstream,
  messagesIn,
  openLegacyClient,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { openSession, postToolCall, sessionHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { settlesWithin, until } from '../helpers/wait.ts'

function callOf(portico: RunningPortico, id: string | number): ExchangeEvent | undefined {
  return portico.sink.exchanges().find((e) => e.method === 'tools/call' && e.jsonrpcId === id)
}

describe("a client's cancel, in transparent mode", () => {
  let upstream: CancelUpstream
  let faulty: FaultyHttp
  const running: RunningPortico[] = []

  before(async () => {
    upstream = await startCancelUpstream()
    faulty = await startFaultyHttp('cancels')
  })
  after(async () => {
    for (const portico of running) await portico.close()
    await upstream?.close()
    await faulty?.close()
  })

  async function portico(url: string, name: string): Promise<RunningPortico> {
    const started = await startPortico({ name, upstream: url })
    running.push(started)
    return started
  }

  it('SDK client and server: recorded cancelled and let go while the client stays', async () => {
    const transparent = await portico(upstream.url, 'sdk')
    await cancelWait(transparent, upstream, 'wait', async (client) => {
      // The SDK client keeps its POST open and the SDK server its stream: only Portico can
      // end the call now, and it must while the client is still connected.
      await until(() => upstream.callsClosed > 0 || undefined, 5000, 'the upstream call let go')
      // The session goes on.
      const tools = await client.listTools()
      assert.deepEqual(
        tools.tools.map((tool) => tool.name),
        ['wait', 'wait_read_only'],
      )
    })
  })

  it('an upstream that ends the cancelled request with 202: recorded cancelled', async () => {
    const transparent = await portico(faulty.url, 'faulty')
    // The fault server keeps no sessions but ignores the header: the session is the client's.
    const session = 'session-a'
    const hung = postToolCall(transparent.url, session, 'hang', 'gone')
    await until(() => (faulty.server.runs.get('hang') ?? 0) > 0 || undefined, 5000, 'hang to run')
    assert.equal(
      await postCancel(transparent.url, session, { requestId: 'gone', reason: 'enough' }),
      202,
    )
    const answer = await hung
    const body = (await answer.json()) as { id?: unknown; error?: { message?: string } }
    // An answer is still owed to the HTTP request: the call's id, saying it was cancelled.
    assert.equal(body.id, 'gone')
    assert.match(body.error?.message ?? '', /cancelled/i)
    await transparent.sink.waitFor(() => callOf(transparent, 'gone') !== undefined)
    const recorded = callOf(transparent, 'gone')
    assert.equal(recorded?.outcome, 'cancelled')
    assert.equal(recorded?.reason, 'cancelled')
  })

  it('a cancel naming a request id past 2^53 ends that request', async () => {
    const transparent = await portico(faulty.url, 'big-id')
    const session = 'session-d'
    const runs = faulty.server.runs.get('hang') ?? 0
    // Written as text: JSON.stringify would round the id before Portico saw it.
    const hung = fetch(transparent.url, {
      method: 'POST',
      headers: sessionHeaders(session),
      body: '{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"hang","arguments":{}}}',
    })
    await until(() => (faulty.server.runs.get('hang') ?? 0) > runs || undefined, 5000, 'hang')
    const cancel = await fetch(transparent.url, {
      method: 'POST',
      headers: sessionHeaders(session),
      body: '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993}}',
    })
    await cancel.arrayBuffer()
    assert.equal(cancel.status, 202)
    // Matched by its rounded value, the cancel named no call: the upstream's 202 without an
    // answer was then reported as its bad response.
    const text = await (await hung).text()
    assert.match(text, /"id":9007199254740993[,}]/)
    assert.match(text, /Request cancelled/)
  })

  it("a cancel naming another session's request changes nothing", async () => {
    const transparent = await portico(faulty.url, 'other-session')
    const mine = 'session-b'
    const theirs = 'session-c'
    const runs = faulty.server.runs.get('hang') ?? 0
    const hung = postToolCall(transparent.url, mine, 'hang', 'kept')
    await until(() => (faulty.server.runs.get('hang') ?? 0) > runs || undefined, 5000, 'hang')
    assert.equal(await postCancel(transparent.url, theirs, { requestId: 'kept' }), 202)
    // The fault server cancels by id alone: it ended the call, but not for its own session's
    // client, so Portico must record what the upstream did (202, no answer), not a cancel.
    const answer = await hung
    const body = (await answer.json()) as { id?: unknown; error?: { message?: string } }
    assert.equal(body.id, 'kept')
    assert.match(body.error?.message ?? '', /without answering it/)
    await transparent.sink.waitFor(() => callOf(transparent, 'kept') !== undefined)
    assert.equal(callOf(transparent, 'kept')?.reason, 'upstream_bad_response')
  })
})

describe("Portico's own deadline, in transparent mode", () => {
  for (const [what, config] of [
    ['the whole call ([timeout] seconds)', { timeout: { seconds: 1 } }],
    ["the attempt's request_timeout", { request_timeout: 1 }],
  ] as const) {
    it(`tells a session's upstream the call is cancelled when ${what} passes`, async () => {
      const upstream = await startCancelUpstream()
      const portico = await startPortico({ upstream: upstream.url, ...config })
      const client = new Client({ name: 'patient', version: '1' })
      try {
        await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
        await assert.rejects(
          client.callTool({ name: 'wait', arguments: {} }, undefined, { timeout: 10_000 }),
          /did not answer/,
        )
        // Before: the request's stream was closed, which on a session is no cancellation:
        // the server ran the tool on, and heard nothing.
        await until(() => upstream.cancels > 0 || undefined, 5000, 'the upstream to hear a cancel')
        await until(() => upstream.aborted > 0 || undefined, 5000, 'the tool to be aborted')
      } finally {
        await client.close()
        await portico.close()
        await upstream.close()
      }
    })
  }
})

describe("Portico's own deadline, on a legacy HTTP+SSE session", () => {
  it('tells the upstream the timed-out request is cancelled (its POST was answered 202 long ago)', async () => {
    const received: Array<{ id?: unknown; method?: string; params?: { requestId?: unknown } }> = []
    let stream: ServerResponse | undefined
    const upstream = createServer((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write('event: endpoint\ndata: /messages?sessionId=s1\n\n')
        stream = res
        return
      }
      let body = ''
      req.on('data', (chunk: Buffer) => {
        body += chunk
      })
      req.on('end', () => {
        res.writeHead(202).end('Accepted')
        const message = JSON.parse(body) as (typeof received)[number]
        received.push(message)
        if (message.method === 'initialize') {
          const result = {
            protocolVersion: '2024-11-05',
            capabilities: { tools: {} },
            serverInfo: { name: 'legacy', version: '1' },
          }
          stream?.write(
            `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result })}\n\n`,
          )
        }
        // A tools/call is never answered: a long-running tool.
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const port = (upstream.address() as AddressInfo).port
    const portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/sse`,
      request_timeout: 1,
    })
    const client = new Client({ name: 'legacy', version: '1' })
    try {
      await client.connect(new SSEClientTransport(new URL(`${portico.origin}/sse`)))
      await assert.rejects(client.callTool({ name: 'slow', arguments: {} }), /did not answer/)
      const call = received.find((message) => message.method === 'tools/call')
      // Before: the upstream heard nothing, and its tool ran on.
      await until(
        () =>
          received.some(
            (message) =>
              message.method === 'notifications/cancelled' &&
              message.params?.requestId === call?.id,
          ) || undefined,
        5000,
        'the upstream to hear the cancel',
      )
    } finally {
      await client.close()
      await portico.close()
      upstream.closeAllConnections()
      await new Promise<void>((resolve) => upstream.close(() => resolve()))
    }
  })
})

describe("a client's cancel under a concurrency limit of one", () => {
  const suite = behindPortico({ concurrency: { max_concurrent: 1, queue_timeout: 30 } })

  it('passes at once: it is not queued behind the request it cancels, which holds the slot', async () => {
    const { transparent, upstream } = suite.running()
    // Queued, the cancel waited out queue_timeout (30 s here) and was refused 429.
    await cancelWait(transparent, upstream, 'wait', async () => {
      await until(() => upstream.callsClosed > 0 || undefined, 5000, 'the upstream call let go')
    })
  })
})

describe("a client's cancel of a hedged call, in transparent mode", () => {
  const suite = behindPortico({ hedging: { delay_ms: 50, max_hedges: 1 } })

  it('reaches every attempt: the hedge is cancelled under its own id', async () => {
    const { transparent, upstream } = suite.running()
    const attempts = 2
    await cancelWait(
      transparent,
      upstream,
      'wait_read_only',
      async () => {
        // The client's cancel named its own id; the hedge, sent as `<id>~hedge1~…`, ran on
        // (its stream closed, which on a session is no cancel).
        await until(() => upstream.aborted === attempts || undefined, 5000, 'both cancelled')
        assert.equal(upstream.cancels, attempts)
      },
      attempts,
    )
  })
})

describe('a hedge still queued when its call is cancelled (concurrency limit of one)', () => {
  const suite = behindPortico({
    hedging: { delay_ms: 50, max_hedges: 1 },
    concurrency: { max_concurrent: 1, queue_timeout: 30 },
  })

  it('is not cancelled upstream: it never went there', async () => {
    const { transparent, upstream } = suite.running()
    const client = new Client({ name: 'canceller', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(transparent.url)))
    try {
      await client.listTools() // the annotations say it may be hedged
      const aborted = new AbortController()
      const call = client.callTool({ name: 'wait_read_only', arguments: {} }, undefined, {
        signal: aborted.signal,
      })
      await until(() => upstream.started >= 1 || undefined, 5000, 'the first attempt')
      // The hedge is launched after 50 ms and waits behind the first for the one slot.
      await delay(200)
      aborted.abort('enough')
      await assert.rejects(call)
      await until(() => upstream.aborted > 0 || undefined, 5000, 'the first attempt cancelled')
      await delay(300)
      // Before, a second notifications/cancelled named the queued hedge's id.
      assert.equal(upstream.cancels, 1)
      assert.equal(upstream.started, 1, 'the hedge never reached the upstream')
    } finally {
      await client.close()
    }
  })
})

/** The cancel fixture behind a transparent Portico with `config` added, for one suite. */
function behindPortico(config: object) {
  let upstream: CancelUpstream | undefined
  let transparent: RunningPortico | undefined
  before(async () => {
    upstream = await startCancelUpstream()
    transparent = await startPortico({ upstream: upstream.url, ...config })
  })
  after(async () => {
    await transparent?.close()
    await upstream?.close()
  })
  return {
    running: () => ({
      upstream: upstream as CancelUpstream,
      transparent: transparent as RunningPortico,
    }),
  }
}

describe("a client's cancel, in gateway mode (the same client and server)", () => {
  let upstream: CancelUpstream
  let gateway: RunningPortico

  before(async () => {
    upstream = await startCancelUpstream()
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [{ name: 'up', transport: 'http', url: upstream.url }],
    })
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  it('recorded cancelled and cancelled at the backend', async () => {
    await cancelWait(gateway, upstream, 'up__wait', async () => {})
  })

  it('writes no answer for a cancelled call whose answer is a stream already', async () => {
    const session = await openSession(gateway.url)
    const answer = await fetch(gateway.url, {
      method: 'POST',
      headers: sessionHeaders(session),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'streamed',
        method: 'tools/call',
        params: { name: 'up__wait', arguments: {}, _meta: { progressToken: 'p' } },
      }),
    })
    assert.equal(answer.headers.get('content-type'), 'text/event-stream')
    const stream = eventText(answer)
    await settlesWithin(stream.until('notifications/progress'), 5000, 'the progress event')
    assert.equal(
      await postCancel(gateway.url, session, { requestId: 'streamed', reason: 'enough' }),
      202,
    )
    const text = await settlesWithin(stream.rest(), 5000, 'the stream to end')
    // It had `-32603 Request cancelled` for the id, which the receiver of a cancel must not send.
    assert.deepEqual(
      messagesIn(text).filter((message) => message.id === 'streamed'),
      [],
      text,
    )
    await gateway.sink.waitFor(() => callOf(gateway, 'streamed') !== undefined)
    assert.equal(callOf(gateway, 'streamed')?.outcome, 'cancelled')
  })
})

/**
 * An SDK client calls `tool` (the fixture's `wait`) through `portico` and cancels it once the
 * upstream runs it; the upstream must hear the cancel and the call be recorded `cancelled`.
 * `meanwhile` runs while the client is still connected.
 */
async function cancelWait(
  portico: RunningPortico,
  upstream: CancelUpstream,
  tool: string,
  meanwhile: (client: Client) => Promise<void>,
  attempts = 1,
): Promise<void> {
  const client = new Client({ name: 'canceller', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
  try {
    // Hedged (attempts > 1): the tools' annotations, learned from the list, say it may be.
    if (attempts > 1) await client.listTools()
    const aborted = new AbortController()
    const call = client.callTool({ name: tool, arguments: {} }, undefined, {
      signal: aborted.signal,
    })
    const started = () => upstream.started >= attempts || undefined
    await until(started, 5000, `the upstream to start ${attempts} attempt(s)`)
    aborted.abort('enough')
    await assert.rejects(call)
    await until(() => upstream.aborted > 0 || undefined, 5000, 'the upstream to hear the cancel')
    await meanwhile(client)
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'tools/call'),
    )
    const recorded = portico.sink.exchanges().find((e) => e.method === 'tools/call')
    assert.equal(recorded?.outcome, 'cancelled')
  } finally {
    await client.close()
  }
}

describe("a client's cancel on a legacy HTTP+SSE session", () => {
  let legacy: LegacyUpstream
  let transparent: RunningPortico

  before(async () => {
    // Honours a cancel as the SDK's server does: the cancelled request is never answered.
    legacy = await startLegacyUpstream({ answer() {} })
    transparent = await startPortico({ upstream: legacy.url, drain_timeout: 30 })
  })
  after(async () => {
    await transparent?.close()
    await legacy?.close()
  })

  it('recorded cancelled at once, nothing written for it, and no drain waits for it', async () => {
    const client = await openLegacyClient(transparent.origin)
    const request = { jsonrpc: '2.0' as const, id: 7, method: 'tools/call', params: {} }
    assert.equal(await client.post(request), 202)
    const cancel = { requestId: 7, reason: 'enough' }
    assert.equal(
      await client.post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: cancel }),
      202,
    )
    assert.deepEqual(legacy.received.at(-1)?.params, cancel)
    // Waited for its answer until request_timeout, then an error event and `upstream_timeout`.
    await transparent.sink.waitFor(() => callOf(transparent, 7) !== undefined)
    assert.equal(callOf(transparent, 7)?.outcome, 'cancelled')
    // A stop with a drain of 30 s does not wait for the cancelled call's answer.
    await settlesWithin(transparent.close(), 10_000, 'the stop')
    assert.deepEqual(messagesIn(client.text()), [])
  })
})

/** A response's body read as text as it comes: up to some text, then to its end. */
function eventText(response: Response): {
  until(text: string): Promise<void>
  rest(): Promise<string>
} {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  const more = async (): Promise<boolean> => {
    const { value, done } = await reader.read()
    if (!done) text += decoder.decode(value, { stream: true })
    return !done
  }
  return {
    async until(wanted) {
      while (!text.includes(wanted)) {
        if (!(await more())) throw new Error(`the stream ended before ${wanted}`)
      }
    },
    async rest() {
      while (await more()) {}
      return text
    },
  }
}

/** POSTs a `notifications/cancelled` with `params` on `session`; resolves with the status. */
async function postCancel(url: string, session: string, params: object): Promise<number> {
  const answer = await fetch(url, {
    method: 'POST',
    headers: sessionHeaders(session),
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params }),
  })
  await answer.arrayBuffer()
  return answer.status
}
