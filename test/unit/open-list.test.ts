/**
 * util/open-list: items in progress, added and removed once each. Its order and removal are
 * checked directly; what it exists for is checked in child processes: under per-request
 * churn after a full collection, a Set keeps every item it ever held alive through young
 * collections (V8 links each hash table a Set gives up to the next one), while OpenList keeps
 * only the items still in it. The Set is the control that shows the measure sees the problem.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OpenList } from '../../src/util/open-list.ts'
import { moduleChildResult, PROMOTED_BY_SCAVENGES } from '../helpers/processes.ts'

const OPEN_LIST = new URL('../../src/util/open-list.js', import.meta.url).href
const MB = 1024 * 1024

/**
 * 16 items in progress at a time, 20,000 in all, each holding 1 KB; a full collection early
 * on puts the tracker's current table (or entries) in the old generation, as one during
 * traffic does. Prints the bytes young collections promoted after it (v8.GCProfiler: old
 * space after minus before, per scavenge).
 */
function churnScript(kind: 'set' | 'list'): string {
  return `
    import v8 from 'node:v8'
    ${PROMOTED_BY_SCAVENGES}
    import { OpenList } from ${JSON.stringify(OPEN_LIST)}
    const kind = ${JSON.stringify(kind)}
    const profiler = new v8.GCProfiler()
    function churn(n, inProgress) {
      const tracker = kind === 'set' ? new Set() : new OpenList()
      const open = []
      for (let i = 0; i < n; i++) {
        const item = { payload: new Array(128).fill(i) }
        open.push(kind === 'set' ? (tracker.add(item), item) : tracker.add(item))
        if (open.length > inProgress) {
          const done = open.shift()
          kind === 'set' ? tracker.delete(done) : done.remove()
        }
        if (i === 200) {
          for (let n = 0; n < 3; n++) globalThis.gc({ type: 'minor' })
          globalThis.gc({ type: 'major' })
          profiler.start()
        }
      }
      return tracker
    }
    const tracker = churn(20000, 16)
    const { statistics } = profiler.stop()
    const promoted = promotedByScavenges(statistics)
    console.log(JSON.stringify({ promoted, size: tracker.size }))
  `
}

function promotedBy(kind: 'set' | 'list'): Promise<{ promoted: number; size: number }> {
  return moduleChildResult(churnScript(kind), ['--expose-gc'])
}

describe('OpenList', () => {
  it('keeps items in the order they were added and forgets removed ones', () => {
    const list = new OpenList<string>()
    const a = list.add('a')
    const b = list.add('b')
    const c = list.add('c')
    assert.deepEqual(list.items(), ['a', 'b', 'c'])
    b.remove()
    assert.deepEqual(list.items(), ['a', 'c'])
    a.remove()
    c.remove()
    assert.deepEqual(list.items(), [])
    assert.equal(list.size, 0)
    list.add('d')
    assert.deepEqual(list.items(), ['d'])
  })

  it('removing twice is harmless, and a removed entry holds nothing', () => {
    const list = new OpenList<object>()
    const first = list.add({ n: 1 })
    const second = list.add({ n: 2 })
    first.remove()
    first.remove()
    assert.equal(list.size, 1)
    assert.deepEqual(list.items(), [{ n: 2 }])
    assert.equal(first.item, undefined)
    assert.equal(first.next, undefined)
    assert.equal(first.list, undefined)
    second.remove()
    assert.equal(list.size, 0)
  })

  it('items() is a copy: entries may be removed while going through it', () => {
    const list = new OpenList<number>()
    const entries = [1, 2, 3].map((n) => list.add(n))
    for (const n of list.items()) entries[n - 1]?.remove()
    assert.equal(list.size, 0)
  })

  it('under churn after a full collection, keeps only the items in progress alive (a Set keeps them all)', async () => {
    const [set, list] = await Promise.all([promotedBy('set'), promotedBy('list')])
    assert.equal(set.size, 16)
    assert.equal(list.size, 16)
    // 20,000 items of ~1 KB went through each tracker, 16 in progress at any time: the Set's
    // given-up tables kept thousands of them alive into the old generation; OpenList let the
    // finished ones die young.
    assert.ok(set.promoted > 3 * MB, `control: the Set's churn promoted ${set.promoted} B`)
    assert.ok(list.promoted < 1 * MB, `OpenList's churn promoted ${list.promoted} B`)
  })
})
