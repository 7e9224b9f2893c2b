/**
 * Session filters of the log queries on a real SQLite store. Rows carry no session index; the
 * sessions table resolves a prefix or an id to sessions and their start, so these check that
 * the answer is the same as filtering every row.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { eachLogPageAfter, logsAfter, tailLogs } from '../../src/store/report-logs.ts'
import { exchangeEvent } from '../helpers/events.ts'

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
