/**
 * Backends added, replaced and removed at runtime (the admin API): those removed under new
 * names each time (per-deploy names) leave nothing behind in the gateway (each left an ejection
 * group and a health entry, for ever: the leak fuzzer's ~1 KB a cycle, 901 groups alive with one
 * backend configured; V8 counts the groups alive, `queryObjects`, after a full collection);
 * one replaced keeps its counts, and its closing predecessor does not speak for its health.
 * A real gateway in process, the admin API over HTTP.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { queryObjects } from 'node:v8'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { OutlierGroup } from '../../src/protect/outlier.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scrape } from '../helpers/prometheus.ts'

const CYCLES = 40

describe('backends added and removed under new names', () => {
  let upstream: FaultyHttp
  let gateway: RunningPortico

  before(async () => {
    upstream = await startFaultyHttp('churn')
    gateway = await startPortico({
      admin: { enabled: true },
      backends: [{ name: 'kept', transport: 'http', url: upstream.url }],
    })
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  it('leave no ejection group behind', async () => {
    for (let i = 0; i < CYCLES; i++) {
      const name = `deploy-${i}`
      assert.equal(await admin(gateway, 'POST', '/backends/add', { name, url: upstream.url }), 201)
      assert.equal(await admin(gateway, 'DELETE', `/backends/${name}`), 200)
    }
    const groups = queryObjects(OutlierGroup, { format: 'count' })
    assert.ok(groups <= 2, `${groups} ejection groups alive for one backend configured`)
  })
})

describe('a backend replaced through the admin API', () => {
  let first: FaultyHttp
  let second: FaultyHttp
  let gateway: RunningPortico

  before(async () => {
    first = await startFaultyHttp('first')
    second = await startFaultyHttp('second')
    gateway = await startPortico({
      admin: { enabled: true },
      observability: { metrics: { enabled: true, process: false } },
      backends: [{ name: 'b', transport: 'http', url: first.url, cache: { tool_ttl_seconds: 60 } }],
    })
  })
  after(async () => {
    await gateway?.close()
    await first?.close()
    await second?.close()
  })

  it('keeps its counts, and its health is the one serving the name', async () => {
    const client = new Client({ name: 'churn', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    const lookups = async (n: number) => {
      for (let i = 0; i < n; i++)
        await client.callTool({ name: 'b__lookup', arguments: { key: 'k' } })
    }
    const hits = async () =>
      (await scrape(`${gateway.origin}/metrics`)).value('portico_cache_hits_total', {
        backend: 'b',
      })
    try {
      await lookups(4) // a miss, then 3 hits
      const before = await hits()
      const cache = { tool_ttl_seconds: 60 }
      assert.equal(await admin(gateway, 'PUT', '/backends/b', { url: second.url, cache }), 200)
      // The new cache counts past the old one's hits before the next scrape: they were lost.
      await lookups(6) // a miss, then 5 hits
      assert.equal(await hits(), before + 5)
      // The replaced backend, closing, made b "down" while its replacement served.
      const history = async () => {
        const answer = await fetch(`${gateway.origin}/admin/backends/b/health/history`)
        return ((await answer.json()) as Array<{ healthy: boolean }>).map((entry) => entry.healthy)
      }
      assert.deepEqual(await history(), [true])
      // Removed and added again: the history says so, rather than "healthy" twice in a row.
      assert.equal(await admin(gateway, 'DELETE', '/backends/b'), 200)
      const added = { name: 'b', url: second.url, cache }
      assert.equal(await admin(gateway, 'POST', '/backends/add', added), 201)
      await lookups(1)
      assert.deepEqual(await history(), [true, false, true])
    } finally {
      await client.close()
    }
  })
})

/** An admin API request to `gateway`; resolves with its status. */
async function admin(
  gateway: RunningPortico,
  method: string,
  path: string,
  body?: object,
): Promise<number> {
  const response = await fetch(`${gateway.origin}/admin${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  await response.arrayBuffer()
  return response.status
}
