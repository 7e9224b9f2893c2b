/**
 * upstream/http-client with upstream/request-deadlines, over real sockets: the client keeps
 * its requests' deadlines itself (undici's per-request timers are off). Its deadlines run on a
 * hand-driven clock here (deadlines are multiples of its 100 ms tick, so each falls on a tick),
 * and each case says what happens before and at the deadline without asserting on timings: an upstream that never sends its headers, or stops in the middle of a
 * body, is cut off as `upstream_timeout`; a reader that falls behind is not the upstream's
 * fault and is never cut off; a stream without a body deadline stays open while quiet. And the
 * reason for all this: undici's timers made every request's objects outlive young collections,
 * where the client's requests leave nothing behind (a child counting promoted bytes, against
 * undici with its timers as the control).
 */
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { PorticoError } from '../../src/errors.ts'
import { HttpClient } from '../../src/upstream/http-client.ts'
import { ManualClock } from '../helpers/clock.ts'
import { moduleChildResult, PROMOTED_BY_SCAVENGES } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const MB = 1024 * 1024
const EVENT = `data: ${'x'.repeat(64 * 1024)}\n\n`
const BIG_EVENTS = 64

let server: Server
let origin: string
/** Each request the server got, by path, with its response (left open by most handlers). */
const arrived = new EventEmitter()
const open: ServerResponse[] = []

before(async () => {
  server = createServer((req, res) => {
    req.resume()
    const path = req.url ?? '/'
    open.push(res)
    if (path === '/stall-json') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"jsonrpc":"2.0",')
    } else if (path.startsWith('/trickle-json')) {
      // Larger than read whole: streamed, a byte at a time as the test writes them.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' })
      res.write('{')
    } else if (path === '/stall-sse' || path === '/quiet') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(': open\n\n')
    } else if (path === '/big-sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (let i = 0; i < BIG_EVENTS; i++) res.write(EVENT)
      res.end()
    }
    // '/no-headers': nothing is sent.
    arrived.emit(path, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  for (const res of open) res.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

function client(clock: ManualClock, headersTimeoutMs = 30_000): HttpClient {
  return new HttpClient({ connectTimeoutMs: 5_000, headersTimeoutMs, clock })
}

/** Sends a GET and resolves once the server has it (the request is under way). */
async function sent(
  http: HttpClient,
  path: string,
  options: { timeoutMs?: number; whole?: boolean; wholeMessageDeadline?: boolean } = {},
) {
  const reached = once(arrived, path)
  const response = http.send({
    url: new URL(path, origin),
    method: 'GET',
    headers: {},
    label: 'the upstream',
    wholeBytes: options.whole ? 65_536 : 0,
    wholeMessageDeadline: options.wholeMessageDeadline === true,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  })
  const [res] = (await reached) as [ServerResponse]
  return { response, res, settled: settledFlag(response) }
}

function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false
  promise.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  return () => settled
}

async function assertTimedOut(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof PorticoError, String(error))
    assert.equal(error.reason, 'upstream_timeout')
    return true
  })
}

