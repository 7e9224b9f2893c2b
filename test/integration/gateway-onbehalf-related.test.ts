/**
 * Calls the gateway makes on a client's behalf (search mode's `portico__call_tool`, a composite
 * tool's members) relay what their backend sends during the call on the client's own POST
 * stream, as a direct call does: a backend's `elicitation/create` reaches a client that opened
 * no GET stream, and `call_tool`'s progress comes under the client's token. Before, the inner
 * call was answered as one JSON message and its related messages were sent to the session's GET
 * stream: without one, the elicitation waited for the backend's deadline, and the progress was
 * lost. A real SDK server (elicit-server.ts) behind a real gateway, raw 2025-11-25 requests.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startElicitServer } from '../fixtures/elicit-server.ts'
import { messagesIn } from '../helpers/legacy-upstream.ts'
import { openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

type Message = Record<string, unknown> & { id?: unknown; method?: string; result?: unknown }

/**
 * POSTs a `tools/call` on `session`, answers each elicitation that arrives on its stream with
 * `name`, and resolves with every message the stream carried (the call's answer last).
 */
async function callAnswering(
  url: string,
  session: string,
  params: Record<string, unknown>,
  name: string,
): Promise<Message[]> {
  const headers = sessionHeaders(session)
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 'outer', method: 'tools/call', params }),
    signal: AbortSignal.timeout(10_000),
  })
  assert.equal(response.headers.get('content-type'), 'text/event-stream')
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  let answered = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
    const messages = messagesIn(text) as Message[]
    for (const asked of messages.filter((m) => m.method === 'elicitation/create').slice(answered)) {
      answered++
      const answer = { action: 'accept', content: { name } }
      const posted = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: asked.id, result: answer }),
      })
      assert.equal(posted.status, 202)
    }
  }
  return messagesIn(text) as Message[]
}

const textOf = (message: Message | undefined) =>
  JSON.stringify((message?.result as { content?: unknown } | undefined)?.content ?? message)

describe('calls made on a client’s behalf relay their related messages on its POST stream', () => {
  let backend: Awaited<ReturnType<typeof startElicitServer>>
  let gateway: RunningPortico
  let session: string

  before(async () => {
    backend = await startElicitServer()
    gateway = await startPortico({
      proxy: { tool_exposure: 'search', admin_tools: false },
      backends: [{ name: 'b', transport: 'http', url: backend.url }],
      composite_tools: [{ name: 'asking', description: 'Asks', tools: ['b__ask'] }],
    })
    // A session that can answer elicitations, with no GET stream open.
    session = await openSession(gateway.url, '2025-11-25', { elicitation: {} })
  })
  after(async () => {
    await gateway?.close()
    await backend?.close()
  })

  it("portico__call_tool: the backend's elicitation, then progress under the client's token", async () => {
    const messages = await callAnswering(
      gateway.url,
      session,
      {
        name: 'portico__call_tool',
        arguments: { name: 'b__ask', arguments: {} },
        _meta: { progressToken: 'mine' },
      },
      'carol',
    )
    const methods = messages.map((m) => m.method ?? `answer ${String(m.id)}`)
    assert.deepEqual(methods, ['elicitation/create', 'notifications/progress', 'answer outer'])
    const progress = messages[1]?.params as { progressToken?: unknown } | undefined
    assert.equal(progress?.progressToken, 'mine')
    assert.match(textOf(messages.at(-1)), /user said carol/)
  })

  it("a composite's member: the backend's elicitation, then the combined result", async () => {
    const messages = await callAnswering(gateway.url, session, { name: 'asking' }, 'dave')
    assert.equal(messages[0]?.method, 'elicitation/create')
    assert.equal(messages.at(-1)?.id, 'outer')
    assert.match(textOf(messages.at(-1)), /user said dave/)
  })
})
