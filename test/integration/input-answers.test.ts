/**
 * Answers that depend on what one client answered (a backend's elicitation, bridged to a
 * 2026-07-28 client as `input_required` rounds) are that client's: the response cache never
 * hands them to the next caller (it stored the final result under the first call's key, so the
 * next identical call got "user said alice" without being asked), and coalescing never holds
 * an identical call behind one that waits for its client (it got nothing until the backend's
 * own timeout). From the fuzzer of server requests under traffic protection; both failed on the
 * build before. A real SDK server behind a real gateway, raw stateless requests.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { startElicitServer } from '../fixtures/elicit-server.ts'
import { messagesIn } from '../helpers/legacy-upstream.ts'
import { openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const MODERN = '2026-07-28'

let ids = 0

interface Answer {
  /** The progress tokens of the notifications that came before the answer. */
  progressTokens?: unknown[]
  id?: unknown
  result?: {
    resultType?: string
    requestState?: string
    inputRequests?: Record<string, unknown>
    content?: Array<{ text?: string }>
  }
  error?: { message?: string }
}

describe("answers that depend on one client's input", () => {
  let backend: Awaited<ReturnType<typeof startElicitServer>>
  let gateway: RunningPortico
  before(async () => {
    backend = await startElicitServer()
    gateway = await startPortico({
      performance: { coalesce_requests: true },
      backends: [
        { name: 'b', transport: 'http', url: backend.url, cache: { tool_ttl_seconds: 60 } },
      ],
    })
  })
  after(async () => {
    await gateway?.close()
    await backend?.close()
  })

  it("the cache never answers the next caller with the last one's input", async () => {
    assert.match(await answering(gateway.url, await call(gateway.url), 'alice'), /user said alice/)
    assert.match(await answering(gateway.url, await call(gateway.url), 'bob'), /user said bob/)
  })

  it('a retry that leaves a request unanswered is asked it again, under the same key', async () => {
    const first = await call(gateway.url)
    const [key] = Object.keys(first.result?.inputRequests ?? {})
    const empty = await call(gateway.url, {
      inputResponses: {},
      requestState: first.result?.requestState,
    })
    // Before: the backend was answered an error for it, and the tool went on without the user.
    assert.equal(empty.result?.resultType, 'input_required', JSON.stringify(empty))
    assert.deepEqual(Object.keys(empty.result?.inputRequests ?? {}), [key])
    assert.notEqual(empty.result?.requestState, first.result?.requestState)
    assert.match(await answering(gateway.url, empty, 'frank'), /user said frank/)
  })

  it('a retry naming no parked call is refused, not run as a new call', async () => {
    // A token the gateway issued, whose call was resumed already (so is no longer parked).
    const first = await call(gateway.url)
    assert.match(await answering(gateway.url, first, 'erin'), /user said erin/)
    const before = backend.executions
    const retry = await call(gateway.url, {
      inputResponses: { r1: { action: 'accept', content: { name: 'late' } } },
      requestState: first.result?.requestState,
    })
    // It ran the tool again and answered input_required anew: the answers were thrown away.
    assert.match(retry.error?.message ?? '', /Unknown requestState/, JSON.stringify(retry))
    assert.equal(backend.executions, before)
  })

  it('coalescing lets an identical call go its own way once the first asks its client', async () => {
    const before = backend.executions
    const [first, second] = await Promise.all([call(gateway.url), call(gateway.url)])
    assert.match(await answering(gateway.url, first, 'carol'), /user said carol/)
    assert.match(await answering(gateway.url, second, 'dave'), /user said dave/)
    assert.equal(backend.executions, before + 2)
  })
})

async function call(
  url: string,
  extra: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': String(extra.name ?? 'b__ask'),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: ++ids,
      method: 'tools/call',
      params: {
        name: 'b__ask',
        arguments: {},
        ...extra,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': MODERN,
          'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
          ...meta,
        },
      },
    }),
    signal: AbortSignal.timeout(20_000),
  })
  return answerOf(response)
}

