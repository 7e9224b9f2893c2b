/**
 * Session filters of the log queries on a real SQLite store. Rows carry no session index; the
 * sessions table resolves a prefix or an id to sessions and their start, so these check that
 * the answer is the same as filtering every row.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { boundEvent } from '../../src/store/bound.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { eachLogPageAfter, eachTailLog, logsAfter, tailLogs } from '../../src/store/report-logs.ts'
import { findSessions, listSessions } from '../../src/store/report-sessions.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { scratchDir } from '../helpers/scratch.ts'

const T0 = Date.now() - 60_000

function storeWithSessions() {
  const db = openStore(':memory:', { create: true })
  const call = (sessionId: string, ts: number, name: string) =>
    exchangeEvent({ method: 'tools/call', sessionId, ts, name, targetKind: 'tool' })
  new Ingestor(db).write([
    call('abc-1', T0, 'a1-first'),
    call('xyz-9', T0 + 1, 'x-first'),
    call('abc-2', T0 + 2, 'a2-first'),
    call('abc-1', T0 + 3, 'a1-second'),
    call('xyz-9', T0 + 4, 'x-second'),
  ])
  return db
}

describe('log session filters', () => {
  it('a prefix selects every matching session, in order, and nothing else', () => {
    const db = storeWithSessions()
    const names = tailLogs(db, { sessionPrefix: 'abc' }, 100).map((r) => r.name)
    assert.deepEqual(names, ['a1-first', 'a2-first', 'a1-second'])
    assert.deepEqual(
      tailLogs(db, { sessionId: 'abc-1' }, 100).map((r) => r.name),
      ['a1-first', 'a1-second'],
    )
    assert.deepEqual(tailLogs(db, { sessionPrefix: 'nope' }, 100), [])
  })

  it('combines with since, the tail and follow mode', () => {
    const db = storeWithSessions()
    assert.deepEqual(
      tailLogs(db, { sessionPrefix: 'abc', since: T0 + 1 }, 100).map((r) => r.name),
      ['a2-first', 'a1-second'],
    )
    assert.deepEqual(
      tailLogs(db, { sessionPrefix: 'abc' }, 1).map((r) => r.name),
      ['a1-second'],
    )
    const [first] = tailLogs(db, { sessionPrefix: 'x' }, 100)
    assert.deepEqual(
      logsAfter(db, { sessionPrefix: 'x' }, first?.id ?? 0).rows.map((r) => r.name),
      ['x-second'],
    )
  })
})

describe('filters naming something longer than the store keeps', () => {
  // Kept as its start and a hash (store/bound.ts): before, the whole name a user typed or
  // copied (from `schema --json`) matched none of its rows.
  const tool = `${'t'.repeat(300)}_tool`
  const session = `${'s'.repeat(300)}-end`
  const client = `${'c'.repeat(300)}-client`
  const proxy = `${'p'.repeat(300)}-proxy`

  function storeWithLongNames() {
    const db = openStore(':memory:', { create: true })
    const call = (ts: number) =>
      boundEvent(
        exchangeEvent({
          method: 'tools/call',
          sessionId: session,
          proxy,
          ts,
          name: tool,
          targetKind: 'tool',
          subject: client,
          client: { name: client, version: '1' },
        }),
      ).event
    new Ingestor(db).write([call(T0), call(T0 + 1)])
    return db
  }

  it('finds the rows by the whole name, id, user, client and proxy', () => {
    const db = storeWithLongNames()
    assert.equal(tailLogs(db, { tool }, 100).length, 2)
    assert.equal(tailLogs(db, { target: { kind: 'tool', name: tool } }, 100).length, 2)
    assert.equal(tailLogs(db, { sessionId: session }, 100).length, 2)
    assert.equal(tailLogs(db, { sessionPrefix: session }, 100).length, 2)
    assert.equal(tailLogs(db, { sessionPrefix: session.slice(0, 280) }, 100).length, 2)
    assert.equal(tailLogs(db, { user: client }, 100).length, 2)
    assert.equal(tailLogs(db, { proxy }, 100).length, 2)
    assert.equal(tailLogs(db, { tool: `${tool}x` }, 100).length, 0)
  })

  it('finds the session by its whole id or a long prefix of it, and by its client', () => {
    const db = storeWithLongNames()
    const now = T0 + 10
    assert.equal(findSessions(db, session, now).length, 1)
    assert.equal(findSessions(db, session.slice(0, 280), now).length, 1)
    assert.equal(listSessions(db, { since: 0, now, client, limit: 10 }).length, 1)
    assert.equal(listSessions(db, { since: 0, now, proxy, limit: 10 }).length, 1)
  })
})

describe('eachLogPageAfter (logs --follow)', () => {
  it('hands over every row after the id in one call, a page at a time, in order', () => {
    const db = openStore(':memory:', { create: true })
    try {
      const events = Array.from({ length: 2500 }, (_, i) =>
        exchangeEvent({ method: 'tools/call', name: `row-${i}`, ts: 1_000_000 + i }),
      )
      new Ingestor(db).write(events)
      const pages: number[] = []
      const names: string[] = []
      const last = eachLogPageAfter(db, {}, 0, (rows) => {
        pages.push(rows.length)
        for (const row of rows) names.push(String(row.name))
      })
      // One poll used to read a single page of 1,000: 2,000 rows/s at most.
      assert.deepEqual(pages, [1000, 1000, 500])
      assert.deepEqual(
        names,
        events.map((event) => event.name),
      )
      assert.equal(
        eachLogPageAfter(db, {}, last, () => assert.fail('nothing new')),
        last,
      )
    } finally {
      db.close()
    }
  })
})

describe('eachTailLog (logs --tail)', () => {
  it('hands over the tail in time order, and holds no read open between its pages', () => {
    const path = join(scratchDir('portico-tail-'), 'store.db')
    const writer = openStore(path, { create: true })
    const ingestor = new Ingestor(writer)
    const rows = 2500
    ingestor.write(
      Array.from({ length: rows }, (_, i) =>
        exchangeEvent({ method: 'tools/call', ts: T0 + (i % 7) * 1000 + i, name: `t${i}` }),
      ),
    )
    const reader = openStore(path)
    const lastId = reader.prepare('SELECT max(id) FROM exchanges').pluck().get() as number
    const tail = eachTailLog(reader, {}, 2000, lastId)
    const first = tail.next()
    assert.equal(first.done, false)
    // A reader paused in the middle (a `logs | less` not read on): the writer's checkpoint
    // must still get through the whole log. Before: the one statement iterated across the
    // tail kept its read transaction, and the checkpoint was busy (the WAL grew for ever).
    ingestor.write([exchangeEvent({ method: 'tools/call', ts: T0 + 99_000, name: 'later' })])
    const [checkpoint] = writer.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>
    assert.equal(checkpoint?.busy, 0)
    const seen = [first.value as { ts: number; id: number }, ...tail]
    assert.equal(seen.length, 2000)
    const expected = tailLogs(reader, {}, 2001).filter((row) => row.id <= lastId)
    assert.deepEqual(
      seen.map((row) => row.id),
      expected.map((row) => row.id),
    )
    reader.close()
    writer.close()
  })
})
