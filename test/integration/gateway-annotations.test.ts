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

  it('refuses made-up names without listing the backend again, and overlong names at once', async () => {
    const fresh = await startPortico({
      backends: [backend('ro', { read_only_only: true, hide_tools: ['*get*list*'] })],
    })
    try {
      const client = await connect(fresh.url)
      const listings = async () => {
        const stats = await client.callTool({ name: 'ro__stats', arguments: {} })
        const text = (stats.content as Array<{ text: string }>)[0]?.text ?? '{}'
        return (JSON.parse(text) as { runs: Record<string, number> }).runs['tools/list'] ?? 0
      }
      // The first call looks the tool up in one listing; made-up names then cost none.
      const before = await listings()
      for (let i = 0; i < 5; i++) {
        await assert.rejects(
          client.callTool({ name: `ro__made_up_${i}`, arguments: {} }),
          new RegExp(`Unknown tool: ro__made_up_${i}`),
        )
      }
      assert.equal(await listings(), before)
      // A name longer than any real one is unknown before a pattern runs over it (a glob like
      // this one would take time quadratic in its length: hours here, past the test's timeout),
      // and the error does not repeat it.
      const overlong = `ro__${'get'.repeat(400_000)}`
      await assert.rejects(client.callTool({ name: overlong, arguments: {} }), (error: Error) => {
        assert.match(error.message, /Unknown tool: ro__getget.*… \(1200004 characters\)/)
        assert.ok(error.message.length < 1000, `error of ${error.message.length} characters`)
        return true
      })
      await client.close()
    } finally {
      await fresh.close()
    }
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

  it('judges a tool by the caller\'s own process (isolation = "session"), whatever another\'s lists', async () => {
    // Each session's process adds `zap`: destructive in one, not in the other.
    const isolated = await startPortico({
      backends: [
        {
          name: 'p',
          transport: 'stdio' as const,
          command: process.execPath,
          args: [fixture('route-stdio')],
          isolation: 'session' as const,
          hide_destructive: true,
        },
      ],
    })
    const [safe, risky] = [await connect(isolated.url), await connect(isolated.url)]
    try {
      await safe.callTool({ name: 'p__add_tool', arguments: { name: 'zap' } })
      await risky.callTool({ name: 'p__add_tool', arguments: { name: 'zap', destructive: true } })
      // Before any listing: each is judged by its own process's list.
      assert.match(JSON.stringify((await safe.callTool({ name: 'p__zap' })).content), /zap/)
      await assert.rejects(risky.callTool({ name: 'p__zap' }), /Unknown tool: p__zap/)
      assert.ok(!(await risky.listTools()).tools.some((tool) => tool.name === 'p__zap'))
      assert.ok((await safe.listTools()).tools.some((tool) => tool.name === 'p__zap'))
      // The other session listing its own, harmless zap opens nothing here (it did before).
      await assert.rejects(risky.callTool({ name: 'p__zap' }), /Unknown tool: p__zap/)
      assert.match(JSON.stringify((await safe.callTool({ name: 'p__zap' })).content), /zap/)
    } finally {
      await safe.close()
      await risky.close()
      await isolated.close()
    }
  })
})
