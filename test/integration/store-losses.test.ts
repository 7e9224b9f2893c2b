/**
 * Events the store could not record are said, and counted where `portico store stats` shows
 * them: dropped because the queue was full (the log used to stay silent), lost because a write
 * failed (a corrupt store), and the moment writes resume.
 */
import assert from 'node:assert/strict'
import { closeSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openStore } from '../../src/store/open.ts'
import { storeStats } from '../../src/store/report-stats.ts'
import { storeSink } from '../../src/store/sink.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { until } from '../helpers/wait.ts'

function droppedOf(path: string, proxy: string): number {
  const db = openStore(path)
  try {
    return storeStats(db, path).proxies.find((p) => p.name === proxy)?.dropped_events ?? 0
  } finally {
    db.close()
  }
}

/** Overwrites the store's pages after the first, keeping its header (so it looks current). */
function corruptPages(path: string): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, Buffer.alloc(64 * 1024, 0xde), 0, 64 * 1024, 4096)
  } finally {
    closeSync(fd)
  }
}

describe('events the store could not record', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-losses-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('a full queue says how many events it dropped, and store stats counts them', async () => {
    const path = join(dir, 'full.db')
    const messages: string[] = []
    const sink = storeSink({
      path,
      proxy: 'busy',
      capacity: 10,
      onError: (message) => messages.push(message),
    })
    const events = Array.from({ length: 25 }, () =>
      exchangeEvent({ proxy: 'busy', method: 'tools/call', name: 'x' }),
    )
    sink.write(events)
    await sink.close()
    assert.equal(sink.stats().dropped, 15)
    const told = messages.filter((m) => m.startsWith('store queue full'))
    assert.equal(told.length, 1, messages.join('\n'))
    assert.match(told[0] ?? '', /15 events dropped, not recorded .*at most 10/)
    assert.equal(droppedOf(path, 'busy'), 15)
  })

  it('a corrupt store: each failure names the remedy; writes resume once it is moved aside, and the lost events are counted', async () => {
    const path = join(dir, 'corrupt.db')
    const messages: string[] = []
    const first = storeSink({ path, proxy: 'c', flushMs: 20 })
    first.write([exchangeEvent({ proxy: 'c', method: 'tools/call', name: 'before' })])
    await until(() => first.stats().written >= 1, 5000, 'the first row')
    await first.close()
    // Big enough that its pages outnumber the header page, as a real store's do.
    const filler = openStore(path)
    filler.exec(
      'CREATE TABLE IF NOT EXISTS pad (x); INSERT INTO pad SELECT hex(randomblob(500)) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) SELECT i FROM n)',
    )
    filler.pragma('wal_checkpoint(TRUNCATE)')
    filler.close()
    corruptPages(path)

    const sink = storeSink({
      path,
      proxy: 'c',
      flushMs: 20,
      onError: (message) => messages.push(message),
    })
    try {
      sink.write(
        Array.from({ length: 3 }, () =>
          exchangeEvent({ proxy: 'c', method: 'tools/call', name: 'lost' }),
        ),
      )
      await until(() => sink.stats().failed >= 3, 5000, 'the failed write')
      const failure = messages.find((m) => m.startsWith('store write failed (3 events lost)'))
      assert.ok(failure, messages.join('\n'))
      assert.match(failure, /move it aside and a proxy starts a new store at that path/)

      renameSync(path, join(dir, 'corrupt-aside.db'))
      sink.write([exchangeEvent({ proxy: 'c', method: 'tools/call', name: 'after' })])
      await until(() => sink.stats().written >= 1, 5000, 'the write in the new store')
      await until(
        () => messages.some((m) => m.startsWith('store writes resumed (3 events were lost')),
        5000,
        'the resumed line',
      )
    } finally {
      await sink.close()
    }
    assert.equal(droppedOf(path, 'c'), 3)
  })
})
