/**
 * Prometheus metrics end to end: a gateway with a stdio and an HTTP backend, known calls from a
 * real SDK client, then `/metrics` scraped over HTTP and read with a Prometheus text-format
 * parser: request counts with exact labels, latency histograms, backend gauges, label
 * cardinality capped (names never answered, and names past the cap, fold into `other`),
 * `/admin/metrics` with the same families, and the endpoint's guards.
 */
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js'
import { loadConfig } from '../../src/config/load.ts'
import { createPortico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scrape } from '../helpers/prometheus.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const TOKEN = 'metrics-admin-token-0123456789'

async function connect(url: string, name = 'claude-ai'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

describe('prometheus metrics', () => {
  let http: Served
  let gateway: RunningPortico

  before(async () => {
    http = await startProbeHttp()
    gateway = await startPortico({
      backends: [
        {
          name: 'p',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('probe-stdio')],
        },
        { name: 'h', transport: 'http', url: http.url },
      ],
      observability: { metrics: { enabled: true, max_targets: 3, process: true } },
      admin: { enabled: true },
    })
  })

  after(async () => {
    await gateway?.close()
    await http?.close()
  })

  it('counts known calls with exact labels', async () => {
    const client = await connect(gateway.url)
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'p__cwd', arguments: {} })
    await client.callTool({ name: 'h__headers', arguments: {} })
    // Unknown tools never get a label of their own: one the gateway refuses (no backend owns
    // the name), one the backend answers with an isError result.
    await assert.rejects(client.callTool({ name: 'zz__no_such_tool', arguments: {} }), /-32602/)
    const unknown = await client.callTool({ name: 'p__no_such_tool', arguments: {} })
    assert.equal(unknown.isError, true)
    await client.close()
    await gateway.sink.waitFor(
      (events) =>
        events.filter((e) => e.type === 'exchange' && e.method === 'tools/call').length === 6,
    )
    const metrics = await scrape(`${gateway.origin}/metrics`)
    assert.ok(!metrics.text.includes('mcp_proxy_'), 'mcp-proxy names without mcp_proxy_names')
    const base = { method: 'tools/call', platform: 'claude', reason: '' }
    assert.equal(
      metrics.value('portico_requests_total', {
        ...base,
        target: 'p__cwd',
        backend: 'p',
        outcome: 'ok',
      }),
      3,
    )
    assert.equal(
      metrics.value('portico_requests_total', {
        ...base,
        target: 'h__headers',
        backend: 'h',
        outcome: 'ok',
      }),
      1,
    )
    assert.equal(
      metrics.value('portico_requests_total', {
        method: 'tools/call',
        target: 'other',
        backend: '',
        platform: 'claude',
        outcome: 'error',
        reason: 'invalid_params',
      }),
      1,
    )
    assert.equal(
      metrics.value('portico_requests_total', {
        ...base,
        target: 'other',
        backend: 'p',
        outcome: 'tool_error',
      }),
      1,
    )
    assert.equal(metrics.sum('portico_requests_total', { method: 'initialize' }), 1)
    assert.equal(metrics.sum('portico_requests_total', { method: 'tools/call' }), 6)
    // The histogram counts the same calls; every one is under the largest finite bucket.
    const latency = metrics.histogram('portico_request_duration_seconds', {
      method: 'tools/call',
      target: 'p__cwd',
      backend: 'p',
      outcome: 'ok',
    })
    assert.equal(latency.count, 3)
    assert.equal(latency.buckets['300'], 3)
    assert.equal(latency.buckets['+Inf'], 3)
    assert.equal(Object.keys(latency.buckets).length, 19)
    assert.ok(latency.sum > 0)
    assert.equal(metrics.value('portico_calls_in_flight'), 0)
    assert.equal(metrics.value('portico_backend_up', { backend: 'p', transport: 'stdio' }), 1)
    assert.equal(metrics.value('portico_backend_up', { backend: 'h', transport: 'http' }), 1)
    assert.equal(
      metrics.value('portico_info', {
        version: metrics.samples('portico_info')[0]?.labels?.version ?? '',
        mode: 'gateway',
        proxy: 'portico',
      }),
      1,
    )
    assert.ok(metrics.value('portico_events_published_total') >= 8)
    assert.ok(metrics.families.some((f) => f.name === 'process_cpu_user_seconds_total'))
    assert.ok(metrics.families.some((f) => f.name === 'nodejs_eventloop_lag_seconds'))
  })

  it('caps tool labels: past max_targets, names fold into other', async () => {
    const client = await connect(gateway.url, 'cursor')
    // p__cwd and h__headers hold two of the three slots; p__meta takes the last.
    await client.callTool({ name: 'p__meta', arguments: {} })
    await client.callTool({ name: 'h__cwd', arguments: {} })
    await client.close()
    await gateway.sink.waitFor(
      (events) =>
        events.filter((e) => e.type === 'exchange' && e.method === 'tools/call').length === 8,
    )
    const metrics = await scrape(`${gateway.origin}/metrics`)
    const labels = { method: 'tools/call', platform: 'cursor', outcome: 'ok', reason: '' }
    assert.equal(
      metrics.value('portico_requests_total', { ...labels, target: 'p__meta', backend: 'p' }),
      1,
    )
    assert.equal(
      metrics.value('portico_requests_total', { ...labels, target: 'other', backend: 'h' }),
      1,
    )
    const targets = new Set(
      metrics.family('portico_requests_total').metrics.map((m) => m.labels?.target),
    )
    assert.deepEqual([...targets].sort(), ['', 'h__headers', 'other', 'p__cwd', 'p__meta'])
  })

  it('serves the same families at /admin/metrics', async () => {
    const admin = await scrape(`${gateway.origin}/admin/metrics`)
    assert.equal(admin.sum('portico_requests_total', { method: 'tools/call' }), 8)
  })

  it('refuses /metrics from a foreign Origin', async () => {
    const response = await fetch(`${gateway.origin}/metrics`, {
      headers: { origin: 'https://evil.example' },
    })
    assert.equal(response.status, 403)
  })
})

