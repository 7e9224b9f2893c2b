/**
 * BatchPoster: elements written into the open batch as they come must reach the endpoint as
 * well-formed bodies (prefix, elements joined by commas, suffix), split at `batchSize`, the
 * partial batch sent once the interval is over, what is left sent on close, and the counts
 * (sent, pending, dropped) must add up, and an answer that trickles is given up at the deadline
 * and the batch sent again. A real HTTP receiver on a real socket.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { BatchPoster, jsonArray } from '../../src/observe/batch-post.ts'
import { until } from '../helpers/wait.ts'

function posterTo(
  url: string,
  bounds: { batchSize: number; flushIntervalMs: number; maxBuffer: number },
  [prefix, suffix]: [string, string],
): BatchPoster {
  return new BatchPoster({
    name: 'test',
    url,
    maxAttempts: 1,
    format: jsonArray(prefix, suffix),
    ...bounds,
  })
}

describe('BatchPoster', () => {
  let server: Server
  let url = ''
  const bodies: unknown[] = []

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        res.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('sends full batches at once, the rest after the interval, as one JSON body each', async () => {
    bodies.length = 0
    const poster = posterTo(url, { batchSize: 3, flushIntervalMs: 50, maxBuffer: 100 }, [
      '{"items":[',
      ']}',
    ])
    try {
      for (let i = 0; i < 7; i++) poster.push(JSON.stringify({ i, text: `é${i}"` }))
      const deadline = Date.now() + 5000
      while ((poster.pipeStats().sent ?? 0) < 7 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.deepEqual(poster.pipeStats(), { sent: 7, dropped: 0, pending: 0, failed: 0 })
      assert.deepEqual(
        bodies.map((b) => (b as { items: Array<{ i: number }> }).items.map((item) => item?.i)),
        [[0, 1, 2], [3, 4, 5], [6]],
      )
      assert.deepEqual((bodies[0] as { items: unknown[] }).items[1], { i: 1, text: 'é1"' })
    } finally {
      await poster.close()
    }
  })

  it('drops and counts what exceeds the bound, and sends what is left on close', async () => {
    bodies.length = 0
    const poster = posterTo(url, { batchSize: 100, flushIntervalMs: 60_000, maxBuffer: 4 }, [
      '[',
      ']',
    ])
    for (let i = 0; i < 6; i++) poster.push(String(i))
    assert.deepEqual(poster.pipeStats(), { sent: 0, dropped: 2, pending: 4, failed: 0 })
    await poster.close()
    assert.deepEqual(bodies, [[0, 1, 2, 3]])
    assert.equal(poster.pipeStats().sent, 4)
    poster.push('9')
    assert.equal(poster.pipeStats().dropped, 3, 'closed: dropped and counted')
  })

  it('bounds the bytes waiting too, whatever each element holds', () => {
    // An endpoint that never answers: nothing leaves, everything waits.
    const poster = posterTo(
      'http://127.0.0.1:9/never',
      { batchSize: 1_000_000, flushIntervalMs: 60_000, maxBuffer: 1_000_000 },
      ['[', ']'],
    )
    const megabyte = JSON.stringify('x'.repeat(1024 * 1024))
    for (let i = 0; i < 100; i++) poster.push(megabyte)
    const { pending, dropped } = poster.pipeStats()
    assert.ok(pending <= 65, `${pending} MB waiting`)
    assert.equal(pending + dropped, 100)
    void poster.close()
  })

  it('gives up an answer that trickles at its deadline, and sends the batch again', {
    timeout: 20_000,
  }, async () => {
    // The first POST is answered with a head and then a byte now and then, never the end.
    let posts = 0
    const delivered: unknown[] = []
    const trickler = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        posts++
        if (posts > 1) {
          delivered.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
          res.end()
          return
        }
        res.writeHead(200)
        const timer = setInterval(() => res.write(' '), 50)
        res.on('close', () => clearInterval(timer))
      })
    })
    await new Promise<void>((resolve) => trickler.listen(0, '127.0.0.1', resolve))
    const port = (trickler.address() as AddressInfo).port
    const poster = new BatchPoster({
      name: 'test',
      url: `http://127.0.0.1:${port}/in`,
      maxAttempts: 3,
      format: jsonArray('[', ']'),
      batchSize: 1,
      flushIntervalMs: 10,
      maxBuffer: 10,
      timeoutMs: 300,
    })
    try {
      poster.push('{"n":1}')
      // Counted sent once its answer is read, a moment after the receiver has the batch.
      await until(() => poster.pipeStats().sent === 1 || undefined, 10_000, 'the batch sent again')
      assert.deepEqual(delivered, [[{ n: 1 }]])
    } finally {
      // Closed whatever the outcome: a trickle left running held the test file for its timeout.
      await poster.close()
      trickler.closeAllConnections()
      trickler.close()
    }
  })
})
