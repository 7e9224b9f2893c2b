/**
 * DeadlineQueue: deadlines of one duration sharing one timer. Each must fire exactly when its
 * duration has passed (not when the head's timer happens to fire), cancelled ones never, and
 * the queue must keep at most one timer armed however many calls come and go.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DeadlineQueue } from '../../src/util/deadlines.ts'
import { ManualClock } from '../helpers/clock.ts'

describe('DeadlineQueue', () => {
  it('fires each deadline when its own duration has passed, in order', async () => {
    const clock = new ManualClock()
    const queue = new DeadlineQueue(100, clock)
    const fired: string[] = []
    queue.add(() => fired.push('a'))
    await clock.advance(30)
    queue.add(() => fired.push('b'))
    await clock.advance(69)
    assert.deepEqual(fired, [])
    await clock.advance(1)
    assert.deepEqual(fired, ['a'])
    await clock.advance(29)
    assert.deepEqual(fired, ['a'])
    await clock.advance(1)
    assert.deepEqual(fired, ['a', 'b'])
    assert.equal(queue.size, 0)
    assert.equal(clock.pending, 0, 'no timer stays armed for an empty queue')
  })

  it('never fires a cancelled deadline, and re-arms for the next one when the head is cancelled', async () => {
    const clock = new ManualClock()
    const queue = new DeadlineQueue(100, clock)
    const fired: string[] = []
    const first = queue.add(() => fired.push('first'))
    await clock.advance(50)
    const second = queue.add(() => fired.push('second'))
    const third = queue.add(() => fired.push('third'))
    first.cancel()
    second.cancel()
    second.cancel() // twice: harmless
    assert.equal(queue.size, 1)
    await clock.advance(50) // the first's timer fires with nothing due
    assert.deepEqual(fired, [])
    await clock.advance(49)
    assert.deepEqual(fired, [])
    await clock.advance(1)
    assert.deepEqual(fired, ['third'])
    third.cancel() // after it fired: harmless
    assert.equal(queue.size, 0)
  })

  it('keeps one timer for many deadlines, and a throwing callback does not stop the others', async () => {
    const clock = new ManualClock()
    const queue = new DeadlineQueue(10, clock)
    const fired: number[] = []
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.message)
    process.on('warning', onWarning)
    try {
      for (let i = 0; i < 1000; i++) {
        queue.add(() => {
          if (i === 0) throw new Error('boom')
          fired.push(i)
        })
      }
      assert.equal(clock.pending, 1)
      await clock.advance(10)
      assert.equal(fired.length, 999)
      assert.equal(queue.size, 0)
      assert.ok(warnings.some((w) => w.includes('boom')))
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('fires a deadline early only when asked and only within the slack', async () => {
    const clock = new ManualClock()
    const queue = new DeadlineQueue(100, clock)
    let fired = 0
    const deadline = queue.add(() => fired++)
    await clock.advance(90)
    assert.equal(deadline.fireIfDue(5), false)
    await clock.advance(6)
    assert.equal(deadline.fireIfDue(5), true)
    assert.equal(fired, 1)
    assert.equal(deadline.fireIfDue(5), false, 'once')
    await clock.advance(10)
    assert.equal(fired, 1)
  })

  it('waits out a deadline longer than a Node timer can, in steps', async () => {
    const clock = new ManualClock()
    const days = 40 * 24 * 3600 * 1000
    const queue = new DeadlineQueue(days, clock)
    let fired = false
    queue.add(() => {
      fired = true
    })
    await clock.advance(2 ** 31)
    assert.equal(fired, false)
    assert.equal(clock.pending, 1, 're-armed for the rest')
    await clock.advance(days - 2 ** 31)
    assert.equal(fired, true)
  })

  it('fires on the real clock too, without keeping the process alive by itself', {
    timeout: 5000,
  }, async () => {
    const { systemClock } = await import('../../src/util/clock.ts')
    const queue = new DeadlineQueue(5, systemClock)
    // The queue's timer is unref'd (a waiting call's socket keeps the process alive); here
    // nothing else would, so the test holds the loop open itself.
    const keepAlive = setInterval(() => {}, 1000)
    try {
      // Never firing would leave this promise pending until the test's timeout fails it.
      await new Promise<void>((resolve) => queue.add(resolve))
      assert.equal(queue.size, 0)
    } finally {
      clearInterval(keepAlive)
    }
  })
})
