/** The system clock's timers: a duration past Node's 2^31 - 1 ms limit waits, not fires at once. */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { systemClock } from '../../src/util/clock.ts'

it('a timer of 30 days does not fire after 1 ms (Node overflows past 24.8 days)', async () => {
  let fired = false
  const timer = systemClock.setTimeout(() => (fired = true), 30 * 24 * 3600 * 1000, true)
  await new Promise((resolve) => setTimeout(resolve, 50))
  systemClock.clearTimeout(timer)
  assert.equal(fired, false)
})
