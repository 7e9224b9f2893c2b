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
import { startElicitServer } from '../fixtures/elicit-server.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const MODERN = '2026-07-28'

interface Answer {
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
  let ids = 0

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

  async function call(extra: Record<string, unknown> = {}): Promise<Answer> {
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'mcp-protocol-version': MODERN,
        'mcp-method': 'tools/call',
        'mcp-name': 'b__ask',
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
          },
        },
      }),
      signal: AbortSignal.timeout(20_000),
    })
    return (await response.json()) as Answer
  }

  /** The answer once `name` is given for every input the call asks for. */
  async function answering(first: Answer, name: string): Promise<string> {
    assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
    const inputResponses = Object.fromEntries(
      Object.keys(first.result?.inputRequests ?? {}).map((key) => [
        key,
        { action: 'accept', content: { name } },
      ]),
    )
    const done = await call({ inputResponses, requestState: first.result?.requestState })
    return done.result?.content?.[0]?.text ?? JSON.stringify(done)
  }

  it("the cache never answers the next caller with the last one's input", async () => {
    assert.match(await answering(await call(), 'alice'), /user said alice/)
    assert.match(await answering(await call(), 'bob'), /user said bob/)
  })

  it('coalescing lets an identical call go its own way once the first asks its client', async () => {
    const before = backend.executions
    const [first, second] = await Promise.all([call(), call()])
    assert.match(await answering(first, 'carol'), /user said carol/)
    assert.match(await answering(second, 'dave'), /user said dave/)
    assert.equal(backend.executions, before + 2)
  })
})
