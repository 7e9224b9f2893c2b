/**
 * util/idle-memory: after a burst grew V8's young generation, a quiet process gives it back.
 * V8 settings and heap sizes belong to a whole process, so each case runs in a child of its
 * own; the same burst and the same quiet without the trimmer show that V8 alone keeps it grown
 * (so what shrinks it is the trimmer). The children run side by side: each idles for seconds.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { moduleChildResult } from '../helpers/processes.ts'

const IDLE_MEMORY = new URL('../../src/util/idle-memory.js', import.meta.url).href
const MB = 1024 * 1024
/** Longer than the trimmer needs (V8 looks back 5 s; the trimmer ticks each second). */
const QUIET_MS = 11_000

interface Figures {
  rested: number
  grown: number
  after: number
  /** `gc` is not left on the global object, nor on contexts made afterwards. */
  gcExposed: boolean
}

/** A burst with many objects alive at each collection (as a proxy's in-flight calls are), then quiet. */
function burstThenQuiet(trim: boolean): Promise<Figures> {
  return moduleChildResult<Figures>(`
    import v8 from 'node:v8'
    import { runInNewContext } from 'node:vm'
    const { trimYoungGenerationWhenIdle } = await import(${JSON.stringify(IDLE_MEMORY)})
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
    const rested = newSpace()
    const trimmer = ${trim} ? trimYoungGenerationWhenIdle() : undefined
    let alive = []
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 200000; i++) {
        alive.push({ i, list: [i] })
        if (alive.length > 50000) alive = []
      }
    }
    alive = []
    const grown = newSpace()
    await new Promise((resolve) => setTimeout(resolve, ${QUIET_MS}))
    trimmer?.stop()
    const gcExposed = typeof globalThis.gc === 'function' || runInNewContext('typeof gc') === 'function'
    console.log(JSON.stringify({ rested, grown, after: newSpace(), gcExposed }))
  `)
}

describe('idle-memory', () => {
  it('gives back the young generation a burst grew once the process is quiet', async () => {
    const [trimmed, untouched] = await Promise.all([burstThenQuiet(true), burstThenQuiet(false)])
    assert.ok(untouched.grown >= 8 * MB, `the burst grows it (${untouched.grown})`)
    assert.ok(
      untouched.after >= 8 * MB,
      `V8 alone keeps it grown through the quiet (${untouched.after})`,
    )
    assert.ok(trimmed.grown >= 8 * MB, `grown under the trimmer too (${trimmed.grown})`)
    assert.ok(
      trimmed.after <= trimmed.rested,
      `back to its rested size: ${trimmed.after} bytes, rested ${trimmed.rested}`,
    )
    assert.equal(trimmed.gcExposed, false)
  })
})