describe('prometheus metrics with an admin token', () => {
  let portico: RunningPortico
  let http: Served

  before(async () => {
    http = await startProbeHttp()
    portico = await startPortico({
      upstream: http.url,
      observability: { metrics: { enabled: true, process: false } },
      admin: { token: TOKEN },
    })
  })

  after(async () => {
    await portico?.close()
    await http?.close()
  })

  it('needs the token, then counts transparent-mode calls (no backend label value)', async () => {
    // The probe upstream is stateless: without a session, calls after `initialize` cannot be
    // tied to its client, so their platform is `unknown` (initialize itself names it).
    const denied = await fetch(`${portico.origin}/metrics`)
    assert.equal(denied.status, 401)
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer realm="portico-admin"/)
    const wrong = await fetch(`${portico.origin}/metrics`, {
      headers: { authorization: 'Bearer not-the-token-at-all' },
    })
    assert.equal(wrong.status, 401)
    const client = await connect(portico.url, 'openai-mcp')
    await client.callTool({ name: 'cwd', arguments: {} })
    await client.close()
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'tools/call'),
    )
    const metrics = await scrape(`${portico.origin}/metrics`, { authorization: `Bearer ${TOKEN}` })
    assert.equal(
      metrics.value('portico_requests_total', {
        method: 'tools/call',
        target: 'cwd',
        backend: '',
        platform: 'unknown',
        outcome: 'ok',
        reason: '',
      }),
      1,
    )
    assert.equal(
      metrics.value('portico_requests_total', {
        method: 'initialize',
        target: '',
        backend: '',
        platform: 'chatgpt',
        outcome: 'ok',
        reason: '',
      }),
      1,
    )
    assert.ok(!metrics.families.some((f) => f.name === 'process_cpu_user_seconds_total'))
    // The refused scrapes were recorded as refusals.
    assert.ok(metrics.sum('portico_requests_total', { method: 'GET', reason: 'unauthorized' }) >= 2)
  })
})

