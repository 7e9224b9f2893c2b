/**
 * `portico logs --follow` against what happens to a store while a proxy records into it: a
 * burst larger than one poll's page, every row pruned (SQLite then numbers rows from 1 again),
 * and the store deleted and created again by the writer. Each used to leave the follow behind
 * or silent for ever.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openStore } from '../../src/store/open.ts'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { CLI, cliEnv } from '../helpers/cli.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { stopChild } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

interface Follower {
  child: ChildProcess
  names: () => string[]
  stderr: () => string
}

function followJson(db: string): Follower {
  const child = spawn(process.execPath, [CLI, 'logs', '--follow', '--json', '--db', db], {
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const seen: string[] = []
  let partial = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) seen.push(String((JSON.parse(line) as { name?: unknown }).name))
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk
  })
  const names = () => seen
  return { child, names, stderr: () => err }
}

describe('logs --follow keeps following', () => {
  let dir: string
  let db: string
  let sink: StoreSink
  let follower: Follower

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-follow-'))
    db = join(dir, 'store.db')
    sink = storeSink({ path: db, proxy: 'p', flushMs: 20 })
    sink.write([exchangeEvent({ method: 'tools/call', name: 'first' })])
    await until(() => sink.stats().written >= 1, 5000, 'the first row')
    follower = followJson(db)
    await until(() => follower.names().includes('first'), 8000, 'the first screen')
  })

  after(async () => {
    if (follower) await stopChild(follower.child)
    await sink?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('prints a burst of 20,000 rows, each once', async () => {
    const burst = Array.from({ length: 20_000 }, (_, i) =>
      exchangeEvent({ method: 'tools/call', name: `burst-${i}` }),
    )
    const written = sink.stats().written
    sink.write(burst)
    await until(() => sink.stats().written >= written + 20_000, 20_000, 'the burst written')
    // That one poll reads them all is unit-tested (store-logs); here, the whole burst arrives.
    await until(() => follower.names().includes('burst-19999'), 30_000, 'the whole burst printed')
    const shown = follower.names().filter((name) => name.startsWith('burst-'))
    assert.equal(shown.length, 20_000)
    assert.equal(new Set(shown).size, 20_000)
  })

  it('goes on after every row was pruned and row ids start again from 1', async () => {
    const writer = openStore(db)
    try {
      writer.exec('DELETE FROM exchange_rows')
    } finally {
      writer.close()
    }
    sink.write([exchangeEvent({ method: 'tools/call', name: 'after-prune' })])
    await until(() => follower.names().includes('after-prune'), 8000, 'the row after the prune')
  })

  it('follows the new store when the store is deleted and created again', async () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true })
    sink.write([exchangeEvent({ method: 'tools/call', name: 'new-store' })])
    await until(() => follower.names().includes('new-store'), 8000, 'the row in the new store')
    assert.match(follower.stderr(), /was (deleted|replaced); following the new one/)
  })
})

describe('slow --follow (mcpr: proxy slow -f)', () => {
  it('prints the slow calls of the window, then those above the threshold as they come', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-slow-follow-'))
    const db = join(dir, 'store.db')
    const sink = storeSink({ path: db, proxy: 'p', flushMs: 20 })
    let child: ChildProcess | undefined
    try {
      sink.write([exchangeEvent({ method: 'tools/call', name: 'old-slow', durationUs: 900_000 })])
      await until(() => sink.stats().written >= 1, 5000, 'the first row')
      // Before: refused, "unknown option '--follow'" (exit 2).
      child = spawn(
        process.execPath,
        [CLI, 'slow', '--follow', '--threshold', '500ms', '--json', '--db', db],
        { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk
      })
      await until(() => out.includes('old-slow') || undefined, 8000, 'the report')
      sink.write([
        exchangeEvent({ method: 'tools/call', name: 'new-fast', durationUs: 1000 }),
        exchangeEvent({ method: 'tools/call', name: 'new-slow', durationUs: 700_000 }),
      ])
      await until(() => out.includes('new-slow') || undefined, 8000, 'the new slow call')
      assert.equal(out.includes('new-fast'), false, out)
    } finally {
      if (child) await stopChild(child)
      await sink.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
