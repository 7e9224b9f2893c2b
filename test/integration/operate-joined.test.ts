/**
 * The operating surfaces joined with traffic protection and auth, end to end:
 * - what the protection policies of real backends report reaches the admin API
 *   (`/admin/circuit-breakers`, `/admin/cache/stats`, `POST /admin/cache/clear`) and the
 *   Prometheus metrics (cache hits and misses, retries), in gateway and transparent mode;
 * - tracing's attempt span sits below retries: a call retried twice against a backend that
 *   refuses connections exports three attempt spans under one exchange span;
 * - with `[auth]`, the admin API takes `[security] admin_token` (an API key is not enough), a
 *   config serving the admin API without any token is refused, tool discovery is open to every
 *   authenticated caller while the admin tools and `add_backend` need admin rights.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { parseConfig } from '../../src/config/schema.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scrape } from '../helpers/prometheus.ts'
import { Receiver } from '../helpers/receiver.ts'
import { until } from '../helpers/wait.ts'

const ADMIN_TOKEN = 'operator-token-0123456789abcdef'
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` }

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'joined-test', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  return client
}

async function getJson(url: string, headers: Record<string, string> = ADMIN, method = 'GET') {
  const response = await fetch(url, { method, headers, signal: AbortSignal.timeout(10_000) })
  const raw = await response.text()
  let json: unknown = raw
  try {
    json = JSON.parse(raw)
  } catch {}
  return { status: response.status, json: json as Array<Record<string, unknown>>, raw }
}

function text(result: unknown): string {
  return (result as { content: Array<{ text: string }> }).content[0]?.text ?? ''
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('protection status in the admin API and metrics (gateway)', () => {
  let probe: Served
  let receiver: Receiver
  let gateway: RunningPortico
  let deadPort: number

  before(async () => {
    probe = await startProbeHttp()
    receiver = await new Receiver().start()
    deadPort = await closedPort()
    gateway = await startPortico({
      admin: { enabled: true },
      observability: {
        metrics: { enabled: true, process: false },
        tracing: { enabled: true, endpoint: receiver.url, flush_interval_ms: 50 },
      },
      backends: [
        {
          name: 'h',
          transport: 'http',
          url: probe.url,
          cache: { tool_ttl_seconds: 60 },
          circuit_breaker: { minimum_calls: 50 },
        },
        {
          name: 'dead',
          transport: 'http',
          url: `http://127.0.0.1:${deadPort}/mcp`,
          retry: { max_retries: 2, initial_backoff_ms: 1, max_backoff_ms: 2 },
        },
      ],
    })
  })
  after(async () => {
    await gateway?.close()
    await probe?.close()
    await receiver?.close()
  })

  it('shows the breaker and the cache of a backend, counts hits, and clears the cache', async () => {
    const admin = `${gateway.origin}/admin`
    // Up once its session is open (initialize, then notifications/initialized, answered).
    await until(
      async () =>
        (await getJson(`${admin}/backends/h/health`)).raw.includes('"healthy":true') || undefined,
      10_000,
      'backend h up',
    )
    assert.deepEqual((await getJson(`${admin}/circuit-breakers`)).json, [
      { backend: 'h', state: 'Closed', health: 'healthy' },
    ])
    const client = await connect(gateway.url)
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'h__cwd', arguments: {} })
    await client.close()
    assert.deepEqual((await getJson(`${admin}/cache/stats`)).json, [
      { namespace: 'h', hits: 2, misses: 1, hit_rate: 2 / 3, entry_count: 1 },
    ])
    const metrics = await scrape(`${gateway.origin}/metrics`)
    assert.equal(metrics.value('portico_cache_hits_total', { backend: 'h' }), 2)
    assert.equal(metrics.value('portico_cache_misses_total', { backend: 'h' }), 1)
    assert.equal(metrics.value('portico_cache_entries', { backend: 'h' }), 1)
    const cleared = await getJson(`${admin}/cache/clear`, ADMIN, 'POST')
    assert.equal(cleared.status, 200)
    assert.equal(cleared.raw, 'caches cleared')
    assert.equal((await getJson(`${admin}/cache/stats`)).json[0]?.entry_count, 0)
  })

  it('counts retries and exports one attempt span per attempt', async () => {
    const client = await connect(gateway.url)
    await assert.rejects(
      client.callTool({ name: 'dead__anything', arguments: {} }),
      /unreachable/,
      'the dead backend answers with an error after its retries',
    )
    await client.close()
    const metrics = await scrape(`${gateway.origin}/metrics`)
    assert.equal(metrics.value('portico_retries_total', { backend: 'dead' }), 2)
    const spans = () =>
      (
        receiver.accepted() as Array<{
          resourceSpans: Array<{
            scopeSpans: Array<{
              spans: Array<{
                name: string
                traceId: string
                parentSpanId?: string
                spanId: string
                kind: number
              }>
            }>
          }>
        }>
      ).flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
    const exchange = () => spans().find((s) => s.kind === 2 && s.name.includes('dead__anything'))
    await receiver.waitFor('the exchange span of the retried call', () => exchange() !== undefined)
    const root = exchange()
    await receiver.waitFor(
      'three attempt spans under the exchange span',
      () => spans().filter((s) => s.parentSpanId === root?.spanId).length >= 3,
    )
    const attempts = spans().filter((s) => s.parentSpanId === root?.spanId)
    assert.equal(attempts.length, 3)
    for (const attempt of attempts) assert.equal(attempt.traceId, root?.traceId)
  })
})

describe('protection status in transparent mode', () => {
  let probe: Served
  let portico: RunningPortico

  before(async () => {
    probe = await startProbeHttp()
    portico = await startPortico({
      upstream: probe.url,
      admin: { enabled: true },
      cache: { tool_ttl_seconds: 60 },
      observability: { metrics: { enabled: true, process: false } },
    })
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
  })

  it('reports the upstream cache under the name upstream', async () => {
    const client = await connect(portico.url)
    await client.callTool({ name: 'cwd', arguments: {} })
    await client.callTool({ name: 'cwd', arguments: {} })
    await client.close()
    const stats = await getJson(`${portico.origin}/admin/cache/stats`)
    assert.deepEqual(stats.json, [
      { namespace: 'upstream', hits: 1, misses: 1, hit_rate: 0.5, entry_count: 1 },
    ])
  })
})

describe('the admin API and Portico tools with [auth]', () => {
  let probe: Served
  let gateway: RunningPortico

  before(async () => {
    probe = await startProbeHttp()
    gateway = await startPortico({
      admin: { enabled: true },
      backends: [{ name: 'h', transport: 'http', url: probe.url }],
      proxy: { tool_discovery: true },
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'ops', key: 'ops-key-0123456789', admin: true },
        ],
      },
      security: { admin_token: ADMIN_TOKEN },
    })
  })
  after(async () => {
    await gateway?.close()
    await probe?.close()
  })

  it('refuses a config that would serve the admin API without a token beside [auth]', () => {
    assert.throws(
      () =>
        parseConfig({
          upstream: probe.url,
          admin: { enabled: true },
          auth: { api_keys: [{ name: 'alice', key: 'alice-key-0123456789' }] },
        }),
      /with \[auth\], the admin API needs a token/,
    )
  })

  it('takes [security] admin_token on the admin API, and not an ordinary API key', async () => {
    const backends = `${gateway.origin}/admin/backends`
    assert.equal((await getJson(backends, {})).status, 401)
    assert.equal(
      (await getJson(backends, { authorization: 'Bearer alice-key-0123456789' })).status,
      401,
    )
    const served = await getJson(backends)
    assert.equal(served.status, 200)
  })

  it('opens tool discovery to every caller; admin tools and add_backend need admin rights', async () => {
    const alice = await connect(gateway.url, { authorization: 'Bearer alice-key-0123456789' })
    const names = (await alice.listTools()).tools.map((t) => t.name)
    assert.ok(names.includes('portico__search_tools'), names.join(', '))
    assert.ok(!names.includes('portico__backends'), 'admin tools are hidden from alice')
    const found = await alice.callTool({
      name: 'portico__search_tools',
      arguments: { query: 'working directory' },
    })
    assert.notEqual(found.isError, true, text(found))
    assert.match(text(found), /h__cwd/)
    await assert.rejects(
      alice.callTool({ name: 'portico__backends', arguments: {} }),
      /Forbidden|403/,
    )
    await alice.close()

    const ops = await connect(gateway.url, { authorization: 'Bearer ops-key-0123456789' })
    const added = await ops.callTool({
      name: 'portico__add_backend',
      arguments: { name: 'h2', url: probe.url },
    })
    assert.notEqual(added.isError, true, text(added))
    assert.match(text(added), /Backend 'h2' added/)
    await ops.close()
  })
})

describe('traffic protection keys callers by their verified identity', () => {
  let probe: Served
  let gateway: RunningPortico

  before(async () => {
    probe = await startProbeHttp()
    gateway = await startPortico({
      backends: [{ name: 'h', transport: 'http', url: probe.url, cache: { tool_ttl_seconds: 60 } }],
      proxy: { admin_tools: false },
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'bob', key: 'bob-key-0123456789' },
        ],
      },
    })
  })
  after(async () => {
    await gateway?.close()
    await probe?.close()
  })

  // The auth filter removes the client's Authorization before forwarding: keyed by the header,
  // both callers (same address) would share alice's cached answer.
  it("never answers one caller from another caller's cache entry", async () => {
    const userOf = async (key: string) => {
      const client = await connect(gateway.url, { authorization: `Bearer ${key}` })
      const answers = []
      for (let i = 0; i < 2; i++) {
        const headers = JSON.parse(
          text(await client.callTool({ name: 'h__headers', arguments: {} })),
        ) as Record<string, string>
        answers.push(headers['x-user-id'])
      }
      await client.close()
      return answers
    }
    assert.deepEqual(await userOf('alice-key-0123456789'), ['alice', 'alice'])
    assert.deepEqual(await userOf('bob-key-0123456789'), ['bob', 'bob'])
    const hits = gateway.sink
      .exchanges()
      .filter((e) => e.method === 'tools/call')
      .map((e) => [e.subject, e.cache])
    assert.deepEqual(hits, [
      ['alice', 'miss'],
      ['alice', 'hit'],
      ['bob', 'miss'],
      ['bob', 'hit'],
    ])
  })
})
