/**
 * The store writer thread runs while there is work: none starts for a proxy that records
 * nothing, the first event starts one, an idle one stops, and the next event starts another,
 * with every event committed across the stops and starts. A store already at this schema is
 * not opened (SQLite not even loaded) on the proxy's thread, and a new one is made by a child
 * process. Real worker threads, a real child process, real SQLite.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { isCurrentStore } from '../../src/store/header.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { storeSink } from '../../src/store/sink.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { until } from '../helpers/wait.ts'

const DAY = 86_400_000

function rowCount(path: string): number {
  const db = openStore(path)
  try {
    return db.prepare('SELECT count(*) FROM exchanges').pluck().get() as number
  } finally {
    db.close()
  }
}

function call(i: number) {
  return exchangeEvent({ method: 'tools/call', name: 'lookup', jsonrpcId: i, sessionId: 's1' })
}

/**
 * Starts a store sink on `path` in a new process, records one event and closes: whether the
 * SQLite addon was in the proxy thread's module cache before and after, and whether the store
 * was at this schema once the sink had started.
 */
function startRecordingOne(dir: string, path: string): unknown {
  const sinkModule = new URL('../../src/store/sink.js', import.meta.url).href
  const headerModule = new URL('../../src/store/header.js', import.meta.url).href
  const script = `
    import { createRequire } from 'node:module'
    const { storeSink } = await import(${JSON.stringify(sinkModule)})
    const { isCurrentStore } = await import(${JSON.stringify(headerModule)})
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('better-sqlite3'))
    const sink = storeSink({ path: process.argv[2], proxy: 'p' })
    const before = loaded()
    const current = isCurrentStore(process.argv[2])
    sink.write([{ type: 'exchange', ts: Date.now(), proxy: 'p', transport: 'streamable-http', era: 'legacy', kind: 'request', method: 'ping', outcome: 'ok', httpStatus: 200, durationUs: 1, bytesIn: 1, bytesOut: 1 }])
    await sink.close()
    console.log(JSON.stringify({ before, current, after: loaded(), written: sink.stats().written }))`
  // A file, not `--input-type=module -e`: worker threads inherit the flags, and that one
  // only works with `-e`.
  const file = join(dir, 'start.mjs')
  writeFileSync(file, script)
  return JSON.parse(execFileSync(process.execPath, [file, path], { encoding: 'utf8' }))
}

describe('the store writer thread', () => {
  let dir: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-writer-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('starts with the first event, stops when idle, starts again for the next', async () => {
    const path = join(dir, 'cycle.db')
    const sink = storeSink({ path, proxy: 'p', flushMs: 20, idleStopMs: 150 })
    try {
      assert.equal(sink.stats().writerRunning, false, 'no writer before any event')
      await sleep(300)
      assert.equal(sink.stats().writerStarts, 0, 'none started while nothing was recorded')

      sink.write([call(1), call(2), call(3)])
      assert.equal(sink.stats().writerRunning, true)
      await until(() => sink.stats().written >= 3, 5000, 'the first events written')
      await until(() => !sink.stats().writerRunning, 5000, 'the idle writer to stop')
      assert.equal(rowCount(path), 3)

      sink.write([call(4), call(5)])
      await until(() => sink.stats().written >= 5, 5000, 'the next events written')
      const stats = sink.stats()
      assert.equal(stats.writerStarts, 2)
      assert.equal(stats.restarts, 0, 'an idle stop is not a crash')
      assert.equal(stats.failed + stats.dropped, 0)
      assert.equal(rowCount(path), 5)
    } finally {
      await sink.close()
    }
  })

  it('loses nothing when events arrive as an idle writer stops, and close commits the rest', async () => {
    const path = join(dir, 'churn.db')
    const sink = storeSink({ path, proxy: 'p', flushMs: 10, idleStopMs: 40 })
    let sent = 0
    const rounds = 8
    try {
      for (let round = 0; round < rounds; round++) {
        sink.write([call(++sent), call(++sent)])
        // The moment the writer is let go of, more events: they land while its thread is
        // still closing (or just after) and must start the next one.
        await until(() => !sink.stats().writerRunning, 5000, 'the idle writer to stop')
        sink.write([call(++sent)])
        // Written only by a writer started for them once the stopping one has exited.
        await until(() => sink.stats().written === sent || undefined, 5000, 'the late events')
      }
    } finally {
      await sink.close()
    }
    // At least one start per round for its late events (an idle check may add more).
    assert.ok(sink.stats().writerStarts >= rounds + 1)
    const stats = sink.stats()
    assert.equal(stats.written, sent)
    assert.equal(stats.failed + stats.dropped, 0)
    assert.equal(rowCount(path), sent)
  })

  it('is started for a due retention pass with nothing to record, then stops', async () => {
    const path = join(dir, 'retention.db')
    const seed = openStore(path, { create: true })
    new Ingestor(seed).write([
      exchangeEvent({ method: 'tools/list', ts: Date.now() - 10 * DAY }),
      exchangeEvent({ method: 'tools/list', ts: Date.now() - 1000 }),
    ])
    seed.close()
    const sink = storeSink({ path, proxy: 'p', retentionMs: 7 * DAY, idleStopMs: 200 })
    try {
      await until(() => rowCount(path) === 1 || undefined, 8000, 'the old row to be pruned')
      await until(() => !sink.stats().writerRunning, 5000, 'the writer to stop after the pass')
      assert.equal(sink.stats().received, 0)
    } finally {
      await sink.close()
    }
  })

  it('commits every character of events encoded one by one into its batch', async () => {
    const path = join(dir, 'text.db')
    const sink = storeSink({ path, proxy: 'p', idleStopMs: 0 })
    const names = ['outil_été', 'ツール', 'emoji_🚀', 'quote"and\\backslash', 'plain']
    sink.write(
      names.map((name, i) =>
        exchangeEvent({ method: 'tools/call', name, jsonrpcId: i, errorMessage: `ß ${name}` }),
      ),
    )
    await sink.close()
    const db = openStore(path)
    try {
      const rows = db
        .prepare('SELECT name, error_message AS message FROM exchanges ORDER BY jsonrpc_id')
        .all() as Array<{ name: string; message: string }>
      assert.deepEqual(
        rows.map((row) => row.name),
        names,
      )
      assert.deepEqual(
        rows.map((row) => row.message),
        names.map((name) => `ß ${name}`),
      )
    } finally {
      db.close()
    }
  })

  it('a sink that never recorded closes without starting a writer', async () => {
    const sink = storeSink({ path: join(dir, 'never.db'), proxy: 'p' })
    await sink.close()
    assert.equal(sink.stats().writerStarts, 0)
    assert.equal(sink.stats().writerRunning, false)
  })
})

