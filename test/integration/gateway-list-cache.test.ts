/**
 * Merged lists from kept pages, end to end: a gateway in front of a real SDK server (stateful,
 * announcing `listChanged`) answers a repeated `tools/list` without asking the backend again
 * (counted by a library-mode per-upstream middleware, which sees every backend call), asks
 * again once the backend announces a new tool, and asks every time with `list_cache_ttl = 0`.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Middleware } from '../../src/pipeline/compose.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'list-cache-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

function counter(): { middleware: Middleware; lists: () => number } {
  let lists = 0
  return {
    middleware: async (call, next) => {
      if (call.method === 'tools/list') lists++
      return next(call)
    },
    lists: () => lists,
  }
}

describe('gateway list cache', () => {
  const running: Array<RunningPortico | StoreUpstream> = []
  after(async () => {
    for (const r of running.reverse()) await r.close()
  })

  it('answers a repeated list from the kept page, and asks again after list_changed', async () => {
    const upstream = await startStoreUpstream()
    running.push(upstream)
    const count = counter()
    const gateway = await startPortico(
      {
        backends: [{ name: 's', transport: 'http', url: upstream.url }],
        proxy: { admin_tools: false },
      },
      { upstreamMiddleware: [count.middleware] },
    )
    running.push(gateway)
    const client = await connect(gateway.url)
    const first = (await client.listTools()).tools.map((t) => t.name)
    const afterFirst = count.lists()
    const second = (await client.listTools()).tools.map((t) => t.name)
    assert.deepEqual(second, first)
    assert.equal(count.lists(), afterFirst, 'the second list did not reach the backend')
    assert.ok(first.includes('s__fast'))

    upstream.addTool('added')
    await until(
      async () => (await client.listTools()).tools.some((t) => t.name === 's__added'),
      10_000,
      'the announced tool in the merged list',
    )
    assert.ok(count.lists() > afterFirst, 'the announcement made the gateway ask again')
    const settled = count.lists()
    await client.listTools()
    assert.equal(count.lists(), settled, 'the new list is kept in turn')
    await client.close()
  })

  it('asks the backend every time with list_cache_ttl = 0', async () => {
    const upstream = await startStoreUpstream()
    running.push(upstream)
    const count = counter()
    const gateway = await startPortico(
      {
        backends: [{ name: 's', transport: 'http', url: upstream.url }],
        proxy: { admin_tools: false, list_cache_ttl: 0 },
      },
      { upstreamMiddleware: [count.middleware] },
    )
    running.push(gateway)
    const client = await connect(gateway.url)
    await client.listTools()
    const before = count.lists()
    await client.listTools()
    await client.listTools()
    assert.equal(count.lists(), before + 2)
    await client.close()
  })

  it('fetches a page once for the callers of one view asking for it at the same time', async () => {
    const upstream = await startStoreUpstream()
    running.push(upstream)
    let lists = 0
    const slowList: Middleware = async (call, next) => {
      if (call.method !== 'tools/list') return next(call)
      lists++
      await new Promise((resolve) => setTimeout(resolve, 300))
      return next(call)
    }
    const gateway = await startPortico(
      {
        backends: [{ name: 's', transport: 'http', url: upstream.url }],
        // Never kept: only the fetch in flight is shared (a page over the cache's bound too).
        proxy: { admin_tools: false, list_cache_ttl: 0 },
      },
      { upstreamMiddleware: [slowList] },
    )
    running.push(gateway)
    const client = await connect(gateway.url)
    await client.listTools()
    const before = lists
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.listTools()))
    // Before: five fetches, each parsed and checked (a 100,000-tool list held the gateway
    // for seconds per caller).
    assert.equal(lists - before, 1)
    for (const answer of answers) assert.ok(answer.tools.some((t) => t.name === 's__fast'))
    await client.close()
  })
})