/** A call's answer, JSON or the answer of an SSE stream (with the progress that came first). */
async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text()
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    return JSON.parse(text) as Answer
  }
  const messages = messagesIn(text) as Array<
    Answer & { method?: string; params?: { progressToken?: unknown } }
  >
  const answer = messages.find((message) => message.method === undefined) ?? {}
  const progress = messages.filter((message) => message.method === 'notifications/progress')
  return { ...answer, progressTokens: progress.map((message) => message.params?.progressToken) }
}

describe('a composite member that asks for input', () => {
  it('is given up at once: its backend call cancelled, its concurrency slot free', async () => {
    const backend = await startElicitServer()
    const gateway = await startPortico({
      backends: [
        {
          name: 'b',
          transport: 'http',
          url: backend.url,
          concurrency: { max_concurrent: 1, max_queue: 1, queue_timeout: 3 },
        },
      ],
      composite_tools: [{ name: 'asking', description: 'Asks', tools: ['b__ask'] }],
    })
    try {
      const composite = await call(gateway.url, { name: 'asking' })
      assert.match(composite.result?.content?.[0]?.text ?? '', /asked for input/)
      // No retry can resume the member (the composite cannot relay its question): parked, it
      // held the backend's one slot until the parked call expired, a minute later.
      const direct = await call(gateway.url, { name: 'b__ask' })
      assert.equal(direct.result?.resultType, 'input_required', JSON.stringify(direct))
    } finally {
      await gateway.close()
      await backend.close()
    }
  })
})

describe("answers that depend on one client's input, in transparent mode", () => {
  it("the cache never answers the next call with the last one's input", async () => {
    const backend = await startElicitServer()
    const portico = await startPortico({ upstream: backend.url, cache: { tool_ttl_seconds: 60 } })
    const names = ['alice', 'bob']
    const client = new Client(
      { name: 'asked', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    )
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { name: names.shift() ?? 'nobody' },
    }))
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      const said = async () => {
        const result = (await client.callTool({ name: 'ask', arguments: {} })) as {
          content?: Array<{ text?: string }>
        }
        return result.content?.[0]?.text ?? JSON.stringify(result)
      }
      assert.match(await said(), /user said alice/)
      // The upstream's elicitation came on the call's own stream, which nothing noted.
      assert.match(await said(), /user said bob/)
      assert.equal(names.length, 0, 'the client was asked each time')
    } finally {
      await client.close()
      await portico.close()
      await backend.close()
    }
  })
})

describe("a retry with the client's answers, and its progress", () => {
  it("reports progress under the retry's own token, not the first request's", async () => {
    const backend = await startElicitServer()
    const gateway = await startPortico({
      backends: [{ name: 'b', transport: 'http', url: backend.url }],
    })
    try {
      const first = await call(gateway.url, {}, { progressToken: 'first-token' })
      assert.equal(first.result?.resultType, 'input_required')
      const key = Object.keys(first.result?.inputRequests ?? {})[0] as string
      const inputResponses = { [key]: { action: 'accept', content: { name: 'frank' } } }
      const requestState = first.result?.requestState
      // It came as "first-token": the token of a request answered already.
      const retry = await call(
        gateway.url,
        { inputResponses, requestState },
        { progressToken: 'retry-token' },
      )
      assert.match(retry.result?.content?.[0]?.text ?? '', /user said frank/)
      assert.deepEqual(retry.progressTokens, ['retry-token'])
    } finally {
      await gateway.close()
      await backend.close()
    }
  })
})

describe('a retry resumes the call whichever backend routing gave it', () => {
  it('a canary (every other call) and a failover (the primary down) resume the parked call', async () => {
    const primary = await startElicitServer()
    const canary = await startElicitServer()
    const spare = await startElicitServer()
    const down = await startElicitServer()
    await down.close()
    const gateway = await startPortico({
      backends: [
        { name: 'b', transport: 'http', url: primary.url, weight: 1 },
        { name: 'next', transport: 'http', url: canary.url, canary_of: 'b', weight: 1 },
        { name: 'c', transport: 'http', url: down.url },
        { name: 'backup', transport: 'http', url: spare.url, failover_for: 'c' },
      ],
    })
    try {
      // It was bound to the backend that took it (the canary, the failover) and its retry,
      // checked against the name's own backend, got "belongs to another request".
      for (const name of ['ann', 'ben']) {
        assert.match(await answering(gateway.url, await call(gateway.url), name), /user said/)
      }
      assert.equal(canary.executions, 1, 'the canary took one of the two calls')
      const named = { name: 'c__ask' }
      const text = await answering(gateway.url, await call(gateway.url, named), 'cy', named)
      assert.match(text, /user said cy/)
      assert.equal(spare.executions, 1)
    } finally {
      await gateway.close()
      await Promise.all([primary.close(), canary.close(), spare.close()])
    }
  })
})

