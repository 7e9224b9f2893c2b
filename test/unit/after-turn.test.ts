/**
 * `afterTurn`: tasks run after the current turn (not synchronously, not before a promise
 * callback queued in the same turn), in order, all of a turn's in one pass; a throwing task
 * does not stop the others; tasks queued while the pass runs still run.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { afterTurn } from '../../src/util/after-turn.ts'

describe('afterTurn', () => {
  it('runs tasks after the turn, in order, past a throwing one and including late ones', async () => {
    const ran: string[] = []
    afterTurn(() => ran.push('a'))
    afterTurn(() => {
      throw new Error('boom')
    })
    afterTurn(() => {
      ran.push('b')
      afterTurn(() => ran.push('late'))
    })
    void Promise.resolve().then(() => ran.push('microtask'))
    assert.equal(ran.length, 0)
    await nextTurn()
    assert.deepEqual(ran, ['microtask', 'a', 'b', 'late'])
    afterTurn(() => ran.push('next pass'))
    await nextTurn()
    assert.equal(ran.length, 5)
    assert.equal(ran[4], 'next pass')
  })
})
