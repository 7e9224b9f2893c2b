/**
 * upstream/http-client with upstream/request-deadlines, over real sockets: the client keeps
 * its requests' deadlines itself (undici's per-request timers are off). An upstream that never
 * sends its headers, or stops in the middle of a body, is cut off at the deadline (at most a
 * tick late) as `upstream_timeout`; a reader that falls behind is not the upstream's fault and
 * is never cut off; a stream without a body deadline stays open while quiet. And the reason
 * for all this: undici's timers made every request's objects outlive young collections, where
 * the client's requests leave nothing behind (a child counting promoted bytes, against undici
 * with its timers as the control).
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { PorticoError } from '../../src/errors.ts'
import { HttpClient } from '../../src/upstream/http-client.ts'
import { REQUEST_DEADLINE_TICK_MS } from '../../src/upstream/request-deadlines.ts'
import { moduleChildResult, PROMOTED_BY_SCAVENGES } from '../helpers/processes.ts'

const MB = 1024 * 1024
/** What a deadline may run late: a tick, and a busy test machine's scheduling. */
const LATE_MS = REQUEST_DEADLINE_TICK_MS + 400

let server: Server
let origin: string
/** Streams left open by the handlers, ended when the suite ends. */
const open: ServerResponse[] = []

before(async () => {
  server = createServer((req, res) => {
    req.resume()
    const path = req.url ?? '/'
    if (path === '/no-headers') {
      open.push(res)
      return
    }
    if (path === '/stall-json') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"jsonrpc":"2.0",')
      open.push(res)
      return
    }
    if (path === '/stall-sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('event: message\ndata: {}\n\n')
      open.push(res)
      return
    }
    if (path === '/big-sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const event = `data: ${'x'.repeat(64 * 1024)}\n\n`
      for (let i = 0; i < 64; i++) res.write(event)
      res.end()
      return
    }
    if (path === '/quiet-then-end') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(': open\n\n')
      setTimeout(() => res.end('data: last\n\n'), 600)
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  for (const res of open) res.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

function client(headersTimeoutMs = 30_000): HttpClient {
  return new HttpClient({ connectTimeoutMs: 5_000, headersTimeoutMs })
}

function send(
  http: HttpClient,
  path: string,
  options: { timeoutMs?: number; whole?: boolean } = {},
) {
  return http.send({
    url: new URL(path, origin),
    method: 'GET',
    headers: {},
    label: 'the upstream',
    wholeBytes: options.whole ? 65_536 : 0,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  })
}

async function timedOut(promise: Promise<unknown>): Promise<number> {
  const started = performance.now()
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof PorticoError, String(error))
    assert.equal(error.reason, 'upstream_timeout')
    return true
  })
  return performance.now() - started
}

describe('upstream request deadlines', () => {
  it('cuts off an upstream that never sends its headers at the client timeout', async () => {
    const http = client(300)
    try {
      const elapsed = await timedOut(send(http, '/no-headers'))
      assert.ok(elapsed >= 290 && elapsed < 300 + LATE_MS, `after ${elapsed} ms`)
    } finally {
      await http.destroy()
    }
  })

  it("cuts off at a call's own deadline, before the client's", async () => {
    const http = client(30_000)
    try {
      const elapsed = await timedOut(send(http, '/no-headers', { timeoutMs: 200 }))
      assert.ok(elapsed >= 190 && elapsed < 200 + LATE_MS, `after ${elapsed} ms`)
    } finally {
      await http.destroy()
    }
  })

  it('cuts off a JSON answer whose body stops, when it is read whole', async () => {
    const http = client()
    try {
      const elapsed = await timedOut(send(http, '/stall-json', { timeoutMs: 250, whole: true }))
      assert.ok(elapsed >= 240 && elapsed < 250 + LATE_MS, `after ${elapsed} ms`)
    } finally {
      await http.destroy()
    }
  })

  it('ends a streamed answer whose body stops with a timeout error', async () => {
    const http = client()
    try {
      const response = await send(http, '/stall-sse', { timeoutMs: 250 })
      assert.equal(response.status, 200)
      const started = performance.now()
      await assert.rejects(
        (async () => {
          for await (const _ of response.body) {
            // the first event arrives; then the upstream goes quiet
          }
        })(),
        (error: Error) => error.name === 'BodyTimeoutError',
      )
      const elapsed = performance.now() - started
      assert.ok(elapsed < 250 + LATE_MS, `after ${elapsed} ms`)
    } finally {
      await http.destroy()
    }
  })

  it('never cuts off a reader that falls behind (the gap is on its side)', async () => {
    const http = client()
    try {
      const response = await send(http, '/big-sse', { timeoutMs: 150 })
      // 4 MB waiting on a reader that does not read for 5 deadlines: undici pauses the socket.
      await sleep(750)
      let bytes = 0
      for await (const chunk of response.body) bytes += (chunk as Buffer).length
      assert.equal(bytes, 64 * (64 * 1024 + 8))
    } finally {
      await http.destroy()
    }
  })

  it('keeps a stream without a body deadline open while it is quiet', async () => {
    const http = client(150)
    try {
      const response = await send(http, '/quiet-then-end')
      let text = ''
      for await (const chunk of response.body) text += String(chunk)
      assert.match(text, /data: last/, 'quiet for 600 ms, four times the header deadline')
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
    // Measured over 20,000 requests: undici with its timers ~2.6 MB, without them (or the
    // client) ~0.7 MB, the server's share included.
    assert.ok(undici.promoted > 1.8 * MB, `control: undici's timers promoted ${undici.promoted} B`)
    assert.ok(kept.promoted < 1.3 * MB, `the client promoted ${kept.promoted} B`)
  })
})