describe('parked calls of a client without [auth]', () => {
  it('are bounded per client (its address) too: its 101st gives up its own oldest', async () => {
    const backend = await startElicitServer()
    const gateway = await startPortico({
      backends: [{ name: 'b', transport: 'http', url: backend.url }],
    })
    try {
      const firsts: Answer[] = []
      // One after the other: the first is the oldest parked.
      for (let i = 0; i < 101; i++) firsts.push(await call(gateway.url))
      // Before, anonymous clients shared the 1000 with no bound of their own.
      const oldest = await answering(gateway.url, firsts[0] as Answer, 'old')
      assert.match(oldest, /Unknown requestState/)
      assert.match(await answering(gateway.url, firsts[100] as Answer, 'new'), /user said new/)
    } finally {
      await gateway.close()
      await backend.close()
    }
  })
})

describe('parked calls on a shared stdio process', () => {
  it("one client's second call may ask for input while its first is parked", async () => {
    const gateway = await elicitStdioGateway()
    try {
      const first = await call(gateway.url)
      assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
      // Before: refused "Calls of several clients are in flight", the parked call counted
      // as another client's.
      const second = await call(gateway.url)
      assert.equal(second.result?.resultType, 'input_required', JSON.stringify(second))
      assert.match(await answering(gateway.url, second, 'second'), /user said second/)
      assert.match(await answering(gateway.url, first, 'first'), /user said first/)
    } finally {
      await gateway.close()
    }
  })
})

describe('parked calls of one client on a shared stdio process that asks again', () => {
  it("refuses a request while two calls are parked: neither call's client gets the other's", async () => {
    const gateway = await elicitStdioGateway()
    try {
      const twice = await call(gateway.url, { name: 'b__ask_twice' })
      const other = await call(gateway.url)
      assert.equal(twice.result?.resultType, 'input_required', JSON.stringify(twice))
      assert.equal(other.result?.resultType, 'input_required', JSON.stringify(other))
      // ask_twice's second request comes while both are parked (700 ms after its first).
      // Before: handed to the other call, whose retry was asked it (and ask_twice waited for
      // its timeout).
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const retried = await call(gateway.url, {
        inputResponses: {
          [Object.keys(other.result?.inputRequests ?? {})[0] as string]: {
            action: 'accept',
            content: { name: 'other' },
          },
        },
        requestState: other.result?.requestState,
      })
      assert.match(
        retried.result?.content?.[0]?.text ?? '',
        /user said other/,
        JSON.stringify(retried),
      )
    } finally {
      await gateway.close()
    }
  })

  it('answers -32601 to a running call whose client declined, never asking a parked call instead', async () => {
    const gateway = await elicitStdioGateway()
    try {
      const parked = await call(gateway.url)
      assert.equal(parked.result?.resultType, 'input_required', JSON.stringify(parked))
      // This call's client declares no elicitation: its tool's request is refused for it.
      const undeclared = await call(
        gateway.url,
        { name: 'b__ask_later' },
        { 'io.modelcontextprotocol/clientCapabilities': {} },
      )
      // Before: handed to the parked call, and this one waited for its timeout.
      assert.match(JSON.stringify(undeclared), /did not declare the elicitation capability/)
      assert.match(await answering(gateway.url, parked, 'first'), /user said first/)
    } finally {
      await gateway.close()
    }
  })
})

