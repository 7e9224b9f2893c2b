/**
 * `portico status` and `portico logs` tables line up when names hold CJK or emoji (two
 * terminal cells each): a real store written by the store sink, the real CLI. Padding by
 * UTF-16 length put every column after such a name 3 cells to the right.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { storeSink } from '../../src/store/sink.ts'
import { displayWidth } from '../../src/util/text-width.ts'
import { runCliSync } from '../helpers/cli.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const NAMES = ['echo', 'ünïcødé_工具_🔧', '検索ツール', '👩‍💻-helper']

describe('CLI tables with double-width characters', () => {
  const db = join(scratchDir('portico-wide-'), 'store.db')
  const sink = storeSink({ path: db, proxy: 'wide', flushMs: 20 })

  before(async () => {
    sink.write(
      NAMES.map((name) =>
        exchangeEvent({ proxy: 'wide', method: 'tools/call', name, targetKind: 'tool' }),
      ),
    )
    await until(() => sink.stats().written >= NAMES.length || undefined, 5000, 'the rows')
  })
  after(() => sink.close())

  it('status: every row of the tool table is as wide as its header', () => {
    const result = runCliSync(['status', '--db', db, '--since', '1h'])
    assert.equal(result.status, 0, result.stderr)
    const lines = result.stdout.split('\n')
    const start = lines.findIndex((line) => line.startsWith('TOOL'))
    assert.ok(start >= 0, result.stdout)
    const table = lines.slice(start, start + 1 + NAMES.length)
    // Every tool, each once (a row cut or missing would not be the table measured below).
    assert.deepEqual(
      table
        .slice(1)
        .map((line) => NAMES.find((name) => line.startsWith(name)))
        .sort(),
      [...NAMES].sort(),
    )
    const widths = table.map(displayWidth)
    assert.deepEqual(widths, Array(table.length).fill(widths[0]), table.join('\n'))
  })

  it('logs: every row is as wide as the others (all ok), the NAME column in line', () => {
    const result = runCliSync(['logs', '--db', db])
    assert.equal(result.status, 0, result.stderr)
    const rows = result.stdout.split('\n').filter((line) => line.endsWith('  ok'))
    assert.equal(rows.length, NAMES.length, result.stdout)
    const widths = rows.map(displayWidth)
    assert.deepEqual(widths, Array(rows.length).fill(widths[0]), rows.join('\n'))
  })
})
