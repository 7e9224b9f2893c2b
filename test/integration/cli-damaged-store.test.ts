/**
 * The CLI reports over stores a damaged disk, a hand edit or a hostile writer left odd: every
 * report answers (no stack trace), nothing a store holds reaches the terminal as an escape
 * sequence or a bidi override, windows too long to be a date are refused, and a tail longer
 * than a page comes whole and in order. The real CLI, on real SQLite stores built with
 * Portico's own `openStore`, then edited.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import type { Db } from '../../src/store/open.ts'
import { openStore } from '../../src/store/open.ts'
import { runCliSync } from '../helpers/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'portico-damaged-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let stores = 0
const ESCAPE = '\u001b]0;PWNED\u0007\u001b[2J'
const BIDI = '\u202e'

/** A store with `rows` calls of one session, edited by `edit` once written. */
function storeWith(rows: number, edit: (db: Db, now: number) => void = () => {}): string {
  const path = join(dir, `store-${++stores}.db`)
  const db = openStore(path, { create: true })
  const now = Date.now()
  const id = (value: string) => {
    db.prepare('INSERT OR IGNORE INTO strings(value) VALUES (?)').run(value)
    return db.prepare('SELECT id FROM strings WHERE value = ?').pluck().get(value) as number
  }
  db.prepare('INSERT INTO proxies VALUES (?, ?, ?, 0)').run('p1', now - 1000, now)
  const insert = db.prepare(
    `INSERT INTO exchange_rows (ts, proxy, session_id, client_name, platform, era, transport,
       kind, method, target_kind, name, jsonrpc_id, outcome, error_code, error_message, reason,
       http_status, latency_us, bytes_in, bytes_out)
     VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 200, ?, 10, 20)`,
  )
  const ids = [
    id('p1'),
    'sess-1',
    id('cli'),
    id('legacy'),
    id('streamable_http'),
    id('request'),
    id('tools/call'),
    id('tool'),
    id('echo'),
  ]
  const ok = id('ok')
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(now - rows + i, ...ids, String(i), ok, 1000 + i)
    db.prepare(
      `INSERT INTO sessions (proxy, session_id, era, client_name, client_version, platform,
         started_at, last_seen_at, calls, errors)
       VALUES ('p1', 'sess-1', 'legacy', 'cli', '1', 'unknown', ?, ?, ?, 0)`,
    ).run(now - 1000, now, rows)
  })()
  edit(db, now)
  db.close()
  return path
}

/** Runs a report; it must end on its own, without a stack trace. */
function report(args: string[]) {
  const result = runCliSync(args, {}, 60_000)
  assert.doesNotMatch(
    result.stderr,
    /unexpected error|\n\s+at /,
    `${args.join(' ')}: ${result.stderr}`,
  )
  return result
}

it('a name whose interned string is gone prints an empty cell, not a TypeError', () => {
  const store = storeWith(3, (db) => {
    db.exec('UPDATE exchange_rows SET method = 999999, name = 999998 WHERE id = 1')
  })
  const logs = report(['logs', '--db', store])
  assert.equal(logs.status, 0, logs.stderr)
  assert.match(logs.stdout, /echo/, 'the other rows are shown')
})

it('a timestamp no date can hold prints ? in tables and null in JSON', () => {
  const store = storeWith(3, (db) => {
    db.exec('UPDATE exchange_rows SET ts = 9223372036854775807 WHERE id = 1')
    db.exec("UPDATE sessions SET started_at = 'yesterday'")
  })
  const json = report(['logs', '--json', '--db', store])
  assert.equal(json.status, 0, json.stderr)
  const times = json.stdout
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { time: string | null }).time)
  assert.ok(times.includes(null), JSON.stringify(times))
  for (const args of [['logs'], ['sessions'], ['store', 'stats']]) {
    const table = report([...args, '--db', store])
    assert.equal(table.status, 0, `${args.join(' ')}: ${table.stderr}`)
    assert.doesNotMatch(table.stdout, /NaN|undefined/, `${args.join(' ')}:\n${table.stdout}`)
  }
})

