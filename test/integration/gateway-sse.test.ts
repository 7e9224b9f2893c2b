/**
 * A legacy HTTP+SSE backend (server-everything `sse` mode, 2024-11-05 transport) behind the
 * gateway: calls, progress and a sampling round trip, each client with its own SSE session.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { type RunningServer, startEverythingHttp } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

let old: RunningServer
let gateway: RunningPortico

before(async () => {
  old = await startEverythingHttp(undefined, 'sse')
  gateway = await startPortico({ backends: [{ name: 'old', transport: 'sse', url: old.url }] })
})

after(async () => {
  await gateway?.close()
  await old?.stop()
})

it('relays calls, progress and sampling through a legacy SSE backend', async () => {
  const client = new Client(
    { name: 'sse-test', version: '1.0.0' },
    { capabilities: { sampling: {} } },
  )
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: 'assistant',
    model: 'test-model',
    content: { type: 'text', text: 'sampled through sse' },
  }))
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  try {
    const sum = await client.callTool({ name: 'old__get-sum', arguments: { a: 20, b: 22 } })
    assert.deepEqual(sum.content, [{ type: 'text', text: 'The sum of 20 and 22 is 42.' }])
    const progress: number[] = []
    await client.callTool(
      { name: 'old__trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    )
    assert.deepEqual(progress, [1, 2])
    const sampled = await client.callTool({
      name: 'old__trigger-sampling-request',
      arguments: { prompt: 'x', maxTokens: 3 },
    })
    assert.match(JSON.stringify(sampled.content), /sampled through sse/)
  } finally {
    await client.close()
  }
})
