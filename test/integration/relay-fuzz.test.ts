/**
 * Seeded random frames from tunnels against the relay (in process, real WebSockets and HTTP on
 * 127.0.0.1): each stream the relay opens is answered with a random run of frames (heads good
 * and bad, body bytes past the window, ends, resets, grants, pings, frames for other streams,
 * silence, the socket closed or cut), and a tunnel the relay closes registers again. What must
 * hold whatever comes: every public request gets an answer's head or a closed connection within
 * `response_timeout` and a little more (never a wait without end), the relay's health answers,
 * and a well-behaved tunnel registered afterwards is served. A failure names the seed, which
 * fixes the frames each stream is dealt but not how the streams interleave (timing decides
 * that), so a failing run is rerun a few times rather than replayed exactly.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import type { Relay } from '../../src/relay/server.ts'
import {
  decodeFrame,
  encodeFrame,
  encodeJson,
  encodeWindow,
  FrameType,
  PROTOCOL_VERSION,
} from '../../src/tunnel/frames.ts'
import { firstLineToExpect } from '../helpers/expect-continue.ts'
import { type Random, seeded } from '../helpers/random.ts'
import { startTestRelay } from '../helpers/relay.ts'

const SEED = 20261205
const RESPONSE_TIMEOUT_MS = 1000
const SUBDOMAINS = ['r1', 'r2', 'r3']

/** One random frame (or act on the socket) for stream `s`; the fatal ones are rare. */
function randomFrame(random: Random, ws: WebSocket, s: number): void {
  const send = (frame: Buffer | string) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(frame)
  }
  const head = () =>
    random.pick<unknown>([
      { status: 200, headers: ['content-type', 'text/plain'] },
      { status: 200, headers: ['content-type', 'text/event-stream'] },
      { status: random.pick([100, 204, 304, 599, 600, 0, 200.5, '200']), headers: [] },
      { status: 200, headers: ['content-length', String(random.next(100))] },
      { status: 200, headers: ['bad name', 'v'] },
      { status: 200, headers: ['x', 'a\r\nb'] },
      { status: 200, headers: ['x'] },
      { status: 200 },
      [],
      null,
    ])
  // Rare: a frame that closes the tunnel, or the socket closed or cut.
  const fatal: Array<() => void> = [
    () => send(encodeFrame(FrameType.Ping, 0, Buffer.alloc(100))),
    () => send(encodeJson(FrameType.Registered, 0, {})),
    () => send(Buffer.from([255, 0, 0, 0, 1])),
    () => send('text'),
    () => ws.close(1000),
    () => ws.terminate(),
  ]
  const common: Array<() => void> = [
    () => send(encodeJson(FrameType.Head, s, head())),
    () => send(encodeJson(FrameType.Head, s, head())),
    () => send(encodeFrame(FrameType.Head, s, Buffer.from(random.pick(['{', '', 'null'])))),
    () => send(encodeFrame(FrameType.Data, s, Buffer.alloc(random.pick([0, 10, 70_000]), 97))),
    () => send(encodeFrame(FrameType.Data, s, Buffer.alloc(random.pick([0, 10, 70_000]), 97))),
    () => send(encodeFrame(FrameType.End, s)),
    () => send(encodeFrame(FrameType.End, s)),
    () => send(encodeFrame(FrameType.Reset, s, Buffer.from('bye'))),
    () => send(encodeWindow(s, random.pick([0, 1, 2 ** 32 - 1]))),
    () => send(encodeFrame(FrameType.Data, s + 1, Buffer.from('zz'))),
    () => send(encodeFrame(FrameType.Pong, 0, Buffer.alloc(8))),
    // Nothing: a tunnel can fall silent at any point.
    () => {},
  ]
  random.pick(random.next(100) < 5 ? fatal : common)()
}

