/**
 * The gateway tells the truth about what backends did, with a real misbehaving stdio process:
 * a result that is not an object is an error (never a made-up success), a line over the bound
 * is a clear "too large" error (not a timeout), and a backend asking the gateway's own session
 * for roots gets an empty list instead of an error it would log at every start.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { MCP_ACCEPT, openSession } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

describe('the gateway tells the truth about backends', () => {
  let gateway: RunningPortico
  let client: Client

  before(async () => {
    gateway = await startPortico({
      max_response_body_size: 65_536,
      backends: [
        {
          name: 'raw',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
        },
        {
          // The session's own process: what it sends outside a call goes to that session's
          // stream (a shared process's log lines outside any call go to no client).
          name: 'own',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
          isolation: 'session',
        },
      ],
    })
    client = new Client({ name: 'truth', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  })
  after(async () => {
    await client?.close()
    await gateway?.close()
  })

  it('gives a backend that asks the gateway for roots an empty list', async () => {
    // The backend asks at its start, and the client's initialize does not wait for that start:
    // the first call can overtake the gateway's answer, so the tool is asked until it has one.
    const answer = await until(
      async () => {
        const reported = JSON.parse(text(await client.callTool({ name: 'raw__roots_answer' })))
        return reported === 'not answered' ? undefined : reported
      },
      5000,
      'the answer to roots/list',
    )
    assert.deepEqual(answer, { roots: [] })
  })

  it('answers a result that is not an object with an error, and records why', async () => {
    await assert.rejects(client.callTool({ name: 'raw__bad_result' }), /answered without a result/)
    await gateway.sink.waitFor((events) =>
      events.some(
        (e) =>
          e.type === 'exchange' &&
          e.name === 'raw__bad_result' &&
          e.reason === 'upstream_bad_response',
      ),
    )
  })

  it('bounds what a client that never reads its stream costs: messages are dropped and counted', async () => {
    // A session whose client opened its stream and then stopped reading it.
    const session = await openSession(gateway.url)
    const stalled = await fetch(gateway.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': session },
    })
    assert.equal(stalled.status, 200)
    const flood = await fetch(gateway.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'own__flood', arguments: { count: 20_000, bytes: 1000 } },
      }),
    })
    assert.match(await flood.text(), /flooding/)
    const dropped = await until(
      async () => {
        const stats = JSON.parse(text(await client.callTool({ name: 'portico__sessions' }))) as {
          dropped_messages: number
        }
        return stats.dropped_messages > 0 ? stats.dropped_messages : undefined
      },
      20_000,
      'dropped messages to be counted',
    )
    // What the socket and the client took is theirs; past 1 MB unsent, Portico drops.
    assert.ok(dropped > 0, `${dropped} of 20,000 messages of 1 KB dropped`)
    await stalled.body?.cancel()
  })

  it('answers a backend line over the bound as too large, not as a timeout', async () => {
    await assert.rejects(
      client.callTool({ name: 'raw__huge', arguments: { bytes: 200_000 } }),
      /over 65536 bytes/,
    )
    await gateway.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.name === 'raw__huge' && e.reason === 'response_too_large',
      ),
    )
  })
})

describe('the gateway reads a large stdio answer in time linear in its size', () => {
  let gateway: RunningPortico
  let client: Client

  before(async () => {
    gateway = await startPortico({
      max_response_body_size: 40 * 1024 * 1024,
      backends: [
        {
          name: 'raw',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
        },
      ],
    })
    client = new Client({ name: 'large', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  })
  after(async () => {
    await client?.close()
    await gateway?.close()
  })

  it('passes a 32 MB answer line, within the bound, whole', async () => {
    // The line arrives in pipe-sized chunks (64 KB): joined and searched anew at each chunk,
    // it cost time quadratic in its size (a 16 MB line took 7 s of CPU; this one, about half a
    // minute, past the deadline below). Read as chunks, it takes about a second.
    const bytes = 32 * 1024 * 1024
    const answer = await client.callTool({ name: 'raw__huge', arguments: { bytes } }, undefined, {
      timeout: 15_000,
    })
    const got = text(answer)
    assert.equal(got.length, bytes)
    assert.ok(/^x+$/.test(got), 'the text is the backend’s, unchanged')
  })
})
