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
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

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
    const answer = text(await client.callTool({ name: 'raw__roots_answer' }))
    assert.deepEqual(JSON.parse(answer), { roots: [] })
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