describe('a store already at this schema', () => {
  let dir: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-header-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('is recognised from its header; anything else is opened as before', () => {
    const current = join(dir, 'current.db')
    openStore(current, { create: true }).close()
    assert.equal(isCurrentStore(current), true)

    assert.equal(isCurrentStore(join(dir, 'missing.db')), false)
    const text = join(dir, 'text.db')
    writeFileSync(text, 'not a database at all, '.repeat(10))
    assert.equal(isCurrentStore(text), false)

    const older = join(dir, 'older.db')
    const db = openStore(older, { create: true })
    db.pragma('user_version = 1')
    db.close()
    assert.equal(isCurrentStore(older), false)

    // A write-ahead log with frames may hold a newer header than the file's: not trusted.
    const busy = join(dir, 'busy.db')
    openStore(busy, { create: true }).close()
    const open = openStore(busy)
    try {
      open.pragma('wal_autocheckpoint = 0')
      open.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('k', 'v')
      assert.equal(isCurrentStore(busy), false)
    } finally {
      open.close()
    }
    assert.equal(isCurrentStore(busy), true, 'checkpointed on close')
  })

  const startsWithoutSqlite: [string, (path: string) => void][] = [
    ['a proxy starting on it', (path) => openStore(path, { create: true }).close()],
    ['a proxy starting on a new store (made by a child process)', () => {}],
  ]
  for (const [name, prepare] of startsWithoutSqlite) {
    it(`${name} does not load SQLite on its own thread`, () => {
      const path = join(dir, `${name.length}.db`)
      prepare(path)
      // The writer thread loads it in its own module cache; the proxy's thread never does.
      assert.deepEqual(startRecordingOne(dir, path), {
        before: false,
        current: true,
        after: false,
        written: 1,
      })
      assert.equal(rowCount(path), 1)
    })
  }

  it('a new store the child cannot make fails as before, with the clear error', () => {
    assert.throws(
      () => storeSink({ path: join(dir, 'no-such-folder', 'x.db'), proxy: 'p' }),
      (error: Error) =>
        error.name === 'StoreError' && /folder .* does not exist/.test(error.message),
    )
  })

  it('a commit that finds the store locked past the busy timeout keeps its events for the next', async () => {
    const path = join(dir, 'locked.db')
    openStore(path, { create: true }).close()
    const sink = storeSink({ path, proxy: 'p', flushMs: 50, idleStopMs: 60_000 })
    // Another process's long maintenance (a VACUUM of a large store): the write lock held for
    // longer than the writer's 5 s busy timeout.
    const other = openStore(path)
    other.exec('BEGIN EXCLUSIVE')
    try {
      sink.write([call(1), call(2), call(3)])
      await sleep(6500)
      assert.equal(sink.stats().written, 0, 'nothing could be written while it was locked')
      other.exec('COMMIT')
      await until(() => sink.stats().written >= 3, 10_000, 'the held events written once free')
      const stats = sink.stats()
      assert.equal(stats.failed, 0, 'no event lost to the lock')
      assert.equal(rowCount(path), 3)
    } finally {
      if (other.inTransaction) other.exec('COMMIT')
      other.close()
      await sink.close()
    }
  })

  it('a store still locked when Portico stops gets more commits before the writer gives up', async () => {
    const path = join(dir, 'locked-at-close.db')
    openStore(path, { create: true }).close()
    // No periodic commit: the close's own commits are the only ones.
    const sink = storeSink({ path, proxy: 'p', flushMs: 600_000, idleStopMs: 60_000 })
    const other = openStore(path)
    other.exec('BEGIN EXCLUSIVE')
    // Freed after the first commit at close has waited its busy timeout (5 s) in vain.
    const freed = sleep(6500).then(() => other.exec('COMMIT'))
    try {
      sink.write([call(1), call(2), call(3)])
      await sink.close()
      await freed
      const stats = sink.stats()
      assert.equal(stats.failed, 0, 'no event lost to the lock at close')
      assert.equal(stats.written, 3)
      assert.equal(rowCount(path), 3)
    } finally {
      await freed
      other.close()
    }
  })
})