describe('prometheus metrics beside [auth], without an admin token', () => {
  let portico: RunningPortico
  let http: Served
  const CLIENT_TOKEN = 'metrics-client-token-0123456789'

  before(async () => {
    http = await startProbeHttp()
    // mcp-proxy's example with bearer auth and metrics on: its /admin/metrics sat behind that
    // auth. A config that asks for authentication must not serve its metrics to anyone.
    portico = await startPortico({
      upstream: http.url,
      observability: { metrics: { enabled: true, process: false } },
      auth: { type: 'bearer', tokens: [CLIENT_TOKEN] },
    })
  })

  after(async () => {
    await portico?.close()
    await http?.close()
  })

  it('needs a credential [auth] accepts', async () => {
    const denied = await fetch(`${portico.origin}/metrics`)
    assert.equal(denied.status, 401)
    const wrong = await fetch(`${portico.origin}/metrics`, {
      headers: { authorization: 'Bearer not-the-token-at-all' },
    })
    assert.equal(wrong.status, 401)
    const metrics = await scrape(`${portico.origin}/metrics`, {
      authorization: `Bearer ${CLIENT_TOKEN}`,
    })
    assert.ok(metrics.families.some((f) => f.name === 'portico_requests_total'))
  })
})

describe("a gateway without the admin API (mcp-proxy's file): /admin/metrics still scrapes", () => {
  let portico: RunningPortico
  let http: Served
  const CLIENT_TOKEN = 'metrics-client-token-0123456789'

  before(async () => {
    http = await startProbeHttp()
    portico = await startPortico({
      backends: [{ name: 'h', transport: 'http', url: http.url }],
      observability: { metrics: { enabled: true, process: false, mcp_proxy_names: true } },
      auth: { type: 'bearer', tokens: [CLIENT_TOKEN] },
    })
  })

  after(async () => {
    await portico?.close()
    await http?.close()
  })

  it("serves the metrics at mcp-proxy's path behind the same guard, and says where the rest is", async () => {
    const denied = await fetch(`${portico.origin}/admin/metrics`)
    await denied.body?.cancel()
    assert.equal(denied.status, 401)
    const bearer = { authorization: `Bearer ${CLIENT_TOKEN}` }
    const metrics = await scrape(`${portico.origin}/admin/metrics`, bearer)
    assert.ok(metrics.families.some((f) => f.name === 'portico_requests_total'))
    assert.ok(metrics.families.some((f) => f.name === 'mcp_proxy_requests_total'))
    const health = await fetch(`${portico.origin}/admin/health`, { headers: bearer })
    assert.equal(health.status, 404)
    assert.deepEqual(await health.json(), {
      ok: false,
      message:
        'Not Found: the admin API is off; set [admin] enabled = true (with [admin] token) to serve it under /admin here, or admin_bind for its own listener',
    })
  })
})

