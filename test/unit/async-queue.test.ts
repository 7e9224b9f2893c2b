import assert from 'node:assert/strict'
import { it } from 'node:test'
import { AsyncQueue } from '../../src/util/async-queue.ts'

async function drain<T>(queue: AsyncQueue<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of queue) out.push(item)
  return out
}

it('drops the oldest items past the count bound', async () => {
  const queue = new AsyncQueue<number>(3)
  for (let i = 1; i <= 5; i++) queue.push(i)
  queue.end()
  assert.deepEqual(await drain(queue), [3, 4, 5])
  assert.equal(queue.dropped, 2)
})

it('drops the oldest items past the byte bound, and counts the bytes it keeps', async () => {
  const queue = new AsyncQueue<string>(100, 10)
  queue.push('a', 4)
  queue.push('b', 4)
  assert.equal(queue.bytes, 8)
  queue.push('c', 4)
  assert.equal(queue.bytes, 8)
  assert.equal(queue.dropped, 1)
  queue.end()
  assert.deepEqual(await drain(queue), ['b', 'c'])
  assert.equal(queue.bytes, 0)
})

it('always keeps the newest item, even one larger than the byte bound', async () => {
  const queue = new AsyncQueue<string>(100, 10)
  queue.push('small', 2)
  queue.push('answer', 50)
  queue.end()
  assert.deepEqual(await drain(queue), ['answer'])
  assert.equal(queue.dropped, 1)
})

it('gives the consumer what was pushed while it waited, then its failure', async () => {
  const queue = new AsyncQueue<number>(10, 100)
  const seen: number[] = []
  const consuming = (async () => {
    for await (const item of queue) seen.push(item)
  })()
  queue.push(1, 1)
  await new Promise((resolve) => setImmediate(resolve))
  queue.push(2, 1)
  queue.fail(new Error('gone'))
  await assert.rejects(consuming, /gone/)
  assert.deepEqual(seen, [1, 2])
})

it('room: a producer waits while the consumer lags, and is let go once it catches up', async () => {
  const queue = new AsyncQueue<string>(100, 1000)
  assert.equal(queue.room(10), undefined, 'nothing waits: room at once')
  queue.push('a', 8)
  queue.push('b', 8)
  const waiting = queue.room(10)
  assert.ok(waiting, 'over the mark: the producer waits')
  let released = false
  void waiting.then(() => {
    released = true
  })
  const iterator = queue[Symbol.asyncIterator]()
  await iterator.next()
  await Promise.resolve()
  assert.equal(released, true, 'one taken brings the bytes to the mark')
})

it('room: a consumer that stops, or a queue that ends, lets every producer go', async () => {
  const queue = new AsyncQueue<string>(100, 1000)
  queue.push('a', 50)
  const iterator = queue[Symbol.asyncIterator]()
  queue.push('b', 50)
  await iterator.next()
  const waiting = queue.room(10)
  assert.ok(waiting)
  await iterator.return(undefined)
  await waiting
  assert.equal(queue.room(10), undefined, 'nobody reads any more: no producer is held')
  const ended = new AsyncQueue<string>(100, 1000)
  ended.push('x', 50)
  const held = ended.room(10)
  assert.ok(held)
  ended.end()
  await held
})
