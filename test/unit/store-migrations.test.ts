/**
 * Store upgrades on real SQLite files: a store written by the first schema (exchanges with
 * text columns) opens under the current one with every row intact and readable through the
 * `exchanges` view, and new rows land next to the old ones. Interned strings shared by two
 * writers, and a rolled-back batch, never leave rows pointing at missing text.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { LATEST_VERSION, MIGRATIONS } from '../../src/store/migrations.ts'
import { openStore } from '../../src/store/open.ts'
import { tailLogs } from '../../src/store/report-logs.ts'
import { statusReport } from '../../src/store/report-status.ts'
import { runCli } from '../helpers/cli.ts'
import { exchangeEvent } from '../helpers/events.ts'

const dir = mkdtempSync(join(tmpdir(), 'portico-migrate-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const NOW = Date.now()

/** A `tools/call echo` on proxy `p`, now. */
function exchange(fields: Partial<ExchangeEvent>): ExchangeEvent {
  return exchangeEvent({
    ts: NOW,
    method: 'tools/call',
    targetKind: 'tool',
    name: 'echo',
    ...fields,
  })
}

/** A store as Portico's first schema wrote it, with two text rows. */
function firstSchemaStore(path: string): void {
  const db = new Database(path)
  const first = MIGRATIONS.find((m) => m.version === 1)
  assert.ok(first)
  db.exec(first.sql)
  db.pragma('user_version = 1')
  const insert = db.prepare(
    `INSERT INTO exchanges (ts, proxy, session_id, client_name, platform, era, transport, kind,
      method, target_kind, name, jsonrpc_id, status, outcome, error_code, error_message, reason,
      http_status, latency_us, bytes_in, bytes_out)
     VALUES (?, 'old', 's1', 'claude-ai', 'Claude', 'legacy', 'streamable-http', 'request',
      'tools/call', 'tool', ?, ?, ?, ?, ?, ?, ?, 200, ?, 5, 6)`,
  )
  insert.run(NOW - 2000, 'slow_tool', '1', 'ok', 'ok', null, null, null, 150_000)
  insert.run(NOW - 1000, 'fails', '2', 'error', 'tool_error', null, 'boom', null, 2_000)
  db.close()
}

describe('store migrations', () => {
  it('upgrades a first-schema store with its rows intact, and keeps writing', () => {
    const path = join(dir, 'v1.db')
    firstSchemaStore(path)
    const upgrades: [number, number][] = []
    const db = openStore(path, { onUpgrade: (from, to) => upgrades.push([from, to]) })
    assert.deepEqual(upgrades, [[1, LATEST_VERSION]])
    assert.equal(Number(db.pragma('user_version', { simple: true })), LATEST_VERSION)
    const old = tailLogs(db, {}, 10)
    assert.deepEqual(
      old.map((r) => [r.proxy, r.client_name, r.platform, r.name, r.status, r.outcome]),
      [
        ['old', 'claude-ai', 'Claude', 'slow_tool', 'ok', 'ok'],
        ['old', 'claude-ai', 'Claude', 'fails', 'error', 'tool_error'],
      ],
    )
    assert.equal(old[1]?.error_message, 'boom')
    assert.equal(old[0]?.latency_us, 150_000)
    assert.equal(old[0]?.jsonrpc_id, '1')

    new Ingestor(db).write([exchange({ proxy: 'old', sessionId: 's1', jsonrpcId: 3 })])
    const all = tailLogs(db, { proxy: 'old', tool: 'echo' }, 10)
    assert.equal(all.length, 1)
    assert.equal(all[0]?.session_id, 's1')
    assert.equal(all[0]?.jsonrpc_id, '3')
    db.close()
  })

  it('says so when the CLI upgrades a store, then reports from it', async () => {
    const path = join(dir, 'v1-cli.db')
    firstSchemaStore(path)
    const result = await runCli(['logs', '--db', path, '--json'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(
      result.stderr,
      new RegExp(`upgrading the store .* from schema 1 to ${LATEST_VERSION}`),
    )
    assert.equal(result.stdout.trim().split('\n').length, 2)
    const again = await runCli(['logs', '--db', path, '--json'])
    assert.equal(again.stderr, '', 'the upgrade runs once')
  })

  it('does not announce an upgrade when creating a store', () => {
    const upgrades: unknown[] = []
    const db = openStore(join(dir, 'fresh.db'), {
      create: true,
      onUpgrade: (...args) => upgrades.push(args),
    })
    db.close()
    assert.deepEqual(upgrades, [])
  })

  it('resolves interned text across two writers sharing one store', () => {
    const path = join(dir, 'shared.db')
    const a = openStore(path, { create: true })
    const b = openStore(path)
    // Each writer interns in its own order, so ids differ from what either would guess.
    new Ingestor(a).write([exchange({ proxy: 'a', name: 'alpha' })])
    new Ingestor(b).write([exchange({ proxy: 'b', name: 'beta' }), exchange({ proxy: 'b' })])
    new Ingestor(a).write([exchange({ proxy: 'a', name: 'beta' })])
    const rows = tailLogs(b, {}, 10).map((r) => `${r.proxy}:${r.name}`)
    assert.deepEqual(rows, ['a:alpha', 'b:beta', 'b:echo', 'a:beta'])
    const status = statusReport(a, { since: NOW - 60_000, now: NOW + 1000, proxy: 'a' })
    assert.deepEqual(status.tools.map((t) => t.name).sort(), ['alpha', 'beta'])
    a.close()
    b.close()
  })

  it('forgets ids interned by a batch that rolled back', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    // NaN breaks the NOT NULL latency column mid-batch, after 'fresh_tool' was interned.
    const broken = exchange({ name: 'fresh_tool', durationUs: Number.NaN })
    assert.throws(() => ingestor.write([exchange({ name: 'fresh_tool' }), broken]))
    assert.equal(
      db.prepare("SELECT count(*) FROM strings WHERE value = 'fresh_tool'").pluck().get(),
      0,
    )
    ingestor.write([exchange({ name: 'fresh_tool' })])
    assert.deepEqual(
      tailLogs(db, {}, 10).map((r) => r.name),
      ['fresh_tool'],
    )
    db.close()
  })
})
