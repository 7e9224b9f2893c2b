/**
 * Real traffic through a running Portico (SDK client → Portico → fixture server with known
 * delays, errors and sizes) recorded to a real SQLite store, then every report's `--json`
 * output checked: counts, error rates, percentiles, filters, sessions, clients, schema.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { openStore } from '../../src/store/open.ts'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import {
  BIG_BYTES,
  FAST_MS,
  SLOW_MS,
  type StoreUpstream,
  startStoreUpstream,
} from '../fixtures/store-upstream.ts'
import { cliJson, runCli } from '../helpers/cli.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

type Row = Record<string, unknown>

describe('store reports over real traffic', () => {
  let dir: string
  let db: string
  let upstream: StoreUpstream
  let portico: RunningPortico
  let sink: StoreSink
  let client: Client
  let sessionId: string
  let listChanged = false

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-store-'))
    db = join(dir, 'store.db')
    upstream = await startStoreUpstream()
    sink = storeSink({ path: db, proxy: 'fixture', flushMs: 30 })
    portico = await startPortico({ upstream: upstream.url, name: 'fixture' }, { sinks: [sink] })
    client = new Client({ name: 'claude-code', version: '1.2.3' })
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged = true
    })
    const transport = new StreamableHTTPClientTransport(new URL(portico.url))
    await client.connect(transport)
    sessionId = transport.sessionId ?? ''
    await client.listTools()
    for (let i = 0; i < 20; i++) await client.callTool({ name: 'fast' })
    for (let i = 0; i < 10; i++) await client.callTool({ name: 'slow' })
    for (let i = 0; i < 5; i++) await client.callTool({ name: 'fails' })
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'big' })
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } })
    // The fixture has no prompts: a JSON-RPC error (-32601) to record.
    await assert.rejects(client.listPrompts())
    upstream.addTool('added_later')
    await until(() => listChanged, 5000, 'tools/list_changed through Portico')
    await client.listTools()
    const reader = openStore(db)
    await until(
      () =>
        (reader
          .prepare("SELECT count(*) FROM exchanges WHERE method = 'tools/list'")
          .pluck()
          .get() as number) >= 2,
      5000,
      'rows written',
    )
    await until(
      () =>
        (reader
          .prepare("SELECT count(*) FROM schema_changes WHERE change = 'tool_added'")
          .pluck()
          .get() as number) >= 1,
      5000,
      'schema change written',
    )
    reader.close()
  })

  after(async () => {
    await client?.close()
    await portico?.close()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('status counts every call, with error rates, sizes and percentiles from the known delays', async () => {
    const [status] = await cliJson<Row>(['status', '--db', db])
    assert.ok(status)
    const tools = status.tools as Row[]
    const byName = new Map(tools.map((t) => [t.name, t]))
    assert.equal(byName.get('fast')?.calls, 20)
    assert.equal(byName.get('slow')?.calls, 10)
    assert.equal(byName.get('fails')?.calls, 5)
    assert.equal(byName.get('fails')?.error_pct, 100)
    assert.equal(byName.get('fast')?.error_pct, 0)
    const slow = byName.get('slow') as Row
    const fast = byName.get('fast') as Row
    // Latencies include the fixture's sleep, so they can never be below it.
    for (const key of ['p50_us', 'p95_us', 'p99_us', 'max_us']) {
      assert.ok((slow[key] as number) >= SLOW_MS * 1000, `slow ${key} ${slow[key]}`)
      assert.ok((fast[key] as number) >= FAST_MS * 1000 * 0.99, `fast ${key} ${fast[key]}`)
    }
    assert.ok((slow.p50_us as number) <= (slow.p95_us as number))
    assert.ok((slow.p95_us as number) <= (slow.max_us as number))
    assert.ok((slow.p50_us as number) > (fast.p50_us as number))
    assert.ok((byName.get('big')?.bytes_out as number) >= 3 * BIG_BYTES)
    const methods = new Map((status.methods as Row[]).map((m) => [m.name, m]))
    assert.equal(methods.get('tools/list')?.calls, 2)
    assert.equal(methods.get('initialize')?.calls, 1)
    assert.equal(methods.get('prompts/list')?.error_pct, 100)
    assert.equal(status.total_requests, 20 + 10 + 5 + 3 + 1 + 2 + 1 + 1)
    assert.equal(status.errors, 6)
    assert.equal((status.sessions as Row).total, 1)
    assert.equal((status.sessions as Row).active, 1)
  })

  it('status --proxy filters by proxy name', async () => {
    const other = await runCli(['status', '--db', db, '--proxy', 'someone-else'])
    assert.equal(other.code, 1)
    assert.match(other.stderr, /unknown proxy "someone-else".* it has "fixture"/)
    const [mine] = await cliJson<Row>(['status', '--db', db, '--proxy', 'fixture'])
    assert.ok((mine?.total_requests as number) > 40)
  })

  it('logs filters by tool, status, method, session and client, and tails', async () => {
    const fails = await cliJson<Row>(['logs', '--db', db, '--tool', 'fails'])
    assert.equal(fails.length, 5)
    assert.ok(fails.every((r) => r.status === 'error' && r.outcome === 'tool_error'))
    const errors = await cliJson<Row>(['logs', '--db', db, '--status', 'error', '--tail', '100'])
    assert.equal(errors.length, 6)
    const rpcError = errors.find((r) => r.method === 'prompts/list')
    assert.equal(rpcError?.outcome, 'error')
    assert.equal(rpcError?.error_code, -32601)
    const lists = await cliJson<Row>(['logs', '--db', db, '--method', 'tools/list'])
    assert.equal(lists.length, 2)
    const bySession = await cliJson<Row>([
      'logs',
      '--db',
      db,
      '--session',
      sessionId.slice(0, 6),
      '--tail',
      '500',
    ])
    assert.ok(bySession.length >= 42)
    assert.ok(bySession.every((r) => r.session_id === sessionId))
    const byClient = await cliJson<Row>(['logs', '--db', db, '--client', 'claude', '--tail', '3'])
    assert.equal(byClient.length, 3)
    assert.ok(byClient.every((r) => r.client_name === 'claude-code'))
    const ids = byClient.map((r) => r.id as number)
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'oldest first',
    )
  })

  it('slow lists calls above the threshold, slowest first', async () => {
    const rows = await cliJson<Row>(['slow', '--db', db, '--threshold', `${SLOW_MS}ms`])
    assert.ok(rows.length >= 10)
    assert.ok(rows.filter((r) => r.name === 'slow').length === 10)
    const latencies = rows.map((r) => r.latency_us as number)
    assert.deepEqual(
      latencies,
      [...latencies].sort((a, b) => b - a),
    )
    const onlyFast = await cliJson<Row>([
      'slow',
      '--db',
      db,
      '--threshold',
      '0ms',
      '--tool',
      'fast',
    ])
    assert.equal(onlyFast.length, 20)
  })

  it('sessions, session and clients show the SDK client and its call flow in order', async () => {
    const sessions = await cliJson<Row>(['sessions', '--db', db])
    assert.equal(sessions.length, 1)
    const [session] = sessions
    assert.equal(session?.session_id, sessionId)
    assert.equal(session?.client_name, 'claude-code')
    assert.equal(session?.client_version, '1.2.3')
    assert.equal(session?.platform, 'claude')
    assert.equal(session?.errors, 6)
    const [detail] = await cliJson<Row>(['session', sessionId.slice(0, 8), '--db', db])
    const flow = ((detail?.exchanges ?? []) as Row[]).filter((r) => r.kind === 'request')
    assert.equal(flow[0]?.method, 'initialize')
    assert.equal(flow[1]?.method, 'tools/list')
    assert.equal(flow[2]?.name, 'fast')
    assert.equal(flow.at(-1)?.method, 'tools/list')
    const times = flow.map((r) => r.ts as number)
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    )
    const clients = await cliJson<Row>(['clients', '--db', db])
    assert.equal(clients.length, 1)
    assert.equal(clients[0]?.platform, 'claude')
    assert.equal(clients[0]?.sessions, 1)
  })

  it('schema shows the server and tools, the change history and unused tools', async () => {
    const [schema] = await cliJson<Row>(['schema', '--db', db])
    assert.equal((schema?.server as Row | undefined)?.name, 'store-fixture')
    assert.equal((schema?.server as Row | undefined)?.version, '2.1.0')
    assert.equal(schema?.status, 'complete')
    const tools = ((schema?.lists ?? []) as Row[]).find((l) => l.method === 'tools/list')
    const names = ((tools?.items ?? []) as Row[]).map((i) => i.key)
    assert.ok(names.includes('added_later'))
    const changes = await cliJson<Row>(['schema', '--changes', '--db', db])
    const kinds = changes.map((c) => `${c.change}:${c.item ?? ''}`)
    assert.ok(kinds.includes('tool_added:added_later'), kinds.join(' '))
    assert.ok(changes.some((c) => c.change === 'list_changed' && c.method === 'tools/list'))
    assert.ok(changes.some((c) => c.change === 'initial' && c.method === 'tools/list'))
    const unused = await cliJson<Row>(['schema', '--unused', '--db', db])
    assert.deepEqual(unused.map((u) => u.tool).sort(), ['added_later', 'never_called'])
    const usage = await cliJson<Row>(['schema', '--usage', '--db', db])
    assert.equal(usage.find((u) => u.tool === 'fails')?.status, 'errors')
  })

  it('human output is an aligned table with the documented headers', async () => {
    const result = await runCli(['status', '--db', db])
    assert.equal(result.code, 0)
    assert.match(result.stdout, /^STATUS — all proxies — last 1h/)
    assert.match(
      result.stdout,
      /TOOL\s+CALLS\s+AVG\s+P50\s+P95\s+P99\s+MAX\s+ERRORS\s+BYTES IN\s+BYTES OUT/,
    )
    assert.ok(!result.stdout.includes('\u001b['), 'no colour when stdout is not a TTY')
  })

  it('errors are one clear line with a non-zero exit', async () => {
    const missing = await runCli(['status', '--db', join(dir, 'nope.db')])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /^portico: no store at .*nope\.db/)
    const badSince = await runCli(['logs', '--db', db, '--since', 'yesterday'])
    assert.equal(badSince.code, 2)
    assert.match(badSince.stderr, /--since: expected a duration/)
    const unknown = await runCli(['status', '--db', db, '--colour'])
    assert.notEqual(unknown.code, 0)
    assert.match(unknown.stderr, /unknown option '--colour'/)
    const ambiguous = await runCli(['session', 'zzz', '--db', db])
    assert.equal(ambiguous.code, 1)
    assert.match(ambiguous.stderr, /no session starts with "zzz"/)
    for (const r of [missing, badSince, unknown]) assert.doesNotMatch(r.stderr, /\n\s+at /)
  })
})
