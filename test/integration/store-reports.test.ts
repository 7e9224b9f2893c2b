/**
 * Real traffic through a running Portico (SDK client → Portico → fixture server with known
 * delays, errors and sizes) recorded to a real SQLite store, then every report checked:
 * counts, error rates, percentiles, filters, sessions, clients, schema. The reports are the
 * functions the CLI commands call, run here in-process on the same store with the same
 * arguments; a few real `portico` runs prove the CLI wiring (`--json`, the table, errors).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { exchangeJson } from '../../src/cli/exchange-cells.ts'
import { type Db, openStore } from '../../src/store/open.ts'
import { type LogFilter, slowCalls, tailLogs } from '../../src/store/report-logs.ts'
import {
  schemaChanges,
  schemaProxies,
  schemaReport,
  toolUsage,
} from '../../src/store/report-schema.ts'
import {
  findSessions,
  listClients,
  listSessions,
  sessionFlow,
} from '../../src/store/report-sessions.ts'
import { statusReport } from '../../src/store/report-status.ts'
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

const HOUR = 3_600_000
/** Timers may fire a little early: a sleep of N ms can measure just under N. */
const TIMER_SLACK_MS = 5

/** The JSON of the rows a report returns, as `--json` prints them. */
function json<T>(value: T): Row[] {
  return JSON.parse(JSON.stringify(Array.isArray(value) ? value : [value]))
}

