/**
 * The store's bounds on a real SQLite store: payloads measured without recursion, text cut to
 * a prefix and a hash, unused strings pruned with their rows (and a writer that cached their
 * ids still writing correct rows afterwards), sessions and clients capped per proxy, and legacy
 * SSE stream rows and notifications linked to their session.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { NotificationEvent } from '../../src/observe/event.ts'
import {
  boundEvent,
  boundText,
  MAX_TEXT,
  measurePayload,
  TRUNCATED,
} from '../../src/store/bound.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { tailLogs } from '../../src/store/report-logs.ts'
import { countClients, listClients } from '../../src/store/report-sessions.ts'
import { prune } from '../../src/store/retention.ts'
import { exchangeEvent } from '../helpers/events.ts'

const DAY = 86_400_000

describe('bounds on recorded values', () => {
  it('measures a payload nested 100,000 levels deep without recursion', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)
    const verdict = measurePayload(deep)
    assert.equal(verdict.ok, false)
    assert.match(verdict.ok ? '' : verdict.reason, /deeper than 64 levels/)
    assert.deepEqual(measurePayload({ a: [1, 'two', { b: null }] }).ok, true)
  })

  it('replaces an out-of-bounds payload with a marker and leaves small events untouched', () => {
    const small = exchangeEvent({ method: 'tools/list', result: { tools: [] } })
    assert.equal(boundEvent(small).event, small)
    const deep = JSON.parse(`${'{"a":'.repeat(200)}1${'}'.repeat(200)}`)
    const big = exchangeEvent({ method: 'tools/list', result: deep, name: 'x'.repeat(5000) })
    const bounded = boundEvent(big).event
    assert.equal(bounded.type === 'exchange' && bounded.result?.[TRUNCATED] !== undefined, true)
    assert.ok(bounded.type === 'exchange' && (bounded.name?.length ?? 0) <= MAX_TEXT)
  })

  it('cuts long text to a prefix and a hash: same text, same result; different text, different', () => {
    const a = `${'a'.repeat(1000)}1`
    const b = `${'a'.repeat(1000)}2`
    assert.equal(boundText(a), boundText(a))
    assert.notEqual(boundText(a), boundText(b))
    assert.equal(boundText(a).length, MAX_TEXT)
    assert.equal(boundText('short'), 'short')
  })
})

describe('strings pruned with their rows', () => {
  it('deletes strings only old rows used, and a writer with cached ids keeps writing correct rows', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    const old = Date.now() - 10 * DAY
    ingestor.write(
      Array.from({ length: 50 }, (_, i) =>
        exchangeEvent({ ts: old, method: 'tools/call', name: `unique-${i}`, targetKind: 'tool' }),
      ),
    )
    // `kept` is cached by the writer now, and only an old row uses it.
    ingestor.write([exchangeEvent({ ts: old, method: 'tools/call', name: 'kept' })])
    const before = db.prepare('SELECT count(*) FROM strings').pluck().get() as number
    const result = prune(db, Date.now() - DAY)
    assert.equal(result.exchanges, 51)
    assert.ok(result.strings >= 51, `${result.strings} strings pruned`)
    const after = db.prepare('SELECT count(*) FROM strings').pluck().get() as number
    assert.equal(before - after, result.strings)
    ingestor.write([exchangeEvent({ method: 'tools/call', name: 'kept' })])
    const [row] = tailLogs(db, {}, 10)
    assert.equal(row?.name, 'kept')
    assert.equal(row?.method, 'tools/call')
    assert.equal(row?.proxy, 'p')
    db.close()
  })
})

describe('prune counts clients as portico clients lists them', () => {
  it('one client through two proxies is one; a client whose session still calls is not gone', () => {
    const db = openStore(':memory:', { create: true })
    const old = Date.now() - 10 * DAY
    const initialize = (proxy: string, sessionId: string, name: string) =>
      exchangeEvent({
        ts: old,
        proxy,
        sessionId,
        method: 'initialize',
        client: { name, version: '1' },
      })
    new Ingestor(db).write([
      initialize('a', 's1', 'shared-client'),
      initialize('b', 's2', 'shared-client'),
      initialize('a', 's3', 'long-lived'),
      // The long-lived session's later call: its session (and client) stay.
      exchangeEvent({ proxy: 'a', sessionId: 's3', method: 'tools/call', name: 'echo' }),
    ])
    assert.equal(countClients(db), 2)
    const planned = prune(db, Date.now() - DAY, undefined, true)
    const done = prune(db, Date.now() - DAY)
    // Before: the per-proxy clients table's rows, 3 (shared-client twice, long-lived once).
    assert.equal(planned.clients, 1)
    assert.equal(done.clients, 1)
    assert.deepEqual(
      listClients(db, 0).map((row) => row.client_name),
      ['long-lived'],
    )
    db.close()
  })
})

describe('rows clients can make grow are capped', () => {
  it('creates sessions only for exchanges that succeeded, and at most the cap per proxy', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db, { maxSessions: 3, maxClients: 2 })
    ingestor.write(
      Array.from({ length: 10 }, (_, i) =>
        exchangeEvent({ method: 'tools/call', sessionId: `made-up-${i}`, httpStatus: 404 }),
      ),
    )
    const count = () => db.prepare('SELECT count(*) FROM sessions').pluck().get()
    assert.equal(count(), 0)
    ingestor.write(
      Array.from({ length: 10 }, (_, i) =>
        exchangeEvent({
          method: 'initialize',
          sessionId: `real-${i}`,
          client: { name: `client-${i}`, version: '1' },
        }),
      ),
    )
    assert.equal(count(), 3)
    assert.equal(db.prepare('SELECT count(*) FROM clients').pluck().get(), 2)
    // An existing session is still updated once the cap is reached.
    ingestor.write([exchangeEvent({ method: 'tools/call', sessionId: 'real-0' })])
    assert.equal(
      db.prepare("SELECT calls FROM sessions WHERE session_id = 'real-0'").pluck().get(),
      2,
    )
    db.close()
  })
})

describe('legacy SSE rows linked to their session', () => {
  it('gives the stream row and its notifications the session of the POSTs made during it', () => {
    const db = openStore(':memory:', { create: true })
    const ingestor = new Ingestor(db)
    const opened = Date.now() - 5000
    const sse = { transport: 'sse' as const, userAgent: 'node' }
    ingestor.write([
      exchangeEvent({
        ...sse,
        ts: opened + 10,
        method: 'initialize',
        sessionId: 'sse-1',
        client: { name: 'sse-client', version: '1' },
      }),
    ])
    const notification: NotificationEvent = {
      type: 'notification',
      ts: opened + 20,
      proxy: 'p',
      transport: 'sse',
      era: 'legacy',
      method: 'notifications/tools/list_changed',
    }
    ingestor.write([
      notification,
      exchangeEvent({ ...sse, ts: opened + 30, method: 'tools/list', sessionId: 'sse-1' }),
      exchangeEvent({
        ...sse,
        ts: opened,
        method: 'GET',
        kind: 'stream',
        durationUs: 1_000_000,
      }),
    ])
    const rows = tailLogs(db, {}, 10)
    assert.deepEqual(
      rows.map((r) => [r.method, r.session_id, r.client_name]),
      [
        ['GET', 'sse-1', 'sse-client'],
        ['initialize', 'sse-1', 'sse-client'],
        ['notifications/tools/list_changed', 'sse-1', 'sse-client'],
        ['tools/list', 'sse-1', 'sse-client'],
      ],
    )
    db.close()
  })
})