describe('prometheus metrics of the store sink', () => {
  it('shows the store queue, deliveries and commit time', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { storeSink } = await import('../../src/store/sink.ts')
    const dir = mkdtempSync(join(tmpdir(), 'portico-metrics-store-'))
    const store = storeSink({ path: join(dir, 'store.db'), proxy: 'm', flushMs: 20 })
    const http = await startProbeHttp()
    const portico = await startPortico(
      { upstream: http.url, observability: { metrics: { enabled: true, process: false } } },
      { sinks: [store] },
    )
    try {
      const client = await connect(portico.url)
      await client.callTool({ name: 'cwd', arguments: {} })
      await client.close()
      const { until } = await import('../helpers/wait.ts')
      const metrics = await until(
        async () => {
          const m = await scrape(`${portico.origin}/metrics`)
          return m.value('portico_sink_sent_total', { sink: 'store' }) >= 3 ? m : undefined
        },
        10_000,
        'the store to commit the first exchanges',
      )
      assert.ok(metrics.value('portico_sink_writes_total', { sink: 'store' }) >= 1)
      assert.ok(metrics.value('portico_sink_write_seconds_total', { sink: 'store' }) > 0)
      assert.equal(metrics.value('portico_sink_dropped_total', { sink: 'store' }), 0)
      assert.equal(typeof metrics.value('portico_sink_pending', { sink: 'store' }), 'number')
    } finally {
      await portico.close()
      await http.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("prometheus metrics under mcp-proxy's names (mcp_proxy_names)", () => {
  it('counts MCP requests by method and status, and times them by method', async () => {
    const gateway = await startPortico({
      backends: [
        {
          name: 'p',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('probe-stdio')],
        },
      ],
      observability: { metrics: { enabled: true, process: false, mcp_proxy_names: true } },
    })
    try {
      const client = await connect(gateway.url)
      for (let i = 0; i < 2; i++) await client.callTool({ name: 'p__cwd', arguments: {} })
      // A JSON-RPC error is mcp-proxy's "error"; an isError result is its "ok".
      await assert.rejects(client.callTool({ name: 'zz__nothing', arguments: {} }), /-32602/)
      assert.equal((await client.callTool({ name: 'p__nothing', arguments: {} })).isError, true)
      // A method MCP does not name: answered -32601, an error mcp-proxy counts (before, it was
      // folded into `other`, which was no request there).
      await assert.rejects(
        client.request({ method: 'vendor/made_up' }, EmptyResultSchema),
        /-32601/,
      )
      await client.notification({ method: 'notifications/vendor_made_up' })
      await client.close()
      await gateway.sink.waitFor(
        (events) =>
          events.filter((e) => e.type === 'exchange' && e.method === 'tools/call').length === 4 &&
          events.some((e) => e.type === 'exchange' && e.method === 'notifications/vendor_made_up'),
      )
      const metrics = await scrape(`${gateway.origin}/metrics`)
      const calls = { method: 'tools/call' }
      assert.equal(metrics.value('mcp_proxy_requests_total', { ...calls, status: 'ok' }), 3)
      assert.equal(metrics.value('mcp_proxy_requests_total', { ...calls, status: 'error' }), 1)
      assert.equal(
        metrics.value('mcp_proxy_requests_total', { method: 'initialize', status: 'ok' }),
        1,
      )
      assert.equal(
        metrics.value('mcp_proxy_requests_total', { method: 'other', status: 'error' }),
        1,
      )
      // An unknown notification is not folded in with them.
      const notes = metrics
        .samples('portico_requests_total')
        .filter((sample) => sample.labels?.method === 'notifications/other')
      assert.equal(notes.length, 1)
      // Notifications and bare HTTP exchanges are not requests there.
      const methods = metrics.samples('mcp_proxy_requests_total').map((s) => s.labels?.method)
      assert.ok(!methods.some((m) => String(m).startsWith('notifications/') || m === 'DELETE'))
      assert.equal(metrics.histogram('mcp_proxy_request_duration_seconds', calls).count, 4)
    } finally {
      await gateway.close()
    }
  })
})

describe('prometheus counters across a hot reload', () => {
  it('keep counting when a reload replaces the backend they are read from', async () => {
    const dir = scratchDir('portico-metrics-reload-')
    const file = join(dir, 'portico.toml')
    const text = (timeout: number) =>
      [
        'port = 0',
        `request_timeout = ${timeout}`,
        '[store]',
        'enabled = false',
        '[observability.metrics]',
        'enabled = true',
        'process = false',
        '[[backends]]',
        'name = "f"',
        'transport = "stdio"',
        `command = ${JSON.stringify(process.execPath)}`,
        `args = [${JSON.stringify(fixture('faulty-stdio'))}]`,
        '',
      ].join('\n')
    writeFileSync(file, text(20))
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    const origin = new URL((await portico.listen()).url).origin
    const restarts = async () =>
      (await scrape(`${origin}/metrics`)).value('portico_backend_restarts_total', { backend: 'f' })
    try {
      const client = await connect(`${origin}/mcp`)
      const crash = async () => {
        await client.callTool({ name: 'f__fault', arguments: { mode: 'crash', times: 1 } })
        await assert.rejects(client.callTool({ name: 'f__echo', arguments: {} }))
        await client.callTool({ name: 'f__echo', arguments: { text: 'back' } })
      }
      await crash()
      const before = await until(async () => ((await restarts()) >= 1 ? restarts() : undefined))
      // A changed request_timeout replaces the backend, whose own count starts at 0 again.
      writeFileSync(file, text(25))
      assert.equal(await portico.reloadConfig(), 'applied')
      // No scrape in between: the new backend's count reaches the old one's before the next,
      // which read it as no reset and dropped the old count.
      await crash()
      const after = await until(async () => ((await restarts()) > before ? restarts() : undefined))
      assert.equal(after, before + 1, 'the restarts before the reload are carried over')
      await client.close()
    } finally {
      await portico.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