describe('store reports over real traffic', () => {
  let dir: string
  let db: string
  let upstream: StoreUpstream
  let portico: RunningPortico
  let sink: StoreSink
  let client: Client
  let sessionId: string
  let listChanged = false
  /** The store as the report commands open it (read side). */
  let store: Db

  /** `portico logs` (default window 1 h, or all time for a session; tail 50). */
  const logs = (filter: Omit<LogFilter, 'since'>, tail = 50) =>
    json(
      tailLogs(
        store,
        filter.sessionPrefix === undefined ? { since: Date.now() - HOUR, ...filter } : filter,
        tail,
      ).map(exchangeJson),
    )
  /** `portico status` over the last hour. */
  const status = (proxy?: string) => {
    const now = Date.now()
    return json(statusReport(store, { since: now - HOUR, now, ...(proxy ? { proxy } : {}) }))
  }

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
    store = openStore(db)
  })

  after(async () => {
    store?.close()
    await client?.close()
    await portico?.close()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('status counts every call, with error rates, sizes and percentiles from the known delays', () => {
    const [report] = status()
    assert.ok(report)
    const tools = report.tools as Row[]
    const byName = new Map(tools.map((t) => [t.name, t]))
    assert.equal(byName.get('fast')?.calls, 20)
    assert.equal(byName.get('slow')?.calls, 10)
    assert.equal(byName.get('fails')?.calls, 5)
    assert.equal(byName.get('fails')?.error_pct, 100)
    assert.equal(byName.get('fast')?.error_pct, 0)
    const slow = byName.get('slow') as Row
    const fast = byName.get('fast') as Row
    // Latencies include the fixture's sleep, so they are never below it (timers' slack aside).
    for (const key of ['p50_us', 'p95_us', 'p99_us', 'max_us']) {
      assert.ok((slow[key] as number) >= (SLOW_MS - TIMER_SLACK_MS) * 1000, `slow ${key}`)
      assert.ok((fast[key] as number) >= (FAST_MS - TIMER_SLACK_MS) * 1000, `fast ${key}`)
    }
    assert.ok((slow.p50_us as number) <= (slow.p95_us as number))
    assert.ok((slow.p95_us as number) <= (slow.max_us as number))
    assert.ok((slow.p50_us as number) > (fast.p50_us as number))
    assert.ok((byName.get('big')?.bytes_out as number) >= 3 * BIG_BYTES)
    const methods = new Map((report.methods as Row[]).map((m) => [m.name, m]))
    assert.equal(methods.get('tools/list')?.calls, 2)
    assert.equal(methods.get('initialize')?.calls, 1)
    assert.equal(methods.get('prompts/list')?.error_pct, 100)
    assert.equal(report.total_requests, 20 + 10 + 5 + 3 + 1 + 2 + 1 + 1)
    assert.equal(report.errors, 6)
    assert.equal((report.sessions as Row).total, 1)
    assert.equal((report.sessions as Row).active, 1)
  })

  it('status filters by proxy name, and names an unknown proxy', async () => {
    assert.equal(status('fixture')[0]?.total_requests, status()[0]?.total_requests)
    const other = await runCli(['status', '--db', db, '--proxy', 'someone-else'])
    assert.equal(other.code, 1)
    assert.match(other.stderr, /unknown proxy "someone-else".* it has "fixture"/)
  })

  it('logs filters by tool, status, method, session and client, and tails', () => {
    const fails = logs({ tool: 'fails' })
    assert.equal(fails.length, 5)
    assert.ok(fails.every((r) => r.status === 'error' && r.outcome === 'tool_error'))
    const errors = logs({ status: 'error' }, 100)
    assert.equal(errors.length, 6)
    const rpcError = errors.find((r) => r.method === 'prompts/list')
    assert.equal(rpcError?.outcome, 'error')
    assert.equal(rpcError?.error_code, -32601)
    assert.equal(logs({ method: 'tools/list' }).length, 2)
    const bySession = logs({ sessionPrefix: sessionId.slice(0, 6) }, 500)
    assert.ok(bySession.length >= 42)
    assert.ok(bySession.every((r) => r.session_id === sessionId))
    assert.equal(logs({ sessionPrefix: 'zzz' }).length, 0)
    const byClient = logs({ client: 'claude' }, 3)
    assert.equal(byClient.length, 3)
    assert.ok(byClient.every((r) => r.client_name === 'claude-code'))
    const ids = byClient.map((r) => r.id as number)
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'oldest first',
    )
    assert.equal(logs({ client: 'cursor' }).length, 0)
  })

  it('slow lists calls above the threshold, slowest first', () => {
    const since = Date.now() - HOUR
    // Every slow call is above this, early timers included. (Fast calls may be too, on a
    // loaded machine: what is above the threshold besides them is not asserted.)
    const thresholdUs = (SLOW_MS - TIMER_SLACK_MS) * 1000
    const report = slowCalls(store, { since, thresholdUs, limit: 100 })
    assert.equal(report.rows.filter((r) => r.name === 'slow').length, 10)
    assert.equal(report.count, report.rows.length)
    assert.ok(report.rows.every((r) => r.latency_us >= thresholdUs))
    const latencies = report.rows.map((r) => r.latency_us)
    assert.deepEqual(
      latencies,
      [...latencies].sort((a, b) => b - a),
    )
    const onlyFast = slowCalls(store, { since, thresholdUs: 0, limit: 100, tool: 'fast' })
    assert.equal(onlyFast.rows.length, 20)
    assert.ok(onlyFast.rows.every((r) => r.name === 'fast'))
  })

  it('sessions, session and clients show the SDK client and its call flow in order', () => {
    const now = Date.now()
    const sessions = json(listSessions(store, { since: now - 24 * HOUR, now, limit: 50 }))
    assert.equal(sessions.length, 1)
    const [session] = sessions
    assert.equal(session?.session_id, sessionId)
    assert.equal(session?.client_name, 'claude-code')
    assert.equal(session?.client_version, '1.2.3')
    assert.equal(session?.platform, 'claude')
    assert.equal(session?.errors, 6)
    const [found, ...others] = findSessions(store, sessionId.slice(0, 8), now)
    assert.ok(found)
    assert.deepEqual(others, [])
    const flow = json(sessionFlow(store, found)).filter((r) => r.kind === 'request')
    assert.equal(flow[0]?.method, 'initialize')
    assert.equal(flow[1]?.method, 'tools/list')
    assert.equal(flow[2]?.name, 'fast')
    assert.equal(flow.at(-1)?.method, 'tools/list')
    const times = flow.map((r) => r.ts as number)
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    )
    const clients = json(listClients(store, now - 7 * 24 * HOUR))
    assert.equal(clients.length, 1)
    assert.equal(clients[0]?.platform, 'claude')
    assert.equal(clients[0]?.sessions, 1)
  })

  it('schema shows the server and tools, the change history and unused tools', async () => {
    assert.deepEqual(schemaProxies(store), ['fixture'])
    const schema = json(schemaReport(store, 'fixture'))[0]
    assert.equal((schema?.server as Row | undefined)?.name, 'store-fixture')
    assert.equal((schema?.server as Row | undefined)?.version, '2.1.0')
    assert.equal(schema?.status, 'complete')
    const tools = ((schema?.lists ?? []) as Row[]).find((l) => l.method === 'tools/list')
    const names = ((tools?.items ?? []) as Row[]).map((i) => i.key)
    assert.ok(names.includes('added_later'))
    const changes = schemaChanges(store, { limit: 50 })
    const kinds = changes.map((c) => `${c.change}:${c.item ?? ''}`)
    assert.ok(kinds.includes('tool_added:added_later'), kinds.join(' '))
    assert.ok(changes.some((c) => c.change === 'list_changed' && c.method === 'tools/list'))
    assert.ok(changes.some((c) => c.change === 'initial' && c.method === 'tools/list'))
    const usage = toolUsage(store, 'fixture', Date.now() - 7 * 24 * HOUR)
    const idle = usage.filter((u) => u.status === 'unused').map((u) => u.tool)
    assert.deepEqual(idle.sort(), ['added_later', 'never_called'])
    assert.equal(usage.find((u) => u.tool === 'fails')?.status, 'errors')
    // The CLI lists only the unused ones.
    const unused = await cliJson<Row>(['schema', '--unused', '--db', db])
    assert.deepEqual(unused.map((u) => u.tool).sort(), ['added_later', 'never_called'])
  })

  it('portico status --json prints the report the functions compute', async () => {
    const [printed] = await cliJson<Row>(['status', '--db', db])
    const [computed] = status()
    // Everything but the window start (each computed at its own "now").
    assert.deepEqual({ ...printed, since: 0 }, { ...computed, since: 0 })
  })

  it('human output is an aligned table with the documented headers', async () => {
    const result = await runCli(['status', '--db', db])
    assert.equal(result.code, 0)
    assert.match(result.stdout, /^STATUS — all proxies — last 1h/)
    assert.match(
      result.stdout,
      /TOOL\s+CALLS\s+AVG\s+P50\s+P95\s+P99\s+MAX\s+ERRORS\s+BYTES IN\s+BYTES OUT/,
    )
    assert.match(result.stdout, /\nfast\s+20\s/)
    assert.ok(!result.stdout.includes('\u001b['), 'no colour when stdout is not a TTY')
  })

  it('errors are one clear line with a non-zero exit', async () => {
    const [missing, badSince, ambiguous] = await Promise.all([
      runCli(['status', '--db', join(dir, 'nope.db')]),
      runCli(['logs', '--db', db, '--since', 'yesterday']),
      runCli(['session', 'zzz', '--db', db]),
    ])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /^portico: no store at .*nope\.db/)
    assert.equal(badSince.code, 2)
    assert.match(badSince.stderr, /--since: expected a duration/)
    assert.equal(ambiguous.code, 1)
    assert.match(ambiguous.stderr, /no session starts with "zzz"/)
    for (const r of [missing, badSince, ambiguous]) assert.doesNotMatch(r.stderr, /\n\s+at /)
  })
})
