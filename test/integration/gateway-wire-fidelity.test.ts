/**
 * What a gateway's stdio backend receives and what Portico reads of what it writes, checked at
 * the bytes: a stdio server (test/fixtures/echo-raw-stdio.ts) answers each call with the exact
 * line it read.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Logger } from '../../src/observe/logger.ts'
import { MCP_ACCEPT, openSession, readUntil } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

let gateway: RunningPortico
let session: Record<string, string>
const logs: string[] = []

before(async () => {
  gateway = await startPortico(
    {
      proxy: { admin_tools: false },
      backends: [
        {
          name: 'echo',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('echo-raw-stdio')],
          timeout: 5,
        },
      ],
      composite_tools: [{ name: 'stuck', description: 'Hangs', tools: ['echo__hang'] }],
    },
    { logger: new Logger({ level: 'info', write: (line) => logs.push(line) }) },
  )
  session = { 'mcp-session-id': await openSession(gateway.url) }
})

after(async () => {
  await gateway?.close()
})

/** POSTs a body given as text (JSON.stringify would round its big numbers already). */
async function post(body: string): Promise<{
  id?: unknown
  result?: { content?: Array<{ text: string }> }
  error?: { code: number; message: string }
}> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...session },
    body,
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  const data = text.startsWith('{') ? text : /^data: (.*)$/m.exec(text)?.[1]
  assert.ok(data, `an answer (HTTP ${response.status}): ${text}`)
  return JSON.parse(data)
}

it('passes integer arguments past 2^53 to a stdio backend with their exact digits', async () => {
  const args =
    '{"id":12345678901234567890123,"pair":[18446744073709551615,18446744073709551614],"neg":-9007199254740993,"small":42}'
  const answer = await post(
    `{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"echo__echo_raw","arguments":${args}}}`,
  )
  const line = answer.result?.content?.[0]?.text ?? ''
  assert.ok(line.includes(`"arguments":${args}`), `the backend read: ${line}`)
})

it('reads an answer that follows a line its stdio backend left without a newline', async () => {
  // Before: the two joined into one unparsable line, and the call waited for its 5 s timeout.
  const answer = await post(
    '{"jsonrpc":"2.0","id":"torn","method":"tools/call","params":{"name":"echo__torn","arguments":{}}}',
  )
  assert.equal(answer.id, 'torn')
  assert.equal(answer.result?.content?.[0]?.text, 'after the tear', JSON.stringify(answer))
  const warned = logs.filter((line) => line.includes('without its newline'))
  assert.equal(warned.length, 1, logs.join('\n'))
  assert.match(warned[0] ?? '', /notifications\/message/)
  // The backend's next answers are read as before.
  const next = await post(
    '{"jsonrpc":"2.0","id":"after","method":"tools/call","params":{"name":"echo__echo_raw","arguments":{}}}',
  )
  assert.equal(next.id, 'after')
  assert.ok(next.result)
})

it("forwards a client's cancel to the backend with the client's reason", async () => {
  const hanging = post(
    '{"jsonrpc":"2.0","id":"h1","method":"tools/call","params":{"name":"echo__hang","arguments":{}}}',
  ).catch(() => undefined)
  await until(
    () => logs.some((line) => line.includes('hanging')),
    10_000,
    'the call to reach the backend',
  )
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...session },
    body: '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"h1","reason":"user pressed stop"}}',
    signal: AbortSignal.timeout(10_000),
  })
  assert.equal(response.status, 202)
  const cancel = await until(
    () => logs.find((line) => line.includes('cancel {')),
    10_000,
    'the backend to get the cancel',
  )
  assert.match(cancel, /user pressed stop/)
  await hanging
})

describe('ids and progress tokens past 2^53 keep their exact digits', () => {
  it('streams the answer of a call whose id and progress token are past 2^53', async () => {
    // The progress makes the answer a stream; before, its response was taken for another
    // call's (the id compared as a rounded number) and the client got "ended without".
    const text = await postText(
      '{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"echo__progress","arguments":{},"_meta":{"progressToken":9007199254740995}}}',
    )
    assert.match(text, /"progressToken":9007199254740995[,}]/)
    assert.match(text, /"total":9007199254740993[,}]/)
    assert.match(text, /"id":9007199254740993,"result":\{"content":\[\{"type":"text","text":"done"/)
  })

  it('cancels a call whose id is past 2^53', async () => {
    const hanging = postText(
      '{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"echo__hang","arguments":{}}}',
    )
    const before = logs.filter((line) => line.includes('hanging')).length
    await until(
      () => logs.filter((line) => line.includes('hanging')).length > before || undefined,
      10_000,
      'the call to reach the backend',
    )
    await postText(
      '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993}}',
    )
    const text = await hanging
    assert.match(
      text,
      /"id":9007199254740993,"error":\{"code":-32603,"message":"Request cancelled"/,
    )
  })

  it("answers a backend's own request whose id is past 2^53 under that id", async () => {
    // A client that declared sampling, so the backend may ask it.
    const sampling = {
      'mcp-session-id': await openSession(gateway.url, '2025-11-25', { sampling: {} }),
    }
    const stream = await streamOf(
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__ask","arguments":{"rid":"9007199254740993"}}}',
      sampling,
    )
    await stream.readUntil(/"method":"sampling\/createMessage"/, "the backend's question")
    const line = /^data: (.*sampling\/createMessage.*)$/m.exec(stream.text())?.[1] ?? '{}'
    const asked = JSON.parse(line) as { id: unknown }
    const answer = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, ...sampling },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: asked.id,
        result: { role: 'assistant', model: 'm', content: { type: 'text', text: 'a' } },
      }),
    })
    await answer.arrayBuffer()
    await stream.readUntil(/"id":1,"result"/, "the call's answer")
    // The backend got the answer under its own id, not the rounded 9007199254740992.
    assert.match(stream.text(), /\\"id\\":9007199254740993,\\"result\\"/)
  })
})

