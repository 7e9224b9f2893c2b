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
