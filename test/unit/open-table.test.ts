/**
 * util/open-table: requests in progress by id. Its map-like behaviour is checked directly;
 * what it exists for is checked in child processes: 20,000 requests through a table with 16
 * awaiting a reply at a time, after a full collection. A Map keeps every request it held alive
 * through young collections (V8 links each hash table a Map gives up to the next one); an
 * OpenTable lets the answered ones die young. The Map is the control that shows the measure
 * sees the problem.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OpenTable } from '../../src/util/open-table.ts'
import { moduleChildResult, PROMOTED_BY_SCAVENGES } from '../helpers/processes.ts'

const OPEN_TABLE = new URL('../../src/util/open-table.js', import.meta.url).href
const MB = 1024 * 1024

/** Prints the bytes young collections promoted after an early full collection (v8.GCProfiler). */
function churnScript(kind: 'map' | 'table'): string {
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    import { OpenTable } from ${JSON.stringify(OPEN_TABLE)}
    const kind = ${JSON.stringify(kind)}
    const profiler = new v8.GCProfiler()
    function churn(n, inProgress) {
      const table = kind === 'map' ? new Map() : new OpenTable()
      for (let id = 1; id <= n; id++) {
        table.set(id, { id, payload: new Array(128).fill(id) })
        if (id > inProgress) table.delete(id - inProgress)
        if (id === 200) {
          for (let k = 0; k < 3; k++) globalThis.gc({ type: 'minor' })
          globalThis.gc({ type: 'major' })
          profiler.start()
        }
      }
      return table
    }
    const table = churn(20000, 16)
    const { statistics } = profiler.stop()
    const promoted = promotedByScavenges(statistics)
    console.log(JSON.stringify({ promoted, size: table.size }))
  `
}

function promotedBy(kind: 'map' | 'table'): Promise<{ promoted: number; size: number }> {
  return moduleChildResult(churnScript(kind), ['--expose-gc'])
}

describe('OpenTable', () => {
  it('sets, gets, deletes and counts like a Map, values in the order ids were added', () => {
    const table = new OpenTable<string>()
    table.set(3, 'c')
    table.set(1, 'a')
    table.set('x', 'x')
    table.set(3, 'C')
    assert.equal(table.size, 3)
    assert.equal(table.get(3), 'C')
    assert.equal(table.has(1), true)
    assert.equal(table.delete(1), true)
    assert.equal(table.delete(1), false)
    assert.equal(table.has(1), false)
    assert.equal(table.size, 2)
    // Integer keys come first, ascending (a connection's ids only grow), then the others.
    table.set(7, 'g')
    assert.deepEqual(table.values(), ['C', 'g', 'x'])
  })

  it('a key named like an Object.prototype member is just a key', () => {
    const table = new OpenTable<number>()
    assert.equal(table.get('toString'), undefined)
    table.set('__proto__', 1)
    assert.equal(table.get('__proto__'), 1)
    assert.equal(table.size, 1)
  })

  it('under churn after a full collection, keeps only the requests in progress alive (a Map keeps them all)', async () => {
    const [map, table] = await Promise.all([promotedBy('map'), promotedBy('table')])
    assert.equal(map.size, 16)
    assert.equal(table.size, 16)
    // Measured: about 15 MB promoted through the Map, 20 KB through the OpenTable.
    assert.ok(map.promoted > 3 * MB, `control: the Map's churn promoted ${map.promoted} B`)
    assert.ok(table.promoted < 1 * MB, `OpenTable's churn promoted ${table.promoted} B`)
  })
})
