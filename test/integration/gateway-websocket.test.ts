/**
 * mcp-proxy's `transport = "websocket"` backends: a real MCP server over WebSocket (the SDK's
 * McpServer on a ws socket, test/fixtures/ws-server.ts) behind the gateway, called by an SDK
 * client over Streamable HTTP: tools listed and called under the namespace, the bearer token
 * sent with the upgrade, a backend that goes away failing the call clearly, and the next call
 * after it is back served on a new socket.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, spawnReady } from '../helpers/processes.ts'

const READY = /listening on (ws:\/\/\S+)/

async function startWsServer(
  port = 0,
  extra: string[] = [],
): Promise<Spawned & { url: string; port: number }> {
  const spawned = await spawnReady(
    process.execPath,
    [fixture('ws-server'), '--port', String(port), ...extra],
    {
      ready: READY,
    },
  )
  const url = READY.exec(spawned.output())?.[1] as string
  return { ...spawned, url, port: Number(new URL(url).port) }
}

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

describe('gateway: WebSocket backends', () => {
  let server: Spawned & { url: string; port: number }
  let gateway: RunningPortico
  let client: Client

  before(async () => {
    server = await startWsServer()
    gateway = await startPortico({
      backends: [
        { name: 'ws', transport: 'websocket', url: server.url, bearer_token: 'ws-secret' },
      ],
    })
    client = new Client({ name: 'ws-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  })
  after(async () => {
    await client?.close()
    await gateway?.close()
    await server?.stop()
  })

  it('lists and calls the backend tools under its namespace, with the bearer token at the upgrade', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name)
    assert.ok(names.includes('ws__echo') && names.includes('ws__whoami'), names.join())
    assert.equal(
      text(await client.callTool({ name: 'ws__echo', arguments: { text: 'over ws' } })),
      'echo: over ws',
    )
    assert.equal(
      text(await client.callTool({ name: 'ws__whoami', arguments: {} })),
      'Bearer ws-secret',
    )
  })

  it('fails a call clearly while the backend is gone, and serves again on a new socket once it is back', async () => {
    await server.stop()
    await assert.rejects(
      client.callTool({ name: 'ws__echo', arguments: { text: 'nobody there' } }),
      /Backend ws .*(closed its WebSocket|could not be reached)/,
    )
    server = await startWsServer(server.port)
    assert.equal(
      text(await client.callTool({ name: 'ws__echo', arguments: { text: 'back' } })),
      'echo: back',
    )
  })
})

describe('gateway: a WebSocket backend that answers in batches', () => {
  it('takes each message of a batch as its own', async () => {
    const server = await startWsServer(0, ['--batch'])
    const gateway = await startPortico({
      backends: [{ name: 'wb', transport: 'websocket', url: server.url }],
    })
    const client = new Client({ name: 'ws-batch-test', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
      assert.equal(
        text(await client.callTool({ name: 'wb__echo', arguments: { text: 'in a batch' } })),
        'echo: in a batch',
      )
    } finally {
      await client.close()
      await gateway.close()
      await server.stop()
    }
  })
})
