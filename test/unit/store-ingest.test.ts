/**
 * The writer's ingest on a real in-memory SQLite store: modern `server/discover` capture,
 * paginated lists merged into one snapshot, item modifications, session end on DELETE, and
 * stateless legacy clients linked to their `initialize` by User-Agent.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ExchangeEvent, NotificationEvent } from '../../src/observe/event.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { schemaChanges, schemaReport } from '../../src/store/report-schema.ts'
import { listSessions } from '../../src/store/report-sessions.ts'
import { exchangeEvent } from '../helpers/events.ts'

const NOW = Date.now()

function exchange(fields: Partial<ExchangeEvent> & { method: string }): ExchangeEvent {
  return exchangeEvent({ ts: NOW, ...fields })
}

function tool(name: string, description = name) {
  return { name, description, inputSchema: { type: 'object' } }
}

describe('ingest', () => {
  it('captures server/discover and merges paginated lists into one snapshot', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    ingestor.write([
      exchange({
        method: 'server/discover',
        era: 'modern',
        result: {
          supportedVersions: ['2025-11-25', '2026-07-28'],
          capabilities: { tools: {} },
          _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'modern-srv', version: '3.0.0' } },
        },
      }),
      exchange({
        method: 'tools/list',
        result: { tools: [tool('b'), tool('a')], nextCursor: 'p2' },
      }),
      exchange({ method: 'tools/list', params: { cursor: 'p2' }, result: { tools: [tool('c')] } }),
    ])
    const report = schemaReport(db, 'p')
    assert.equal(report.server?.name, 'modern-srv')
    assert.equal(report.server?.protocol_version, '2026-07-28')
    assert.deepEqual(
      report.lists[0]?.items.map((i) => i.key),
      ['a', 'b', 'c'],
    )
    ingestor.write([
      exchange({ method: 'tools/list', result: { tools: [tool('a', 'changed'), tool('c')] } }),
    ])
    const changes = schemaChanges(db, { proxy: 'p', limit: 10 }).map(
      (c) => `${c.change}:${c.item}:${c.detail ?? ''}`,
    )
    assert.ok(changes.includes('tool_modified:a:description'), changes.join(' '))
    assert.ok(changes.includes('tool_removed:b:'), changes.join(' '))
    db.close()
  })

  it('ends a session on DELETE and links stateless legacy requests to their initialize', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    ingestor.write([
      exchange({
        method: 'initialize',
        sessionId: 'abc',
        client: { name: 'cursor', version: '1' },
        result: { protocolVersion: '2025-06-18', serverInfo: { name: 's', version: '1' } },
      }),
      exchange({ method: 'tools/call', sessionId: 'abc', name: 'x', targetKind: 'tool' }),
      exchange({ method: 'DELETE', kind: 'http', sessionId: 'abc' }),
      // A stateless legacy client: clientInfo only on initialize, a User-Agent on every request.
      exchange({
        method: 'initialize',
        client: { name: 'claude-ai', version: '2' },
        userAgent: 'claude-ua',
      }),
      exchange({ method: 'tools/call', name: 'y', targetKind: 'tool', userAgent: 'claude-ua' }),
    ])
    const sessions = listSessions(db, { since: 0, now: NOW, limit: 10 })
    const real = sessions.find((s) => s.session_id === 'abc')
    assert.equal(real?.ended_at, NOW)
    assert.equal(real?.calls, 2)
    assert.equal(real?.client_name, 'cursor')
    const grouped = sessions.filter((s) => s.grouped)
    assert.equal(grouped.length, 1)
    assert.equal(grouped[0]?.client_name, 'claude-ai')
    assert.equal(grouped[0]?.calls, 2)
    const names = db
      .prepare('SELECT client_name FROM exchanges WHERE session_id = ?')
      .pluck()
      .all(grouped[0]?.session_id)
    assert.deepEqual(names, ['claude-ai', 'claude-ai'])
    db.close()
  })
})

describe('schema change history', () => {
  it('records no change when clients negotiate other revisions of an unchanged server; a real one still is', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    const initialize = (protocolVersion: string, version = '1.0.0') =>
      exchange({
        method: 'initialize',
        result: {
          protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'srv', version },
        },
      })
    const revisions = ['2025-06-18', '2025-03-26', '2025-11-25']
    ingestor.write(Array.from({ length: 30 }, (_, i) => initialize(revisions[i % 3] as string)))
    const changes = () =>
      schemaChanges(db, { proxy: 'p', limit: 100 }).map((c) => `${c.change}:${c.item ?? ''}`)
    // Before: one "updated" row per flip (29 here), which pushed real changes out of the
    // bounded history.
    assert.deepEqual(changes(), ['initial:srv 1.0.0'])
    assert.equal(schemaReport(db, 'p').server?.protocol_version, '2025-11-25', 'the newest seen')
    ingestor.write([initialize('2025-03-26', '1.1.0')])
    assert.equal(changes().length, 2)
    assert.match(changes()[0] ?? '', /^updated:srv 1\.1\.0$/)
    db.close()
  })

  it('is bounded per proxy: a server announcing list_changed in a loop keeps the newest 10,000', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    const event = (i: number): NotificationEvent => ({
      type: 'notification',
      ts: 1_000 + i,
      proxy: 'chatty',
      method: 'notifications/tools/list_changed',
    })
    for (let batch = 0; batch < 11; batch++) {
      ingestor.write(Array.from({ length: 1000 }, (_, i) => event(batch * 1000 + i)))
    }
    const count = db.prepare('SELECT count(*) FROM schema_changes').pluck().get() as number
    assert.ok(count <= 10_000 + 100 && count >= 10_000, `${count} rows`)
    const newest = db.prepare('SELECT max(detected_at) FROM schema_changes').pluck().get()
    assert.equal(newest, 1_000 + 10_999, 'the newest are kept')
    db.close()
  })
})
