/**
 * The store file deleted while a proxy records into it: SQLite would keep writing into the
 * unlinked inode and every later row would be lost without a word. The writer notices, says so
 * through the sink's error callback (the proxy logs it at warn), and records into a new store
 * at the same path.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { tailLogs } from '../../src/store/report-logs.ts'
import { storeSink } from '../../src/store/sink.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { until } from '../helpers/wait.ts'

describe('store file deleted while recording', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-reopen-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('warns and records into a new store at the same path', async () => {
    const path = join(dir, 'store.db')
    const warnings: string[] = []
    const sink = storeSink({
      path,
      proxy: 'reopen',
      flushMs: 20,
      onError: (message) => warnings.push(message),
    })
    try {
      sink.write([exchangeEvent({ proxy: 'reopen', method: 'tools/call', name: 'before' })])
      await until(() => sink.stats().written >= 1, 5000, 'the first row')
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
      sink.write([exchangeEvent({ proxy: 'reopen', method: 'tools/call', name: 'after' })])
      await until(() => sink.stats().written >= 2, 5000, 'the second row')
      assert.ok(existsSync(path), 'a new store file exists')
      assert.ok(
        warnings.some((w) => w.includes(`the store ${path} was deleted while Portico was running`)),
        warnings.join('\n'),
      )
      const reader = openStore(path)
      try {
        assert.deepEqual(
          tailLogs(reader, {}, 10).map((row) => row.name),
          ['after'],
        )
      } finally {
        reader.close()
      }
    } finally {
      await sink.close()
    }
  })

  it('a store moved aside keeps the rows committed to it; recording goes on at the path', async () => {
    const path = join(dir, 'moved.db')
    const archive = join(dir, 'archive.db')
    const warnings: string[] = []
    const sink = storeSink({
      path,
      proxy: 'reopen',
      flushMs: 20,
      onError: (message) => warnings.push(message),
    })
    try {
      for (const name of ['first', 'second']) {
        sink.write([exchangeEvent({ proxy: 'reopen', method: 'tools/call', name })])
      }
      await until(() => sink.stats().written >= 2, 5000, 'the first rows')
      renameSync(path, archive) // `mv portico.db archive.db`, its journal left behind
      sink.write([exchangeEvent({ proxy: 'reopen', method: 'tools/call', name: 'after' })])
      await until(() => sink.stats().written >= 3, 5000, 'the row after the move')
      assert.ok(
        warnings.some((w) => w.includes(`the store ${path} was deleted while Portico was running`)),
        warnings.join('\n'),
      )
    } finally {
      await sink.close()
    }
    // Before, the moved file held none of its rows: they were in the journal set aside.
    for (const [file, names] of [
      [archive, ['first', 'second']],
      [path, ['after']],
    ] as const) {
      const reader = openStore(file)
      try {
        assert.deepEqual(
          tailLogs(reader, {}, 10).map((row) => row.name),
          names,
          file,
        )
      } finally {
        reader.close()
      }
    }
  })

  it("a live session's calls in the new store still name its client", async () => {
    const path = join(dir, 'clients.db')
    const sink = storeSink({ path, proxy: 'reopen', flushMs: 20 })
    const session = { proxy: 'reopen', sessionId: 's-1', userAgent: 'node' }
    try {
      sink.write([
        exchangeEvent({
          ...session,
          method: 'initialize',
          client: { name: 'clientA', version: '1' },
        }),
        exchangeEvent({ ...session, method: 'tools/call', name: 'before' }),
      ])
      await until(() => sink.stats().written >= 2, 5000, 'the first rows')
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
      // The client said who it is once, at initialize: not again on its later calls.
      sink.write([exchangeEvent({ ...session, method: 'tools/call', name: 'after' })])
      await until(() => sink.stats().written >= 3, 5000, 'the row after the delete')
    } finally {
      await sink.close()
    }
    const reader = openStore(path)
    try {
      const rows = tailLogs(reader, {}, 10)
      assert.deepEqual(
        rows.map((row) => [row.name, row.client_name]),
        [['after', 'clientA']],
      )
      const listed = reader.prepare('SELECT name FROM clients WHERE proxy = ?').all('reopen')
      assert.deepEqual(listed, [{ name: 'clientA' }])
    } finally {
      reader.close()
    }
  })

  it('a store file replaced by another store keeps that store’s rows (the old journal is not applied)', async () => {
    const path = join(dir, 'replaced.db')
    const backup = join(dir, 'backup.db')
    const sink = storeSink({ path, proxy: 'reopen', flushMs: 20 })
    try {
      sink.write([exchangeEvent({ proxy: 'reopen', method: 'tools/call', name: 'before' })])
      await until(() => sink.stats().written >= 1, 5000, 'the first row')
      assert.ok(existsSync(`${path}-wal`), 'the live store has its journal')
      const other = openStore(backup, { create: true })
      new Ingestor(other).write([
        exchangeEvent({ proxy: 'b', method: 'tools/call', name: 'backup' }),
      ])
      other.close()
      renameSync(backup, path) // as `mv backup.db store.db` puts a backup back
      sink.write([exchangeEvent({ proxy: 'reopen', method: 'tools/call', name: 'after' })])
      await until(() => sink.stats().written >= 2, 5000, 'the second row')
    } finally {
      await sink.close()
    }
    const reader = openStore(path)
    try {
      assert.deepEqual(
        tailLogs(reader, {}, 10).map((row) => row.name),
        ['backup', 'after'],
      )
    } finally {
      reader.close()
    }
  })
})