describe('relay against random tunnel frames', () => {
  const random = seeded(SEED)
  const sockets = new Set<WebSocket>()
  let relay: Relay
  let port: number
  let stopped = false

  /** A tunnel answering each stream with up to five random frames; registers again when closed. */
  async function rogue(subdomain: string): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    sockets.add(ws)
    ws.on('error', () => {})
    ws.on('close', () => {
      sockets.delete(ws)
      if (!stopped) setTimeout(() => void rogue(subdomain).catch(() => {}), 20)
    })
    await once(ws, 'open')
    ws.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, token: 't', subdomain }))
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data)
      if (frame?.type === FrameType.Ping) ws.send(encodeFrame(FrameType.Pong, 0, frame.payload))
      if (frame?.type !== FrameType.Open) return
      let left = random.next(6)
      const step = () => {
        if (left-- <= 0 || ws.readyState !== WebSocket.OPEN) return
        randomFrame(random, ws, frame.stream)
        if (random.next(2) === 0) setImmediate(step)
        else setTimeout(step, random.next(20))
      }
      step()
    })
  }

  /**
   * A public request; its status once the head came (a tunnel may keep a body open as long as
   * it likes: an event stream's is), a connection error, or 'no answer' past the bound.
   */
  function publicRequest(host: string, method: string, body?: Buffer, path = '/mcp') {
    return new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers: { host } })
      const timer = setTimeout(() => {
        resolve('no answer')
        req.destroy()
      }, RESPONSE_TIMEOUT_MS + 3000)
      req.on('response', (res) => {
        clearTimeout(timer)
        resolve(String(res.statusCode))
        res.destroy()
      })
      req.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        resolve(error.code ?? error.message)
      })
      req.end(body)
    })
  }

  before(async () => {
    ;({ relay, port } = await startTestRelay({
      max_streams: 8,
      max_response_body_size: 200_000,
      max_request_body_size: 100_000,
      response_timeout: `${RESPONSE_TIMEOUT_MS}ms`,
      requests_per_second: 1000,
    }))
    for (const subdomain of SUBDOMAINS) await rogue(subdomain)
  })

  after(async () => {
    stopped = true
    for (const ws of sockets) ws.terminate()
    await relay.close()
  })

  it('a body declared over max_request_body_size with Expect: 100-continue gets 413 at once', async () => {
    const line = await firstLineToExpect(port, {
      method: 'POST',
      path: '/mcp',
      host: `${SUBDOMAINS[0]}.relay.test:${port}`,
      length: 5_000_000,
    })
    assert.equal(line, 'HTTP/1.1 413 Payload Too Large')
  })

  it(`every public request is answered or closed in bounded time (seed ${SEED})`, async () => {
    const outcomes = new Map<string, number>()
    for (let wave = 0; wave < 20; wave++) {
      const batch = Array.from({ length: 10 }, () => {
        const method = random.pick(['GET', 'POST', 'DELETE'])
        const body = method === 'POST' ? Buffer.alloc(random.pick([0, 10, 150_000]), 98) : undefined
        const host = `${random.pick(SUBDOMAINS)}.relay.test:${port}`
        return publicRequest(host, method, body)
      })
      for (const outcome of await Promise.all(batch)) {
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
      }
    }
    const summary = JSON.stringify(Object.fromEntries(outcomes))
    assert.equal(outcomes.get('no answer'), undefined, `seed ${SEED}: ${summary}`)
    // The random tunnels reached both the relay's answers and the tunnels' own.
    assert.ok((outcomes.get('502') ?? 0) > 0 && (outcomes.get('504') ?? 0) > 0, summary)
  })

  it('keeps serving: health, and a well-behaved tunnel answers', async () => {
    stopped = true
    const health = await publicRequest(`relay.test:${port}`, 'GET', undefined, '/healthz')
    assert.equal(health, '200')
    const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    sockets.add(ws)
    await once(ws, 'open')
    ws.send(
      encodeJson(FrameType.Register, 0, {
        version: PROTOCOL_VERSION,
        token: 'g',
        subdomain: 'good',
      }),
    )
    await once(ws, 'message')
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data)
      if (frame?.type !== FrameType.Open) return
      ws.send(encodeJson(FrameType.Head, frame.stream, { status: 200, headers: [] }))
      ws.send(encodeFrame(FrameType.Data, frame.stream, Buffer.from('fine')))
      ws.send(encodeFrame(FrameType.End, frame.stream))
    })
    assert.equal(await publicRequest(`good.relay.test:${port}`, 'GET'), '200')
  })
})
