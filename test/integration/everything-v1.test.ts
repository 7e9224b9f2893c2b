/**
 * SDK v1 client → Portico → @modelcontextprotocol/server-everything (Streamable HTTP):
 * lists, calls, progress before the result, resources, prompts, sampling and elicitation
 * round trips, and session DELETE, all through a transparent Portico.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'

describe('SDK v1 client through Portico to server-everything (Streamable HTTP)', () => {
  let everything: Spawned & { url: string }
  let portico: RunningPortico
  let client: Client
  let transport: StreamableHTTPClientTransport

  before(async () => {
    everything = await startEverything('streamableHttp')
    portico = await startPortico({ upstream: everything.url })
    client = new Client(
      { name: 'portico-test', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {} } },
    )
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
      model: 'test-model',
      role: 'assistant',
      content: {
        type: 'text',
        text: `sampled: ${JSON.stringify(request.params.messages[0]?.content)}`,
      },
    }))
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { name: 'Ada Lovelace', check: true },
    }))
    transport = new StreamableHTTPClientTransport(new URL(portico.url))
    await client.connect(transport)
  })

  after(async () => {
    await client?.close().catch(() => undefined)
    await portico?.close()
    await everything?.stop()
  })

  it('initializes through Portico and records the session and client', async () => {
    assert.ok(transport.sessionId, 'the upstream session id reached the client')
    assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything')
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'initialize'),
    )
    const init = portico.sink.exchanges().find((e) => e.method === 'initialize')
    assert.equal(init?.sessionId, transport.sessionId)
    assert.deepEqual(init?.client, { name: 'portico-test', version: '1.0.0' })
    assert.equal(init?.outcome, 'ok')
    assert.ok(
      init?.result && 'serverInfo' in init.result,
      'initialize result captured for the store',
    )
  })

  it('lists tools, resources and prompts', async () => {
    const tools = await client.listTools()
    const names = tools.tools.map((t) => t.name)
    for (const name of [
      'echo',
      'get-sum',
      'trigger-long-running-operation',
      'trigger-sampling-request',
      'trigger-elicitation-request',
    ]) {
      assert.ok(names.includes(name), `${name} listed`)
    }
    const resources = await client.listResources()
    assert.ok(resources.resources.length > 0)
    const prompts = await client.listPrompts()
    assert.ok(prompts.prompts.some((p) => p.name === 'simple-prompt'))
  })

  it('calls tools and records the tool name and outcome', async () => {
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'through portico' } })
    assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: through portico' }])
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })
    assert.match(JSON.stringify(sum.content), /42/)
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'get-sum'),
    )
    const event = portico.sink.exchanges().find((e) => e.name === 'get-sum')
    assert.equal(event?.method, 'tools/call')
    assert.equal(event?.targetKind, 'tool')
    assert.equal(event?.outcome, 'ok')
    assert.ok((event?.bytesIn ?? 0) > 0 && (event?.bytesOut ?? 0) > 0)
  })

  it('relays progress notifications before the final result', async () => {
    const seen: string[] = []
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
      undefined,
      { onprogress: (progress) => seen.push(`progress ${progress.progress}/${progress.total}`) },
    )
    seen.push('result')
    assert.equal(seen.at(-1), 'result')
    assert.ok(
      seen.filter((s) => s.startsWith('progress')).length >= 3,
      `progress events arrived first: ${seen.join(', ')}`,
    )
    assert.match(JSON.stringify(result.content), /completed/i)
  })

  it('reads a resource and gets a prompt', async () => {
    const { resources } = await client.listResources()
    const first = resources[0]
    assert.ok(first)
    const read = await client.readResource({ uri: first.uri })
    assert.equal(read.contents[0]?.uri, first.uri)
    const prompt = await client.getPrompt({ name: 'simple-prompt' })
    assert.ok(prompt.messages.length > 0)
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'resources/read'),
    )
    const readEvent = portico.sink.exchanges().find((e) => e.method === 'resources/read')
    assert.equal(readEvent?.name, first.uri)
    assert.equal(readEvent?.targetKind, 'resource')
  })

  it('round-trips sampling: server→client request over SSE, answer POSTed back', async () => {
    const result = await client.callTool({
      name: 'trigger-sampling-request',
      arguments: { prompt: 'hello', maxTokens: 10 },
    })
    assert.match(JSON.stringify(result.content), /sampled/)
  })

  it('round-trips elicitation', async () => {
    const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} })
    assert.match(JSON.stringify(result.content), /Ada Lovelace/)
  })

  it('ends the session with DELETE; the upstream then rejects that session', async () => {
    // A session of its own: the other tests keep using theirs.
    const own = new StreamableHTTPClientTransport(new URL(portico.url))
    const ownClient = new Client({ name: 'portico-delete-test', version: '1.0.0' })
    await ownClient.connect(own)
    const sessionId = own.sessionId
    assert.ok(sessionId)
    await own.terminateSession()
    await ownClient.close()
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list' }),
    })
    // server-everything answers an unknown session with 400 (the spec says 404); Portico passes it through.
    assert.ok(response.status === 400 || response.status === 404, `status ${response.status}`)
    await portico.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.method === 'DELETE' && e.sessionId === sessionId,
      ),
    )
  })
})
