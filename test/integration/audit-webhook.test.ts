/**
 * The audit log and the cloud/webhook sink end to end. Audit: one structured line per call
 * (who, what, backend, outcome, duration), JSON or text, no secrets. Webhook: mcpr's `[cloud]`
 * keys against a real HTTP receiver that fails and recovers: calls never wait for it, failed
 * batches are retried with backoff and delivered once it recovers; and a sink whose receiver
 * stays down keeps a bounded buffer and counts what it drops.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { PorticoEvent } from '../../src/observe/event.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type Envelope, webhookSink } from '../../src/observe/webhook-sink.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { Receiver } from '../helpers/receiver.ts'
import { until } from '../helpers/wait.ts'

const SECRET = 'sk-live-do-not-log-0123456789'
const probe = {
  name: 'p',
  transport: 'stdio' as const,
  command: process.execPath,
  args: [fixture('probe-stdio')],
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'audit-client', version: '2.1.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  return client
}

function logCapture(json: boolean): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const logger = new Logger({
    level: 'info',
    json,
    write: (text) => lines.push(...text.split('\n').filter((l) => l !== '')),
  })
  return { logger, lines }
}

describe('audit log', () => {
  it('writes one JSON line per call: who, what, backend, outcome, duration; never secrets', async () => {
    const { logger, lines } = logCapture(true)
    const gateway = await startPortico(
      { backends: [probe], observability: { audit: true } },
      { logger },
    )
    try {
      const client = await connect(gateway.url, { authorization: `Bearer ${SECRET}` })
      await client.callTool({ name: 'p__cwd', arguments: { secret: SECRET } })
      await assert.rejects(client.callTool({ name: 'zz__missing', arguments: {} }))
      await client.close()
      const audit = () =>
        lines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((r) => r.target === 'audit')
      await until(
        () => audit().filter((r) => r.method === 'tools/call').length === 2,
        5000,
        'two audited tool calls',
      )
      const [ok, refused] = audit().filter((r) => r.method === 'tools/call')
      assert.equal(ok?.tool, 'p__cwd')
      assert.equal(ok?.backend, 'p')
      assert.equal(ok?.outcome, 'ok')
      assert.equal(ok?.status, 200)
      assert.equal(ok?.client, 'audit-client')
      assert.equal(ok?.client_version, '2.1.0')
      assert.equal(ok?.client_address, '127.0.0.1')
      assert.equal(typeof ok?.duration_ms, 'number')
      assert.match(String(ok?.session), /^[0-9a-f-]{8}$/)
      assert.equal(typeof ok?.request_id, 'string')
      assert.equal(refused?.tool, 'zz__missing')
      assert.equal(refused?.outcome, 'error')
      assert.equal(refused?.reason, 'invalid_params')
      assert.equal(refused?.error_code, -32602)
      assert.equal(audit().filter((r) => r.method === 'initialize').length, 1)
      // Notifications (initialized) and the GET stream are not calls.
      assert.ok(
        !audit().some((r) => r.method === 'notifications/initialized' || r.method === 'GET'),
      )
      assert.ok(!lines.some((l) => l.includes(SECRET)), 'a secret reached the log')
    } finally {
      await gateway.close()
    }
  })

  it('names the verified user with [auth], and audits a refused key without it', async () => {
    const { logger, lines } = logCapture(true)
    const gateway = await startPortico(
      {
        backends: [probe],
        observability: { audit: true },
        auth: { api_keys: [{ name: 'alice', key: 'alice-key-0123456789' }] },
      },
      { logger },
    )
    try {
      const client = await connect(gateway.url, { authorization: 'Bearer alice-key-0123456789' })
      await client.callTool({ name: 'p__cwd', arguments: {} })
      await client.close()
      const refused = await fetch(gateway.url, {
        method: 'POST',
        headers: { authorization: 'Bearer wrong-key', 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      })
      assert.equal(refused.status, 401)
      const audit = () =>
        lines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((r) => r.target === 'audit')
      await until(
        () => audit().some((r) => r.reason === 'unauthorized'),
        5000,
        'the audited refusal',
      )
      const call = audit().find((r) => r.method === 'tools/call')
      assert.equal(call?.user, 'alice')
      assert.equal(call?.tool, 'p__cwd')
      const denied = audit().find((r) => r.reason === 'unauthorized')
      assert.equal(denied?.user, undefined)
      assert.equal(denied?.status, 401)
      assert.ok(!lines.some((l) => l.includes('alice-key') || l.includes('wrong-key')))
    } finally {
      await gateway.close()
    }
  })

  it('writes text lines without json_logs, and audits refusals at the edge', async () => {
    const { logger, lines } = logCapture(false)
    const gateway = await startPortico(
      { backends: [probe], observability: { audit: true } },
      { logger },
    )
    try {
      const client = await connect(gateway.url)
      await client.callTool({ name: 'p__cwd', arguments: {} })
      await client.close()
      const refused = await fetch(gateway.url, {
        method: 'POST',
        headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
        body: '{}',
      })
      assert.equal(refused.status, 403)
      await until(
        () => lines.some((l) => / audit method=POST .*reason=forbidden_origin/.test(l)),
        5000,
        'the audited refusal',
      )
      const call = lines.find((l) => / audit method=tools\/call /.test(l))
      assert.match(
        call ?? '',
        /tool=p__cwd backend=p outcome=ok status=200 duration_ms=[\d.]+ request_id=\d+ client_address=127\.0\.0\.1 client=audit-client client_version=2\.1\.0 session=[0-9a-f-]{8}/,
      )
    } finally {
      await gateway.close()
    }
  })
})

describe('cloud sink ([cloud])', () => {
  let receiver: Receiver
  let gateway: RunningPortico

  before(async () => {
    receiver = await new Receiver().start()
    receiver.status = 503
    gateway = await startPortico({
      backends: [probe],
      cloud: {
        token: 'mcpr_test_token_123',
        server: 'my-server',
        endpoint: `${receiver.url}/api/ingest-events`,
        batch_size: 2,
        flush_interval_ms: 100,
      },
    })
  })

  after(async () => {
    await gateway?.close()
    await receiver?.close()
  })

  it('never makes calls wait, retries with backoff, delivers once the receiver recovers', async () => {
    const client = await connect(gateway.url)
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'p__cwd', arguments: {} })
    await client.close()
    // Every call was answered while the receiver refused everything.
    assert.ok(receiver.posts.every((p) => p.status === 503))
    await receiver.waitFor('a refused POST', () => receiver.posts.length > 0)
    receiver.status = 200
    const delivered = () =>
      (receiver.accepted() as Envelope[][]).flat().filter((e) => e.payload.method === 'tools/call')
    await receiver.waitFor('the three tools/call envelopes', () => delivered().length === 3, 20_000)
    const first = receiver.posts[0]
    assert.equal(first?.headers.authorization, 'Bearer mcpr_test_token_123')
    assert.equal(first?.headers['content-type'], 'application/json')
    assert.equal(first?.path, '/api/ingest-events')
    const envelope = delivered()[0] as Envelope
    assert.equal(envelope.v, 1)
    assert.equal(envelope.server, 'my-server')
    assert.equal(envelope.kind, 'request')
    assert.match(envelope.ts, /^\d{4}-\d\d-\d\dT/)
    assert.equal(envelope.payload.name, 'p__cwd')
    assert.equal(envelope.payload.backend, 'p')
    assert.equal(envelope.payload.outcome, 'ok')
    // Named in the session's initialize only, and on each of its calls here.
    assert.equal(envelope.payload.client_name, 'audit-client')
    assert.equal(envelope.payload.client_version, '2.1.0')
    assert.equal(typeof envelope.payload.latency_us, 'number')
    // The same batch came again after a refusal: a retry, not a duplicate of another batch.
    const retried = receiver.posts.filter((p) => p.status === 503).length
    assert.ok(retried >= 1)
  })
})

describe('webhook sink endpoint credentials', () => {
  it('sends user:password@ of the URL as Basic authentication, and never the URL', async () => {
    const receiver = await new Receiver().start()
    const sink = webhookSink({
      url: `${receiver.url.replace('http://', 'http://ops:p%40ss@')}/hook`,
      batchSize: 1,
      flushIntervalMs: 20,
    })
    try {
      sink.write([exchangeEvent({ method: 'tools/call' })])
      await until(() => receiver.posts.length === 1, 10_000, 'the batch')
      // Dropped before: the pool is opened on the URL's origin, which has no credentials.
      const expected = `Basic ${Buffer.from('ops:p@ss').toString('base64')}`
      assert.equal(receiver.posts[0]?.headers.authorization, expected)
      assert.equal(receiver.posts[0]?.path, '/hook')
      // Not valid percent-encoding (the config refuses it): built all the same, never thrown.
      await webhookSink({ url: 'http://ops:s3cr%ZZt@127.0.0.1:9/hook' }).close()
    } finally {
      await sink.close()
      await receiver.close()
    }
  })
})

describe('webhook sink bounds', () => {
  it('keeps a bounded buffer while the receiver is down, counts drops, recovers', async () => {
    const receiver = await new Receiver().start()
    receiver.status = 500
    const errors: string[] = []
    const sink = webhookSink({
      url: `${receiver.url}/hook`,
      batchSize: 5,
      flushIntervalMs: 20,
      maxBuffer: 5,
      maxAttempts: 2,
      backoffMs: 20,
      onError: (message) => errors.push(message),
    })
    try {
      const event = (i: number): PorticoEvent => ({
        type: 'exchange',
        ts: Date.now(),
        proxy: 'p',
        transport: 'streamable-http',
        era: 'legacy',
        kind: 'request',
        method: 'tools/call',
        name: `t${i}`,
        outcome: 'ok',
        httpStatus: 200,
        durationUs: 1,
        bytesIn: 1,
        bytesOut: 1,
      })
      const started = performance.now()
      sink.write(Array.from({ length: 20 }, (_, i) => event(i)))
      // write() returned at once and kept only what fits.
      assert.ok(performance.now() - started < 1000)
      assert.equal(sink.pipeStats().dropped, 15)
      assert.ok(sink.pipeStats().pending <= 5)
      await until(
        () => sink.pipeStats().dropped === 20,
        10_000,
        'the batch given up after 2 attempts',
      )
      assert.equal(receiver.posts.length, 2)
      assert.equal(sink.pipeStats().failed, 2)
      assert.equal(sink.pipeStats().sent, 0)
      assert.match(errors[0] ?? '', /webhook: endpoint answered HTTP 500/)
      receiver.status = 200
      sink.write([event(100), event(101), event(102)])
      await until(
        () => sink.pipeStats().sent === 3,
        10_000,
        'three events delivered after recovery',
      )
      assert.deepEqual(
        (receiver.accepted()[0] as Envelope[]).map((e) => e.payload.name),
        ['t100', 't101', 't102'],
      )
    } finally {
      await sink.close()
      await receiver.close()
    }
  })
})
