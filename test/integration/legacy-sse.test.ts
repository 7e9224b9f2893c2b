/**
 * The legacy HTTP+SSE transport (2024-11-05) through Portico: SDK v1 SSEClientTransport →
 * Portico `/sse` → server-everything in `sse` mode. The upstream's `endpoint` event is
 * rewritten to point at Portico, and responses on the stream are correlated with the POSTs.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { readText } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'

describe('legacy HTTP+SSE through Portico', () => {
  let everything: Spawned & { url: string }
  let portico: RunningPortico
  let client: Client

  before(async () => {
    everything = await startEverything('sse')
    portico = await startPortico({ upstream: everything.url })
    client = new Client({ name: 'sse-client', version: '0.1.0' })
    await client.connect(new SSEClientTransport(new URL('/sse', portico.origin)))
  })
  after(async () => {
    await client?.close().catch(() => undefined)
    await portico?.close()
    await everything?.stop()
  })

  it('rewrites the endpoint event so the client posts to Portico', async () => {
    const response = await fetch(new URL('/sse', portico.origin), {
      headers: { accept: 'text/event-stream' },
    })
    const text = await readText(response, (t) => t.includes('\n\n'), 'the endpoint event')
    assert.match(text, /event: endpoint\ndata: \/message\?sessionId=[\w-]+\n\n/)
  })

  it('guards /sse with the Origin check: a foreign Origin gets 403, a local one the stream', async () => {
    const refused = await fetch(new URL('/sse', portico.origin), {
      headers: { accept: 'text/event-stream', origin: 'https://evil.example' },
    })
    assert.equal(refused.status, 403)
    const body = (await refused.json()) as { error: { code: number; message: string } }
    assert.equal(body.error.code, -32600)
    assert.match(body.error.message, /Origin not allowed/)
    const local = await fetch(new URL('/sse', portico.origin), {
      headers: { accept: 'text/event-stream', origin: 'http://localhost:6274' },
    })
    assert.equal(local.status, 200)
    const text = await readText(local, (t) => t.includes('\n\n'), 'the endpoint event')
    assert.match(text, /event: endpoint\n/)
  })

  it('serves lists and calls, with responses arriving on the stream', async () => {
    const tools = await client.listTools()
    assert.ok(tools.tools.some((t) => t.name === 'echo'))
    const result = await client.callTool({ name: 'echo', arguments: { message: 'old transport' } })
    assert.deepEqual(result.content, [{ type: 'text', text: 'Echo: old transport' }])
  })

  it('records each POSTed call with its outcome once its response passes on the stream', async () => {
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'echo'),
    )
    const call = portico.sink.exchanges().find((e) => e.name === 'echo')
    assert.equal(call?.transport, 'sse')
    assert.equal(call?.outcome, 'ok')
    assert.ok(call?.sessionId, 'legacy session id recorded from the endpoint URL')
    assert.ok((call?.bytesOut ?? 0) > 0)
    const list = portico.sink.exchanges().find((e) => e.method === 'tools/list')
    assert.ok(list?.result && Array.isArray(list.result.tools), 'list result captured')
  })

  it('records the stream with the session its endpoint event named', async () => {
    const call = portico.sink.exchanges().find((e) => e.name === 'echo')
    assert.ok(call?.sessionId)
    await client.close()
    // The client's stream ended with its close: its record carries the session of its calls.
    await portico.sink.waitFor((events) =>
      events.some(
        (e) =>
          e.type === 'exchange' &&
          e.kind === 'stream' &&
          e.transport === 'sse' &&
          e.sessionId === call?.sessionId,
      ),
    )
  })
})
