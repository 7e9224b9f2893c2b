/**
 * mcp-proxy's annotation filters (`hide_destructive`, `read_only_only`) in the gateway, with
 * the fault-injecting stdio server (its tools carry MCP annotations) and an SDK client. Unlike
 * mcp-proxy, a filtered tool cannot be called either, even by a client that never listed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'annotations-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

const backend = (name: string, extra: Record<string, unknown>) => ({
  name,
  transport: 'stdio' as const,
  command: process.execPath,
  args: [fixture('faulty-stdio')],
  ...extra,
})

describe('gateway: annotation filters', () => {
  let gateway: RunningPortico

  before(async () => {
    gateway = await startPortico({
      backends: [
        backend('safe', { hide_destructive: true }),
        backend('ro', { read_only_only: true }),
        backend('all', {}),
      ],
    })
  })
  after(() => gateway?.close())

  it('lists only what the annotations clear: read-only tools here (none says destructiveHint: false)', async () => {
    const client = await connect(gateway.url)
    const names = (await client.listTools()).tools.map((t) => t.name)
    const of = (prefix: string) =>
      names
        .filter((n) => n.startsWith(prefix))
        .map((n) => n.slice(prefix.length))
        .sort()
    const readOnly = ['echo', 'hang', 'slow', 'stats', 'status']
    assert.deepEqual(of('safe__'), readOnly)
    assert.deepEqual(of('ro__'), readOnly)
    assert.ok(of('all__').includes('write') && of('all__').includes('lookup'))
    await assert.rejects(
      client.callTool({ name: 'safe__write', arguments: { text: 'x' } }),
      /Unknown tool: safe__write/,
    )
    await client.close()
  })

  it('refuses a filtered tool to a client that never listed, and serves the others', async () => {
    const fresh = await startPortico({
      backends: [backend('ro', { read_only_only: true })],
    })
    try {
      const client = await connect(fresh.url)
      await assert.rejects(
        client.callTool({ name: 'ro__lookup', arguments: { key: 'k' } }),
        /Unknown tool: ro__lookup/,
      )
      const echoed = await client.callTool({ name: 'ro__echo', arguments: { text: 'hi' } })
      assert.match(JSON.stringify(echoed.content), /hi/)
      await client.close()
    } finally {
      await fresh.close()
    }
  })
})