it('schema snapshots that are not JSON are shown as empty, not a SyntaxError', () => {
  const store = storeWith(1, (db, now) => {
    const snapshot = db.prepare(
      `INSERT INTO schema_snapshots (proxy, method, hash, payload, captured_at, stale)
       VALUES ('p1', ?, ?, ?, ?, 0)`,
    )
    snapshot.run('initialize', 'h1', '{{not json', now)
    snapshot.run('tools/list', 'h2', '{"tools":"x"}', now)
  })
  for (const args of [['schema'], ['schema', '--usage']]) {
    const result = report([...args, '--db', store])
    assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`)
  }
})

it('what a store holds never reaches the terminal as an escape sequence or a bidi override', () => {
  const store = storeWith(1, (db, now) => {
    db.prepare('INSERT INTO proxies VALUES (?, ?, ?, 0)').run(`evil${ESCAPE}`, now - 1000, now)
    db.prepare("UPDATE strings SET value = ? WHERE value = 'echo'").run(`echo${BIDI}gnp.exe`)
  })
  const status = runCliSync(['status', '--proxy', 'nosuch', '--db', store])
  assert.notEqual(status.status, 0)
  assert.match(status.stderr, /evil\\x1B\]0;PWNED\\x07/, status.stderr)
  const logs = report(['logs', '--db', store])
  assert.ok(!logs.stdout.includes(BIDI), 'a bidi override reached the terminal')
  assert.match(logs.stdout, /echo\\u20/, 'shown escaped')
  const typed = runCliSync(['logs', '--since', `1h${ESCAPE}`, '--db', store])
  assert.equal(typed.status, 2)
  assert.ok(!typed.stderr.includes('\u001b'), 'the typed escape came back raw')
})

it('--json output carries no C1 control or bidi override raw, and reads back as the same value', () => {
  const C1 = '\u009b2J'
  const store = storeWith(2, (db) => {
    db.prepare("UPDATE strings SET value = ? WHERE value = 'echo'").run(`echo${BIDI}${C1}`)
    db.prepare("UPDATE strings SET value = ? WHERE value = 'cli'").run(`cli${BIDI}`)
    db.prepare("UPDATE sessions SET client_version = ? WHERE session_id = 'sess-1'").run(
      '9'.repeat(250),
    )
  })
  for (const args of [
    ['logs', '--json'],
    ['slow', '--threshold', '0ms', '--json'],
    ['session', 'sess-1', '--json'],
    ['sessions', '--json'],
    ['clients', '--json'],
    ['status', '--json'],
  ]) {
    const out = report([...args, '--db', store]).stdout
    assert.ok(!out.includes(BIDI) && !out.includes('\u009b'), `${args[0]}: ${out.slice(0, 300)}`)
    for (const line of out.trim().split('\n')) JSON.parse(line)
  }
  const logs = report(['logs', '--json', '--db', store]).stdout.trim().split('\n')
  assert.equal((JSON.parse(logs[0] ?? '{}') as { name?: string }).name, `echo${BIDI}${C1}`)
  // A client's 250-character version is cut in the table, as its name is.
  const clients = report(['clients', '--db', store]).stdout
  assert.ok(
    clients.split('\n').every((line) => line.length < 200),
    `a row as wide as the version: ${clients}`,
  )
})

it('refuses a window too long to be a date', () => {
  const store = storeWith(1)
  const prune = runCliSync([
    'store',
    'prune',
    '--older-than',
    '99999999999999999999d',
    '--dry-run',
    '--db',
    store,
  ])
  assert.equal(prune.status, 2)
  assert.match(prune.stderr, /--older-than: at most 36500d \(100 years\)/)
  assert.equal(report(['status', '--since', '36500d', '--db', store]).status, 0)
})

it('prints a tail longer than a page whole and in order, the last N rows only', () => {
  // Read and printed a page of 1,000 rows at a time (what it saves is measured, not tested:
  // README, "portico logs"); the pages must join into exactly the last N rows, oldest first.
  const store = storeWith(2500, (db) => {
    // Rows sharing a timestamp across the tail's first row: the tail cuts between them by id.
    db.exec(
      'UPDATE exchange_rows SET ts = (SELECT ts FROM exchange_rows WHERE id = 1000) WHERE id BETWEEN 995 AND 1005',
    )
  })
  const tail = report(['logs', '--tail', '1500', '--json', '--db', store])
  assert.equal(tail.status, 0, tail.stderr)
  const ids = tail.stdout
    .trim()
    .split('\n')
    .map((line) => Number((JSON.parse(line) as { jsonrpc_id: string }).jsonrpc_id))
  assert.deepEqual(
    ids,
    Array.from({ length: 1500 }, (_, i) => 1000 + i),
  )
  const table = report(['logs', '--tail', '1500', '--db', store])
  assert.equal(table.stdout.trim().split('\n').length, 1501, 'a header, then every row')
})

it('says in one line why a --db path can hold no store, for run, demo and the reports', () => {
  // Before: `portico run` printed "unexpected error" and a stack trace; the reports said "no
  // store at …", as if the path were merely empty.
  const file = join(dir, 'a-file')
  writeFileSync(file, 'x')
  const loop = join(dir, 'loop-a')
  symlinkSync(join(dir, 'loop-b'), loop)
  symlinkSync(loop, join(dir, 'loop-b'))
  for (const [db, why] of [
    [join(file, 'store.db'), /a part of the path before the file name is a file, not a folder/],
    [loop, /the path loops through symbolic links/],
  ] as const) {
    for (const args of [
      ['run', '--upstream', 'http://127.0.0.1:9/mcp', '--port', '0', '--db', db],
      // Before: the demo printed the line and never exited (its server listening already).
      ['demo', '--port', '0', '--db', db],
      ['status', '--db', db],
    ]) {
      const result = runCliSync(args)
      assert.equal(result.status, 1, `${args[0]}: ${result.stderr}`)
      assert.match(
        result.stderr,
        new RegExp(`^portico: cannot use .* as the store: ${why.source}\\n$`),
        args[0],
      )
    }
  }
})