describe("the client's progress on a backend's own request", () => {
  it('reaches the backend that asked, under its own token', async () => {
    const sampling = {
      'mcp-session-id': await openSession(gateway.url, '2025-11-25', { sampling: {} }),
    }
    const stream = await streamOf(
      '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo__ask","arguments":{"rid":"77","progress":"mine"}}}',
      sampling,
    )
    await stream.readUntil(/"method":"sampling\/createMessage"/, "the backend's question")
    const line = /^data: (.*sampling\/createMessage.*)$/m.exec(stream.text())?.[1] ?? '{}'
    const asked = JSON.parse(line) as { id: unknown; params: { _meta: { progressToken: unknown } } }
    const token = asked.params._meta.progressToken
    const post = (body: object) =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, ...sampling },
        body: JSON.stringify(body),
      }).then((response) => response.status)
    const progress = { progressToken: token, progress: 1, total: 2 }
    assert.equal(
      await post({ jsonrpc: '2.0', method: 'notifications/progress', params: progress }),
      202,
    )
    // Before, the gateway dropped it: the backend heard nothing of the client's progress.
    await until(
      () =>
        logs.some((l) => /client progress .*"progressToken":"mine","progress":1/.test(l)) ||
        undefined,
      5000,
      "the client's progress at the backend",
    )
    const result = { role: 'assistant', model: 'm', content: { type: 'text', text: 'a' } }
    assert.equal(await post({ jsonrpc: '2.0', id: asked.id, result }), 202)
    await stream.readUntil(/"id":5,"result"/, "the call's answer")
  })
})

describe('a session ended while its call streams', () => {
  it("ends the call's stream with an error for its id, not with nothing", async () => {
    const own = { 'mcp-session-id': await openSession(gateway.url) }
    const stream = await streamOf(
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo__progress_hang","arguments":{},"_meta":{"progressToken":"t"}}}',
      own,
    )
    await stream.readUntil(/notifications\/progress/, 'progress')
    const ended = await fetch(gateway.url, { method: 'DELETE', headers: own })
    assert.equal(ended.status, 200)
    // Before: the stream ended after the progress with no response for id 3.
    await stream.readUntil(/"id":3,"error"/, "the call's error")
    assert.match(
      stream.text(),
      /"id":3,"error":\{"code":-32001,"message":"Session ended while this call ran/,
    )
  })
})

describe('a session ended while a composite tool runs', () => {
  it('answers the composite -32001, as a direct call, not a result made of its members', async () => {
    const own = { 'mcp-session-id': await openSession(gateway.url) }
    const before = logs.filter((line) => line.includes('hanging')).length
    const answer = fetch(gateway.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, ...own },
      body: '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"stuck","arguments":{}}}',
    }).then((response) => response.text())
    await until(
      () => logs.filter((line) => line.includes('hanging')).length > before || undefined,
      10_000,
      'the member to reach the backend',
    )
    const ended = await fetch(gateway.url, { method: 'DELETE', headers: own })
    assert.equal(ended.status, 200)
    assert.match(
      await answer,
      /"id":4,"error":\{"code":-32001,"message":"Session ended while this call ran/,
    )
  })
})

/** POSTs a body given as text and reads the answer's whole text (JSON or SSE). */
async function postText(body: string): Promise<string> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...session },
    body,
    signal: AbortSignal.timeout(10_000),
  })
  return response.text()
}

/** A call's answer stream, read on demand: what came so far, and reading until a pattern shows. */
async function streamOf(body: string, headers: Record<string, string>) {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  })
  let text = ''
  const append = (chunk: string) => {
    text += chunk
  }
  return {
    text: () => text,
    readUntil: (pattern: RegExp, what: string) =>
      readUntil(response, append, () => pattern.test(text), what, 10_000, true),
  }
}