describe('upstream request deadlines', () => {
  it('cuts off an upstream that never sends its headers at the client timeout', async () => {
    const clock = new ManualClock()
    const http = client(clock, 300)
    try {
      const { response, settled } = await sent(http, '/no-headers')
      await clock.advance(299)
      assert.equal(settled(), false, 'still waiting before the deadline')
      await clock.advance(1)
      await assertTimedOut(response)
    } finally {
      await http.destroy()
    }
  })

  it("cuts off at a call's own deadline, before the client's", async () => {
    const clock = new ManualClock()
    const http = client(clock, 30_000)
    try {
      const { response, settled } = await sent(http, '/no-headers', { timeoutMs: 200 })
      await clock.advance(199)
      assert.equal(settled(), false)
      await clock.advance(1)
      await assertTimedOut(response)
    } finally {
      await http.destroy()
    }
  })

  it('cuts off a JSON answer whose body stops, when it is read whole', async () => {
    const clock = new ManualClock()
    const http = client(clock)
    try {
      const { response, settled } = await sent(http, '/stall-json', {
        timeoutMs: 300,
        whole: true,
      })
      await clock.advance(299)
      assert.equal(settled(), false, 'still reading before the deadline')
      await clock.advance(1)
      await assertTimedOut(response)
    } finally {
      await http.destroy()
    }
  })

  it('ends a streamed answer whose body stops with a timeout error', async () => {
    const clock = new ManualClock()
    const http = client(clock)
    try {
      const { response } = await sent(http, '/stall-sse', { timeoutMs: 300 })
      const answer = await response
      assert.equal(answer.status, 200)
      const reading = (async () => {
        for await (const _ of answer.body) {
          // the first comment arrives; then the upstream goes quiet
        }
      })()
      const ended = settledFlag(reading)
      await clock.advance(299)
      assert.equal(ended(), false)
      await clock.advance(1)
      await assert.rejects(reading, (error: Error) => error.name === 'BodyTimeoutError')
    } finally {
      await http.destroy()
    }
  })

  it('cuts off a JSON answer trickling a byte at a time once it is due whole (MCP answers), not forwarded traffic', async () => {
    const clock = new ManualClock()
    const http = client(clock)
    try {
      const outcomes: string[] = []
      for (const wholeMessageDeadline of [true, false]) {
        const path = `/trickle-json-${wholeMessageDeadline}`
        const { response, res } = await sent(http, path, {
          timeoutMs: 300,
          whole: true,
          wholeMessageDeadline,
        })
        const answer = await response
        let bytes = 0
        const reading = (async () => {
          for await (const chunk of answer.body) bytes += (chunk as Buffer).length
        })()
        const ended = settledFlag(reading)
        // The one left reading ends when the upstream closes, below.
        reading.catch(() => {})
        // A byte every 100 ms: never a 300 ms gap, but 300 ms after the headers and more.
        for (let i = 1; i <= 5 && !ended(); i++) {
          res.write('x')
          await until(() => bytes > i || ended() || undefined, 5000, 'the byte read')
          await clock.advance(100)
        }
        if (ended()) {
          await reading.then(
            () => outcomes.push('ended'),
            (error: Error) => outcomes.push(error.name),
          )
        } else outcomes.push(`still reading after ${bytes} bytes`)
        res.destroy()
      }
      assert.deepEqual(outcomes, ['BodyTimeoutError', 'still reading after 6 bytes'])
    } finally {
      await http.destroy()
    }
  })

  it('never cuts off a reader that falls behind (the gap is on its side)', async () => {
    const clock = new ManualClock()
    const http = client(clock)
    try {
      const { response } = await sent(http, '/big-sse', { timeoutMs: 150 })
      const answer = await response
      const body = answer.body
      // Not read: the stream fills up and undici pauses the upstream's socket.
      await until(() => body.readableLength >= body.readableHighWaterMark, 5000, 'a full stream')
      await clock.advance(150 * 10)
      let bytes = 0
      for await (const chunk of body) bytes += (chunk as Buffer).length
      assert.equal(bytes, BIG_EVENTS * Buffer.byteLength(EVENT))
    } finally {
      await http.destroy()
    }
  })

  it('keeps a stream without a body deadline open while it is quiet', async () => {
    const clock = new ManualClock()
    const http = client(clock, 150)
    try {
      const { response, res } = await sent(http, '/quiet')
      const answer = await response
      let text = ''
      const reading = (async () => {
        for await (const chunk of answer.body) text += String(chunk)
      })()
      await clock.advance(150 * 20)
      res.end('data: last\n\n')
      await reading
      assert.match(text, /data: last/, 'still open after twenty header deadlines')
    } finally {
      await http.destroy()
    }
  })

  it("leaves nothing of a request behind for the GC, unlike undici's timers", async () => {
    const script = (kind: 'client' | 'undici') => `
      import v8 from 'node:v8'
      import { createServer } from 'node:http'
      ${PROMOTED_BY_SCAVENGES}
      const { HttpClient } = await import(${JSON.stringify(new URL('../../src/upstream/http-client.js', import.meta.url).href)})
      const { Pool } = await import('undici')
      const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(200) } }))
      const server = createServer((req, res) => {
        req.resume()
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body))
      })
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
      const origin = 'http://127.0.0.1:' + server.address().port
      const request = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
      let one
      if (${JSON.stringify(kind)} === 'client') {
        const http = new HttpClient({ connectTimeoutMs: 5000, headersTimeoutMs: 30000 })
        const url = new URL('/mcp', origin)
        one = () => http.send({ url, method: 'POST', headers: {}, body: Buffer.from(request), label: 'u', wholeBytes: 65536, timeoutMs: 30000 })
      } else {
        const pool = new Pool(origin, { headersTimeout: 30000, bodyTimeout: 30000 })
        one = async () => (await pool.request({ path: '/mcp', method: 'POST', body: request })).body.arrayBuffer()
      }
      async function run(n) {
        let i = 0
        await Promise.all(Array.from({ length: 16 }, async () => { while (i++ < n) await one() }))
      }
      await run(2000)
      const profiler = new v8.GCProfiler()
      profiler.start()
      await run(20000)
      const { statistics } = profiler.stop()
      console.log(JSON.stringify({ promoted: promotedByScavenges(statistics) }))
      process.exit(0)
    `
    const [undici, kept] = await Promise.all([
      moduleChildResult<{ promoted: number }>(script('undici')),
      moduleChildResult<{ promoted: number }>(script('client')),
    ])
    // Measured over 20,000 requests: undici with its timers ~2.6 MB (1.7 MB once, on a loaded
    // machine), without them (or the client) ~0.7 MB, the server's share included. The control
    // shows that the bar the client must stay under catches undici's timers.
    const BAR = 1.3 * MB
    assert.ok(undici.promoted > BAR, `control: undici's timers promoted ${undici.promoted} B`)
    assert.ok(kept.promoted < BAR, `the client promoted ${kept.promoted} B`)
  })
})
