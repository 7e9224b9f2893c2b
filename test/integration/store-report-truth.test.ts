/**
 * Reports that never mislead, read by the real `portico` CLI from a real store: rows in time
 * order, a PROXY column when several proxies share the store, an unknown `--proxy` refused,
 * `store stats` counting clients as `clients` lists them, real LAST SEEN times, `--follow`
 * rows aligned with the header, error messages cut at the end, no `0µs` for an exchange that
 * was never timed, `schema --unused` listing only unused tools, and legacy SSE rows (through a
 * real `portico run` and server-everything) carrying their session and client.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { type Db, openStore } from '../../src/store/open.ts'
import { CLI, cliJson, runCli, startCli } from '../helpers/cli.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { startEverything } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const NOW = Date.now()
const PORT_MESSAGE =
  'connect ECONNREFUSED 127.0.0.1:9000 while forwarding to the upstream http://127.0.0.1:9000/mcp (is it running? check the port and the path)'

function event(fields: Partial<ExchangeEvent> & { method: string }): ExchangeEvent {
  return exchangeEvent({ proxy: 'alpha', ...fields })
}

describe('reports that never mislead', () => {
  let dir: string
  let db: string
  let store: Db
  let ingestor: Ingestor

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-truth-'))
    db = join(dir, 'store.db')
    store = openStore(db, { create: true })
    ingestor = new Ingestor(store)
    ingestor.write([
      event({
        ts: NOW - 180_000,
        method: 'initialize',
        sessionId: 'aaaa1111',
        client: { name: 'cursor', version: '1' },
        result: { protocolVersion: '2025-06-18', serverInfo: { name: 's', version: '1' } },
      }),
      event({
        ts: NOW - 179_000,
        method: 'tools/list',
        sessionId: 'aaaa1111',
        result: { tools: [{ name: 'used' }, { name: 'idle', description: 'Nobody calls it' }] },
      }),
      // Written after the next one, but it started first: a long call.
      event({
        ts: NOW - 170_000,
        method: 'tools/call',
        name: 'used',
        targetKind: 'tool',
        sessionId: 'aaaa1111',
      }),
    ])
    ingestor.write([
      event({
        ts: NOW - 175_000,
        method: 'tools/call',
        name: 'used',
        sessionId: 'aaaa1111',
        outcome: 'error',
        errorCode: -32603,
        errorMessage: PORT_MESSAGE,
        reason: 'upstream_unavailable',
      }),
      // A session without client info: `(unknown)` in `clients`, and counted by stats too.
      event({ ts: NOW - 160_000, method: 'ping', sessionId: 'bbbb2222' }),
      // Refused before any timing (a parse error): no latency to show.
      event({
        ts: NOW - 150_000,
        method: 'POST',
        kind: 'http',
        outcome: 'error',
        errorCode: -32700,
        errorMessage: 'Parse error',
        reason: 'parse_error',
        httpStatus: 400,
        durationUs: 0,
      }),
      event({ ts: NOW - 140_000, proxy: 'beta', method: 'ping', sessionId: 'cccc3333' }),
    ])
  })
  after(() => {
    store?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('lists logs in time order, with a PROXY column when several proxies share the store', async () => {
    const rows = await cliJson(['logs', '--db', db, '--proxy', 'alpha', '--method', 'tools/call'])
    assert.deepEqual(
      rows.map((r) => r.ts),
      [NOW - 175_000, NOW - 170_000],
    )
    const text = await runCli(['logs', '--db', db])
    assert.equal(text.code, 0, text.stderr)
    const [header, ...lines] = text.stdout.trimEnd().split('\n')
    assert.match(header ?? '', /^PROXY\s+TIME\s+SESSION/)
    assert.ok(lines.some((line) => line.startsWith('beta ')))
    const alphaOnly = await runCli(['logs', '--db', db, '--proxy', 'alpha'])
    assert.match(alphaOnly.stdout, /^TIME\s+SESSION/)
  })

  it('refuses an unknown --proxy instead of reporting zeros', async () => {
    for (const command of [['status'], ['logs'], ['sessions'], ['clients'], ['slow']]) {
      const result = await runCli([...command, '--db', db, '--proxy', 'nosuch'])
      assert.equal(result.code, 1, `${command[0]}: ${result.stdout}`)
      assert.match(result.stderr, /unknown proxy "nosuch".*"alpha", "beta"/)
      assert.equal(result.stdout, '')
    }
  })

  it('counts clients in store stats as clients lists them', async () => {
    const [stats] = await cliJson(['store', 'stats', '--db', db])
    const clients = await cliJson(['clients', '--db', db])
    assert.equal(stats?.clients, clients.length)
    assert.ok(clients.some((c) => c.client_name === '(unknown)'))
  })

  it('shows when an active session was last seen, not "just now"', async () => {
    const result = await runCli(['sessions', '--db', db, '--proxy', 'alpha'])
    const line = result.stdout.split('\n').find((l) => l.startsWith('aaaa1111'))
    // Last seen about three minutes before the test started (still active: under five).
    assert.match(line ?? '', /cursor 1 ●.*\s\dm ago\s/)
  })

  it('cuts an error message at its end and keeps the reason; no 0µs for an untimed exchange', async () => {
    const result = await runCli(['logs', '--db', db, '--proxy', 'alpha', '--status', 'error'])
    const call = result.stdout.split('\n').find((l) => l.includes('tools/call'))
    assert.match(
      call ?? '',
      /error -32603 upstream_unavailable "connect ECONNREFUSED 127\.0\.0\.1:9000 while forwarding to the upstream\S*( \S+)*…"$/,
    )
    const parse = result.stdout.split('\n').find((l) => l.includes('parse_error'))
    assert.match(parse ?? '', /POST\s+—\s/)
    assert.doesNotMatch(result.stdout, /0µs/)
  })

  it('schema --unused lists only the unused tools; --usage the whole table', async () => {
    const unused = await cliJson(['schema', '--unused', '--db', db])
    assert.deepEqual(
      unused.map((u) => u.tool),
      ['idle'],
    )
    const text = await runCli(['schema', '--unused', '--db', db])
    assert.match(text.stdout, /^idle\s+Nobody calls it$/m)
    assert.doesNotMatch(text.stdout, /^used\b/m)
    const usage = await cliJson(['schema', '--usage', '--db', db])
    assert.deepEqual(usage.map((u) => u.tool).sort(), ['idle', 'used'])
  })

  it('prints --follow rows in the header columns, however wide their cells', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'logs', '--db', db, '--proxy', 'alpha', '--follow'],
      {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    try {
      await until(() => output.includes('ping'), 10_000, 'the first screen')
      ingestor.write([
        event({
          ts: Date.now(),
          method: `notifications/a-very-long-method-name-${'x'.repeat(40)}`,
          sessionId: 'aaaa1111',
          outcome: 'error',
          errorCode: -32601,
          errorMessage: 'Method not found',
        }),
      ])
      const line = await until(
        () => output.split('\n').find((l) => l.includes('-32601')),
        10_000,
        'the followed row',
      )
      const header = output.split('\n')[0] ?? ''
      assert.equal(line.indexOf('error -32601'), header.indexOf('STATUS'), `${header}\n${line}`)
    } finally {
      child.kill()
    }
  })
})

describe('legacy SSE rows carry their session and client', () => {
  it('records the stream and its notifications in the session of its POSTs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-sse-store-'))
    const db = join(dir, 'store.db')
    const everything = await startEverything('sse')
    const portico = await startCli([
      'run',
      '--upstream',
      everything.url,
      '--port',
      '0',
      '--db',
      db,
      '--name',
      'sse',
    ])
    try {
      const client = new Client({ name: 'sse-client', version: '0.1.0' })
      await client.connect(new SSEClientTransport(new URL('/sse', portico.url)))
      await client.listTools()
      await client.close()
      const rows = await until(
        async () => {
          const logs = await cliJson(['logs', '--db', db])
          return logs.some((row) => row.kind === 'stream') ? logs : undefined
        },
        10_000,
        'the stream row',
      )
      const sessions = new Set(rows.map((row) => row.session_id))
      assert.equal(sessions.size, 1, JSON.stringify(rows, null, 1))
      assert.ok(
        rows.every((row) => row.client_name === 'sse-client'),
        rows.map((r) => `${r.method}:${r.client_name}`).join(' '),
      )
    } finally {
      await portico.stop()
      await everything.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
