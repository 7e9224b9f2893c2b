import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { KeyedThrottle } from '../../src/util/keyed-throttle.ts'

describe('KeyedThrottle', () => {
  let ran: string[]
  let throttle: KeyedThrottle<string>
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] })
    ran = []
    throttle = new KeyedThrottle<string>(1000, (value) => ran.push(value), 3)
  })
  afterEach(() => {
    throttle.clear()
    mock.timers.reset()
  })

  it("runs a key's first value at once and folds the rest of its window into the latest", () => {
    throttle.push('a', 'a1')
    throttle.push('a', 'a2')
    throttle.push('a', 'a3')
    throttle.push('b', 'b1')
    assert.deepEqual(ran, ['a1', 'b1'])
    mock.timers.tick(1000)
    assert.deepEqual(ran, ['a1', 'b1', 'a3'])
    // a's next window: a value is held again; b, quiet for a window, is forgotten.
    throttle.push('a', 'a4')
    throttle.push('b', 'b2')
    assert.deepEqual(ran, ['a1', 'b1', 'a3', 'b2'])
    mock.timers.tick(1000)
    assert.deepEqual(ran, ['a1', 'b1', 'a3', 'b2', 'a4'])
  })

  it('forgets a key after a quiet window: its next value runs at once', () => {
    throttle.push('a', 'a1')
    mock.timers.tick(1000)
    mock.timers.tick(1000)
    throttle.push('a', 'a2')
    assert.deepEqual(ran, ['a1', 'a2'])
  })

  it('runs every value at once for keys beyond its bound (the table stays bounded)', () => {
    for (const key of ['a', 'b', 'c', 'd', 'd']) throttle.push(key, key)
    assert.deepEqual(ran, ['a', 'b', 'c', 'd', 'd'])
  })

  it('runs nothing held once cleared', () => {
    throttle.push('a', 'a1')
    throttle.push('a', 'a2')
    throttle.clear()
    mock.timers.tick(5000)
    assert.deepEqual(ran, ['a1'])
  })
})
