/** Counters read from sources a reload replaces never go back (src/metrics/readings.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Readings } from '../../src/metrics/readings.ts'

describe('Readings', () => {
  it('publishes a reading as it is while it only grows', () => {
    const readings = new Readings(10)
    assert.deepEqual(
      [0, 2, 2, 5].map((reading) => readings.published('a', reading)),
      [0, 2, 2, 5],
    )
  })

  it('carries the last reading over when its source starts again from 0', () => {
    const readings = new Readings(10)
    assert.deepEqual(
      [3, 0, 1, 4, 2].map((reading) => readings.published('a', reading)),
      [3, 3, 4, 7, 9],
    )
    assert.equal(readings.published('b', 1), 1, 'each series on its own')
  })

  it('forgets the series read least recently past its bound', () => {
    const readings = new Readings(2)
    readings.published('a', 5)
    readings.published('b', 5)
    readings.published('a', 0) // a is read again (its base is 5 now); b is the oldest
    readings.published('c', 1) // evicts b
    assert.equal(readings.published('a', 1), 6, 'a kept its base')
    assert.equal(readings.published('b', 1), 1, 'b was forgotten: it starts over')
  })
})
