/**
 * upstream/request-deadlines: upstream requests' deadlines checked by one timer per client,
 * walked through time with a hand-driven clock. A deadline fires once, at the first tick at or
 * after it; one unwatched never fires; a new deadline replaces the old one (a body chunk moves
 * it on); the timer runs only while requests are watched; one item's failure does not stop the
 * others'.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Due, RequestDeadlines } from '../../src/upstream/request-deadlines.ts'
import { ManualClock } from '../helpers/clock.ts'

const TICK = 100

class Item implements Due {
  dueAt = 0
  dueList: RequestDeadlines | undefined = undefined
  duePrev: Due | undefined = undefined
  dueNext: Due | undefined = undefined
  readonly expiredAt: number[] = []
  readonly #clock: ManualClock
  readonly #fail: boolean

  constructor(clock: ManualClock, fail = false) {
    this.#clock = clock
    this.#fail = fail
  }

  expire(): void {
    this.expiredAt.push(this.#clock.now())
    if (this.#fail) throw new Error('cannot stop')
  }
}

function setUp(): { clock: ManualClock; deadlines: RequestDeadlines; start: number } {
  const clock = new ManualClock()
  return { clock, deadlines: new RequestDeadlines(TICK, clock), start: clock.now() }
}

describe('RequestDeadlines', () => {
  it('expires each item once, at the first tick at or after its deadline, and forgets it', async () => {
    const { clock, deadlines, start } = setUp()
    const early = new Item(clock)
    const late = new Item(clock)
    deadlines.watch(early, 250)
    deadlines.watch(late, 1000)
    assert.equal(deadlines.size, 2)
    await clock.advance(299)
    assert.deepEqual(early.expiredAt, [], 'the next tick is at 300 ms')
    await clock.advance(1)
    assert.deepEqual(early.expiredAt, [start + 300], 'at the tick after 250 ms')
    assert.equal(early.dueList, undefined, 'an expired item is no longer watched')
    await clock.advance(699)
    assert.deepEqual(late.expiredAt, [], 'not before its deadline')
    await clock.advance(1)
    assert.deepEqual(late.expiredAt, [start + 1000])
    await clock.advance(1000)
    assert.equal(early.expiredAt.length, 1, 'once')
    assert.equal(deadlines.size, 0)
  })

  it('never expires an item unwatched before its deadline, and clears its links', async () => {
    const { clock, deadlines } = setUp()
    const [a, b, c] = [new Item(clock), new Item(clock), new Item(clock)]
    for (const item of [a, b, c]) deadlines.watch(item, 200)
    deadlines.unwatch(b)
    deadlines.unwatch(b)
    assert.equal(b.dueList, undefined)
    assert.equal(b.duePrev, undefined)
    assert.equal(b.dueNext, undefined)
    assert.equal(a.dueNext, c, 'its neighbours are linked to each other')
    assert.equal(c.duePrev, a)
    await clock.advance(500)
    assert.deepEqual([a.expiredAt.length, b.expiredAt.length, c.expiredAt.length], [1, 0, 1])
  })

  it('takes a new deadline for an item already watched (a body chunk moves it on)', async () => {
    const { clock, deadlines } = setUp()
    const item = new Item(clock)
    deadlines.watch(item, 300)
    await clock.advance(250)
    deadlines.watch(item, 300)
    assert.equal(deadlines.size, 1, 'still one entry')
    await clock.advance(250)
    assert.deepEqual(item.expiredAt, [], 'the first deadline no longer holds')
    await clock.advance(100)
    assert.equal(item.expiredAt.length, 1)
  })

  it('runs its timer only while items are watched', async () => {
    const { clock, deadlines } = setUp()
    assert.equal(deadlines.ticking, false)
    const item = new Item(clock)
    deadlines.watch(item, 10_000)
    assert.equal(deadlines.ticking, true)
    assert.equal(clock.pending, 1, 'one timer, however many items')
    deadlines.watch(new Item(clock), 10_000)
    assert.equal(clock.pending, 1)
    deadlines.stop()
    deadlines.unwatch(item)
    const other = new Item(clock)
    deadlines.watch(other, 10_000)
    deadlines.unwatch(other)
    await clock.advance(TICK)
    assert.equal(deadlines.ticking, true, 'a request came during the last tick')
    await clock.advance(TICK)
    assert.equal(deadlines.size, 1)
    assert.equal(deadlines.ticking, true, 'one is still watched')
  })

  it('stops after a tick with nothing watched, and starts again with the next request', async () => {
    const { clock, deadlines } = setUp()
    const item = new Item(clock)
    deadlines.watch(item, 10_000)
    deadlines.unwatch(item)
    await clock.advance(TICK * 3)
    assert.equal(deadlines.ticking, false)
    assert.equal(clock.pending, 0, 'no timer left')
    deadlines.watch(item, 150)
    assert.equal(deadlines.ticking, true, 'started again')
    await clock.advance(200)
    assert.equal(item.expiredAt.length, 1)
  })

  it("expires the others when one item's expire throws", async () => {
    const { clock, deadlines } = setUp()
    const failing = new Item(clock, true)
    const other = new Item(clock)
    deadlines.watch(failing, 50)
    deadlines.watch(other, 50)
    await clock.advance(TICK)
    assert.equal(failing.expiredAt.length, 1)
    assert.equal(other.expiredAt.length, 1)
  })
})
