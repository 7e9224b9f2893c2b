/**
 * Store maintenance through the CLI on a real SQLite store: stats, prune (dry run and real),
 * vacuum, the proxy's retention setting, and clear messages for a corrupt or foreign file.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { storeSink } from '../../src/store/sink.ts'
import { cliJson, runCli } from '../helpers/cli.ts'
import { until } from '../helpers/wait.ts'

const DAY = 86_400_000

function event(ts: number, proxy: string, session: string): ExchangeEvent {
  return {
    type: 'exchange',
    ts,
    proxy,
    transport: 'streamable-http',
    era: 'legacy',
    kind: 'request',
    method: 'tools/call',
    name: 'lookup',
    targetKind: 'tool',
    sessionId: session,
    outcome: 'ok',
    httpStatus: 200,
    durationUs: 1500,
    bytesIn: 100,
    bytesOut: 200,
  }
}

describe('store maintenance', () => {
  let dir: string
  let db: string
  const now = Date.now()

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-maint-'))
    db = join(dir, 'store.db')
    const store = openStore(db, { create: true })
    const ingestor = new Ingestor(store)
    ingestor.write([
      event(now - 40 * DAY, 'a', 'old-session'),
      event(now - 40 * DAY + 1000, 'a', 'old-session'),
      event(now - 35 * DAY, 'b', 'old-b'),
      event(now - 1000, 'a', 'new-session'),
    ])
    store.close()
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  it('stats, prune --dry-run, prune and vacuum', async () => {
    const [stats] = await cliJson(['store', 'stats', '--db', db])
    assert.equal(stats?.exchanges, 4)
    assert.equal(stats?.sessions, 3)
    assert.deepEqual(
      ((stats?.proxies ?? []) as Array<{ name: string }>).map((p) => p.name),
      ['a', 'b'],
    )
    const [dry] = await cliJson(['store', 'prune', '--older-than', '30d', '--dry-run', '--db', db])
    assert.equal(dry?.exchanges, 3)
    assert.equal(dry?.sessions, 2)
    const [onlyA] = await cliJson([
      'store',
      'prune',
      '--older-than',
      '30d',
      '--proxy',
      'a',
      '--db',
      db,
    ])
    assert.equal(onlyA?.exchanges, 2)
    const [rest] = await cliJson(['store', 'prune', '--older-than', '30d', '--db', db])
    assert.equal(rest?.exchanges, 1)
    const [after] = await cliJson(['store', 'stats', '--db', db])
    assert.equal(after?.exchanges, 1)
    // A dry run says what VACUUM would reclaim (the pruned rows' pages), and changes nothing.
    const plan = await runCli(['store', 'vacuum', '--dry-run', '--db', db])
    assert.equal(plan.code, 0)
    assert.match(
      plan.stdout,
      /^DRY RUN — no changes made\. VACUUM would rewrite .* of free pages to reclaim\)/,
    )
    const [planned] = await cliJson(['store', 'vacuum', '--dry-run', '--json', '--db', db])
    assert.equal(planned?.dry_run, true)
    assert.ok(typeof planned?.reclaimable_bytes === 'number')
    const vacuum = await runCli(['store', 'vacuum', '--db', db])
    assert.equal(vacuum.code, 0)
    assert.match(vacuum.stdout, /^Vacuumed /)
  })

  it("a proxy's first_seen is its oldest record, whatever order the batches came in", async () => {
    const path = join(dir, 'first-seen.db')
    const store = openStore(path, { create: true })
    const ingestor = new Ingestor(store)
    // A slow call (older) recorded after faster ones were written, and within one batch.
    ingestor.write([event(now - 1000, 'late', 's1')])
    ingestor.write([event(now - 500, 'late', 's1'), event(now - 9000, 'late', 's2')])
    store.close()
    const [stats] = await cliJson(['store', 'stats', '--db', path])
    const late = ((stats?.proxies ?? []) as Array<{ name: string; first_seen: number }>).find(
      (p) => p.name === 'late',
    )
    // Before: the first batch's newest ts, 8 s after the oldest record.
    assert.equal(late?.first_seen, now - 9000, JSON.stringify(late))
  })

  it('the proxy prunes its own rows on the retention schedule', async () => {
    const path = join(dir, 'retention.db')
    const seed = openStore(path, { create: true })
    new Ingestor(seed).write([
      event(now - 10 * DAY, 'kept', 's1'),
      event(now - 10 * DAY, 'mine', 's2'),
    ])
    seed.close()
    const sink = storeSink({ path, proxy: 'mine', retentionMs: 7 * DAY })
    sink.write([event(now, 'mine', 's3')])
    const reader = openStore(path)
    try {
      await until(
        () => {
          const rows = reader.prepare('SELECT proxy FROM exchanges ORDER BY proxy').pluck().all()
          return rows.join(',') === 'kept,mine' ? rows : undefined
        },
        8000,
        'the old row of this proxy to be pruned',
      )
    } finally {
      reader.close()
      await sink.close()
    }
  })

  it('a corrupt or foreign file gets one clear message', async () => {
    const junk = join(dir, 'junk.db')
    writeFileSync(
      junk,
      'this is not a database, just text that is long enough to look like a header'.repeat(20),
    )
    const result = await runCli(['status', '--db', junk])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /^portico: .*junk\.db is not a readable Portico store/)
    assert.doesNotMatch(result.stderr, /\n\s+at /)
    const badAge = await runCli(['store', 'prune', '--older-than', 'soon', '--db', db])
    assert.equal(badAge.code, 2)
  })

  it('another SQLite database, or an empty file, is refused and left exactly as it was', async () => {
    const other = join(dir, 'app.db')
    const app = new (await import('better-sqlite3')).default(other)
    app.exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada')")
    app.close()
    const before = readFileSync(other)
    for (const command of [['status'], ['logs'], ['sessions'], ['clients'], ['schema']]) {
      const result = await runCli([...command, '--db', other])
      assert.equal(result.code, 1, `${command[0]}: ${result.stderr}`)
      assert.match(
        result.stderr,
        /app\.db is not a Portico store: it is another SQLite database \(tables users\)/,
      )
    }
    assert.deepEqual(readFileSync(other), before, 'not one byte changed')
    assert.throws(() => openStore(other, { create: true }), /is not a Portico store/)
    assert.deepEqual(readFileSync(other), before, 'not by a proxy either')
    const empty = join(dir, 'empty.db')
    writeFileSync(empty, '')
    const result = await runCli(['status', '--db', empty])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /empty\.db is an empty SQLite file, not a Portico store yet/)
    assert.equal(readFileSync(empty).length, 0)
  })
})