describe('two stateless calls of one client on a shared stdio process', () => {
  it("a request the process sends while both run is refused, never put in the other call's result", async () => {
    const gateway = await elicitStdioGateway()
    try {
      const asking = call(gateway.url, { name: 'b__ask_later' })
      await new Promise((resolve) => setTimeout(resolve, 200))
      const pausing = call(gateway.url, { name: 'b__pause' })
      const [asked, paused] = await Promise.all([asking, pausing])
      // Before: the pausing call's result was input_required, carrying the other's request,
      // and the asking call waited for its timeout.
      assert.equal(paused.result?.content?.[0]?.text, 'paused', JSON.stringify(paused))
      assert.match(JSON.stringify(asked), /Several stateless calls of one client/)
    } finally {
      await gateway.close()
    }
  })
})

describe("a retry with the client's answers, under a per-tool rate limit", () => {
  it('resumes the call admitted already without a token; another call is still refused', async () => {
    await underOneCallAMinute(async (url) => {
      // The retry was refused 429 (Retry-After 60 s) and the parked call could never finish.
      assert.match(await answering(url, await call(url), 'erin'), /user said erin/)
      const again = await call(url)
      assert.match(again.error?.message ?? '', /Rate limit/)
    })
  })
})

describe('a requestState under a rate limit, on a session', () => {
  it('is charged: only a stateless retry of the parked call passes without a token', async () => {
    await underOneCallAMinute(async (url, backend) => {
      const first = await call(url)
      assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
      // The parked call's token, put into a session's calls: each ran the tool anew, free.
      const session = await openSession(url)
      const executions = backend.executions
      for (let i = 0; i < 3; i++) {
        const response = await fetch(url, {
          method: 'POST',
          headers: sessionHeaders(session),
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: `hijack-${i}`,
            method: 'tools/call',
            params: { name: 'b__ask', arguments: {}, requestState: first.result?.requestState },
          }),
          signal: AbortSignal.timeout(10_000),
        })
        const answer = await answerOf(response)
        assert.equal(answer.id, `hijack-${i}`)
        assert.match(answer.error?.message ?? '', /Rate limit/, JSON.stringify(answer))
      }
      assert.equal(backend.executions, executions, 'no session call reached the backend')
      assert.match(await answering(url, first, 'grace'), /user said grace/)
    })
  })
})

describe('a retry through portico__call_tool (search mode), under a per-tool rate limit', () => {
  it('resumes the call the inner call parked, without a token', async () => {
    const viaCallTool = { name: 'portico__call_tool', arguments: { name: 'b__ask', arguments: {} } }
    await underOneCallAMinute(
      async (url, backend) => {
        const before = backend.executions
        // The retry's answers did not reach the inner call: it ran the tool again (or was
        // refused 429), and the parked call waited for an answer that never came.
        assert.match(
          await answering(url, await call(url, viaCallTool), 'zoe', viaCallTool),
          /user said zoe/,
        )
        assert.equal(backend.executions, before + 1)
      },
      { tool_exposure: 'search' },
    )
  })
})

/** A gateway whose `b__ask` is allowed one call a minute, for `use`; both stopped after. */
async function underOneCallAMinute(
  use: (url: string, backend: Awaited<ReturnType<typeof startElicitServer>>) => Promise<void>,
  proxy: Record<string, unknown> = {},
): Promise<void> {
  const backend = await startElicitServer()
  const gateway = await startPortico({
    proxy: {
      ...proxy,
      rate_limit: { per_tool: [{ tool: 'b__ask', requests: 1, period_seconds: 60 }] },
    },
    backends: [{ name: 'b', transport: 'http', url: backend.url }],
  })
  try {
    await use(gateway.url, backend)
  } finally {
    await gateway.close()
    await backend.close()
  }
}

/** The answer once `name` is given for every input the call asks for. */
async function answering(
  url: string,
  first: Answer,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
  const inputResponses = Object.fromEntries(
    Object.keys(first.result?.inputRequests ?? {}).map((key) => [
      key,
      { action: 'accept', content: { name } },
    ]),
  )
  const done = await call(url, {
    ...extra,
    inputResponses,
    requestState: first.result?.requestState,
  })
  return done.result?.content?.[0]?.text ?? JSON.stringify(done)
}

/** A gateway in front of one shared stdio process of the elicit fixture. */
function elicitStdioGateway(): Promise<RunningPortico> {
  return startPortico({
    backends: [
      { name: 'b', transport: 'stdio', command: process.execPath, args: [fixture('elicit-stdio')] },
    ],
  })
}
