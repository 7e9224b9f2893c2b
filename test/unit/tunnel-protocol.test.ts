/**
 * The tunnel protocol's pieces: frame encoding, flow-control windows, the multiplexer over a
 * real WebSocket on 127.0.0.1 (a reader that never reads stalls only its own stream), relay
 * token modes and subdomain patterns, and the relay URL mapping.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { parseConfig } from '../../src/config/schema.ts'
import { matchesPattern, pickSubdomain, RelayAuth } from '../../src/relay/auth.ts'
import { hostOnlyCookies } from '../../src/relay/server.ts'
import { relaySettings } from '../../src/relay/settings.ts'
import { registerUrl } from '../../src/tunnel/client.ts'
import { ReceiveWindow, SendWindow } from '../../src/tunnel/flow.ts'
import {
  CloseCode,
  decodeFrame,
  encodeFrame,
  encodeJson,
  encodeWindow,
  endToEnd,
  FrameType,
  payloadObject,
  windowIncrement,
} from '../../src/tunnel/frames.ts'
import { DEFAULT_MUX, Mux, type TunnelStream } from '../../src/tunnel/mux.ts'
import { listenOnZero, REFUSED_ORIGIN } from '../helpers/ports.ts'
import { until } from '../helpers/wait.ts'

describe('tunnel frames', () => {
  it('round-trips type, stream id and raw payload bytes', () => {
    const payload = Buffer.from([0, 1, 2, 255, 254])
    const frame = decodeFrame(encodeFrame(FrameType.Data, 0xfffffffe, payload))
    assert.equal(frame?.type, FrameType.Data)
    assert.equal(frame?.stream, 0xfffffffe)
    assert.deepEqual(frame?.payload, payload)
    const empty = decodeFrame(encodeFrame(FrameType.End, 7))
    assert.equal(empty?.payload.length, 0)
  })

  it('carries JSON heads and window increments', () => {
    const head = decodeFrame(encodeJson(FrameType.Open, 3, { method: 'POST', path: '/mcp' }))
    assert.deepEqual(head && payloadObject(head), { method: 'POST', path: '/mcp' })
    const window = decodeFrame(encodeWindow(3, 65536))
    assert.equal(window && windowIncrement(window), 65536)
  })

  it('refuses short frames, unknown types and non-object heads', () => {
    assert.equal(decodeFrame(Buffer.from([5, 0, 0])), undefined)
    assert.equal(decodeFrame(Buffer.from([0, 0, 0, 0, 1])), undefined)
    assert.equal(decodeFrame(Buffer.from([99, 0, 0, 0, 1])), undefined)
    const array = decodeFrame(encodeFrame(FrameType.Open, 1, Buffer.from('[1]')))
    assert.equal(array && payloadObject(array), undefined)
    const junk = decodeFrame(encodeFrame(FrameType.Open, 1, Buffer.from('{nope')))
    assert.equal(junk && payloadObject(junk), undefined)
    const short = decodeFrame(encodeFrame(FrameType.Window, 1, Buffer.from([1, 2])))
    assert.equal(short && windowIncrement(short), undefined)
  })

  it('drops hop-by-hop headers and those Connection names', () => {
    const raw = [
      'Host',
      'a.example',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      '1',
      'Transfer-Encoding',
      'chunked',
      'Content-Type',
      'application/json',
      'Upgrade',
      'h2c',
    ]
    assert.deepEqual(endToEnd(raw), ['Host', 'a.example', 'Content-Type', 'application/json'])
  })
})

describe('flow-control windows', () => {
  it('a sender waits for credit and resumes on a grant', async () => {
    const window = new SendWindow(10)
    assert.equal(await window.take(4), 4)
    assert.equal(await window.take(100), 6)
    let got: number | undefined
    const waiting = window.take(5).then((n) => {
      got = n
    })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(got, undefined)
    assert.equal(window.grant(3), true)
    await waiting
    assert.equal(got, 3)
  })

  it('a closed window releases waiting senders with 0', async () => {
    const window = new SendWindow(0)
    const waiting = window.take(5)
    window.close()
    assert.equal(await waiting, 0)
  })

  it('refuses grants that are not positive or overflow', () => {
    const window = new SendWindow(0x7ffffff0)
    assert.equal(window.grant(0), false)
    assert.equal(window.grant(0x20), false)
  })

  it('a receiver detects an overrun and grants back what was consumed, in batches', () => {
    const window = new ReceiveWindow(100)
    assert.equal(window.receive(60), true)
    assert.equal(window.receive(41), false)
    assert.equal(window.consume(10), 0)
    assert.equal(window.consume(20), 30)
    assert.equal(window.available, 70)
    assert.equal(window.receive(70), true)
    assert.equal(window.receive(1), false)
  })
})

/** Two muxes over a real WebSocket on 127.0.0.1: `relay` opens streams, `client` answers. */
async function muxPair(onOpen: (stream: TunnelStream, head: Record<string, unknown>) => void) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  const port = (wss.address() as AddressInfo).port
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const ws = new WebSocket(`ws://127.0.0.1:${port}`)
  await once(ws, 'open')
  const [serverSide] = await accepted
  const relay = new Mux(serverSide, { ...DEFAULT_MUX })
  const client = new Mux(ws, { ...DEFAULT_MUX, onOpen })
  return {
    relay,
    client,
    serverSide,
    clientWs: ws,
    close: () => {
      ws.terminate()
      serverSide.terminate()
      wss.close()
    },
  }
}

describe('the multiplexer', () => {
  const closers: Array<() => void> = []
  after(() => {
    for (const close of closers) close()
  })

  it('a reader that never reads stalls its own stream at exactly one window; others go on', async () => {
    const received = new Map<string, number>()
    const ended = new Set<string>()
    const pair = await muxPair((stream, head) => {
      const name = String(head.name)
      received.set(name, 0)
      stream.receive({
        data: (chunk) => {
          received.set(name, (received.get(name) ?? 0) + chunk.length)
          // The slow one never hands its bytes on, so it grants no credit.
          if (name === 'fast') stream.consumed(chunk.length)
        },
        end: () => ended.add(name),
        reset: () => {},
      })
    })
    closers.push(pair.close)
    const slow = pair.relay.open({ name: 'slow' })
    const fast = pair.relay.open({ name: 'fast' })
    const body = Buffer.alloc(2 * 1024 * 1024, 7)
    let slowDone = false
    void slow.write(body).then(() => {
      slowDone = true
    })
    assert.equal(await fast.write(body), true)
    fast.end()
    await until(() => ended.has('fast'), 5000, 'the fast stream to end')
    assert.equal(received.get('fast'), body.length)
    await until(() => received.get('slow') === DEFAULT_MUX.window, 5000, 'a window of slow bytes')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(received.get('slow'), DEFAULT_MUX.window)
    assert.equal(slowDone, false)
    slow.reset('test over')
  })

  it('a reset reaches the other end, and data past the window is a protocol error', async () => {
    const resets: string[] = []
    const pair = await muxPair((stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: (reason) => resets.push(reason) })
    })
    closers.push(pair.close)
    const stream = pair.relay.open({})
    await stream.write(Buffer.from('hello'))
    stream.reset('client disconnected')
    await until(() => resets.length === 1, 5000, 'the reset')
    assert.deepEqual(resets, ['client disconnected'])

    // A peer that ignores its window: the receiver resets the stream instead of buffering.
    const rogue = pair.relay.open({})
    const resetAt = resets.length
    pair.relay.send(encodeFrame(FrameType.Data, rogue.id, Buffer.alloc(DEFAULT_MUX.window + 1)))
    await until(() => resets.length > resetAt, 5000, 'the overrun reset')
    assert.equal(resets.at(-1), 'flow control: window exceeded')
  })

  it('closing the WebSocket resets every open stream', async () => {
    const resets: string[] = []
    const pair = await muxPair((stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: (reason) => resets.push(reason) })
    })
    closers.push(pair.close)
    pair.relay.open({})
    pair.relay.open({})
    await until(() => pair.client.streams === 2, 5000, 'two streams at the client')
    pair.relay.terminate()
    await until(() => resets.length === 2, 5000, 'both resets')
    assert.deepEqual(resets, ['tunnel closed', 'tunnel closed'])
    assert.equal(pair.client.streams, 0)
  })
})

/** The TCP socket under a WebSocket (ws keeps it private): paused, its peer's writes back up. */
function socketOf(ws: WebSocket): { pause(): void; resume(): void } {
  return (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
}

describe('a peer on a slow link, within its windows', () => {
  it('is never cut off: 200 answers of two windows each arrive whole after a stall', async () => {
    const streams = 200
    const body = Buffer.alloc(2 * DEFAULT_MUX.window, 3)
    const pair = await muxPair((stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      // The client answers each request with its body, as it would a large tool result.
      void stream.write(body).then((ok) => ok && stream.end())
    })
    const received = new Map<number, number>()
    const ended = new Set<number>()
    const resets: string[] = []
    const opened = Array.from({ length: streams }, () => pair.relay.open({}))
    for (const stream of opened) {
      stream.receive({
        data: (chunk) => {
          received.set(stream.id, (received.get(stream.id) ?? 0) + chunk.length)
          stream.consumed(chunk.length)
        },
        end: () => ended.add(stream.id),
        reset: (reason) => resets.push(reason),
      })
    }
    // The relay side stops reading its socket: the client's answers wait in its own buffer, as
    // over a link slower than Portico's upstream (50 MB of windows are open, 16 MB was the cap).
    socketOf(pair.serverSide).pause()
    await until(
      () => pair.clientWs.bufferedAmount > 20 * 1024 * 1024 || undefined,
      10_000,
      'the client to hold more than 20 MB unsent',
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    socketOf(pair.serverSide).resume()
    await until(
      () => ended.size === streams || resets.length > 0 || undefined,
      20_000,
      'every answer',
    )
    assert.deepEqual(resets, [])
    assert.equal(pair.client.closed, false)
    for (const stream of opened) assert.equal(received.get(stream.id), body.length)
    pair.close()
  })
})

/** A WebSocket server and one raw client (not a Mux) connected to it: the server's side too. */
async function rawPeer(): Promise<{
  wss: WebSocketServer
  port: number
  peer: WebSocket
  serverSide: WebSocket
}> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  const port = (wss.address() as AddressInfo).port
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const peer = new WebSocket(`ws://127.0.0.1:${port}`)
  await once(peer, 'open')
  const [serverSide] = await accepted
  return { wss, port, peer, serverSide }
}

describe('what a peer may not make the other side do', () => {
  it('a ping bigger than a heartbeat is refused (4004), not echoed', async () => {
    const { wss, peer, serverSide } = await rawPeer()
    new Mux(serverSide, { ...DEFAULT_MUX })
    const pongs: number[] = []
    peer.on('message', (data) => pongs.push((data as Buffer).length))
    const closed = once(peer, 'close')
    // A heartbeat-sized ping is answered; a megabyte one is the end of the tunnel.
    peer.send(encodeFrame(FrameType.Ping, 0, Buffer.alloc(8)))
    await until(() => pongs.length === 1, 5000, 'the pong')
    peer.send(encodeFrame(FrameType.Ping, 0, Buffer.alloc(1024 * 1024)))
    const [code, reason] = await closed
    assert.equal(code, 4004)
    assert.equal(String(reason), 'unexpected frame')
    assert.equal(pongs.length, 1)
    wss.close()
  })
})

describe('a peer that stops reading', () => {
  it('gets no queue of pongs for a flood of pings', async () => {
    const { wss, peer, serverSide } = await rawPeer()
    const mux = new Mux(serverSide, { ...DEFAULT_MUX })
    // Nothing this side writes leaves the process (as when the kernel's buffers toward a
    // peer that stopped reading are full): every pong it queued would wait here.
    ;(socketOf(serverSide) as unknown as { cork(): void }).cork()
    const ping = encodeFrame(FrameType.Ping, 0, Buffer.alloc(8))
    for (let i = 0; i < 50_000; i++) peer.send(ping)
    await until(() => peer.bufferedAmount === 0 || undefined, 10_000, 'the pings to be sent')
    await new Promise((resolve) => setTimeout(resolve, 200))
    // Answered while little waited unsent, then not: 50,000 pongs would be about 650 KB.
    assert.ok(serverSide.bufferedAmount < 128 * 1024, `${serverSide.bufferedAmount} bytes queued`)
    assert.equal(mux.closed, false)
    peer.terminate()
    wss.close()
  })

  it('a closing side stops its streams at once, not when the peer answers the close', async () => {
    let answering: TunnelStream | undefined
    const pair = await muxPair((stream) => {
      answering = stream
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
    })
    pair.relay.open({})
    await until(() => answering, 5000, 'the stream at the client')
    // The peer reads nothing: without this, the answer would be read from the upstream (and
    // dropped) until the closing handshake timed out.
    socketOf(pair.serverSide).pause()
    const writing = (answering as TunnelStream).write(Buffer.alloc(4 * DEFAULT_MUX.window))
    pair.client.close()
    assert.equal((answering as TunnelStream).closed, true)
    assert.equal(await writing, false)
    pair.close()
  })
})

describe('heartbeats', () => {
  it('a peer that sends nothing is dropped after the timeout; one that answers stays', async () => {
    const { wss, port, peer: silentPeer, serverSide } = await rawPeer()
    const peerClosed = once(silentPeer, 'close') as Promise<[number, Buffer]>
    let closedAt: number | undefined
    let why = ''
    const started = Date.now()
    // The raw peer never answers the Mux's Ping frames (it is not a Mux).
    new Mux(serverSide, {
      ...DEFAULT_MUX,
      heartbeatMs: 50,
      timeoutMs: 200,
      onClose: (_code, reason) => {
        closedAt = Date.now()
        why = reason
      },
    })
    await until(() => closedAt !== undefined, 5000, 'the silent peer to be dropped')
    const after = (closedAt as number) - started
    assert.ok(after >= 200 && after < 1500, `dropped after ${after} ms`)
    // Said as what happened (the close event itself only says 1006).
    assert.equal(why, 'heartbeat: nothing heard for 0.2 s')
    // And to the peer, if it is still there: before, it was cut with no close (a bare 1006).
    const [code, reason] = await peerClosed
    assert.equal(code, CloseCode.Timeout)
    assert.equal(String(reason), 'heartbeat: nothing heard for 0.2 s')

    const accepted2 = once(wss, 'connection') as Promise<[WebSocket]>
    const answering = new WebSocket(`ws://127.0.0.1:${port}`)
    await once(answering, 'open')
    const [server2] = await accepted2
    let closed2 = false
    const fast = { ...DEFAULT_MUX, heartbeatMs: 50, timeoutMs: 200 }
    const relaySide = new Mux(server2, { ...fast, onClose: () => (closed2 = true) })
    new Mux(answering, fast)
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(closed2, false)
    assert.equal(relaySide.closed, false)
    answering.terminate()
    silentPeer.terminate()
    wss.close()
  })
})

describe('[tunnel] and [relay] config', () => {
  it('accepts mcpr tables and refuses an enabled tunnel without relay_url or token', () => {
    const config = parseConfig({
      upstream: 'http://127.0.0.1:9000/mcp',
      tunnel: { enabled: true, relay_url: 'https://t.example.com', token: 'x', subdomain: 'app' },
      relay: {
        domain: 'tunnel.example.com',
        auth_provider: 'https://auth.example.com',
        auth_provider_secret: 's',
        tokens: [{ token: 'a', subdomains: ['a-*'] }],
      },
    })
    assert.equal(config.tunnel?.subdomain, 'app')
    assert.equal(config.relay?.port, 8080)
    assert.equal(config.relay?.response_timeout, 30_000)
    assert.throws(
      () => parseConfig({ upstream: 'http://127.0.0.1:9000/mcp', tunnel: { enabled: true } }),
      /relay_url[\s\S]*token|token[\s\S]*relay_url/,
    )
    assert.throws(
      () => parseConfig({ upstream: 'http://x:1/mcp', tunnel: { subdomain: 'Not_A_Label' } }),
      /one DNS label/,
    )
  })

  it('refuses a relay_url no tunnel could register at, when the file is read', () => {
    const tunnel = (relay_url: string) =>
      parseConfig({ upstream: 'http://x:1/mcp', tunnel: { relay_url, token: 'x' } })
    for (const [url, why] of [
      ['ftp://t.example.com', /unsupported scheme ftp:[\s\S]*"relay_url"/],
      ['not a url', /expected the relay's address[\s\S]*"relay_url"/],
      ['https://', /expected the relay's address[\s\S]*"relay_url"/],
    ] as const) {
      assert.throws(() => tunnel(url), why, url)
    }
    assert.equal(tunnel('t.example.com').tunnel?.relay_url, 't.example.com')
  })
})

describe('[relay] durations and patterns', () => {
  const relayFile = (relay: Record<string, unknown>) =>
    parseConfig({ upstream: 'http://x:1/mcp', relay: { domain: 'r.example', ...relay } }).relay
  const problems = (relay: Record<string, unknown>): string => {
    try {
      relaySettings(relayFile(relay), {})
      return ''
    } catch (error) {
      return String(error)
    }
  }

  it('starts with long drains and send timeouts (before: read again as seconds, refused)', () => {
    const settings = relaySettings(relayFile({ drain_timeout: '1h', send_timeout: '40m' }), {})
    assert.equal(settings.config.drain_timeout, 3_600_000)
    assert.equal(settings.config.send_timeout, 2_400_000)
  })

  it('refuses durations that would end everything at once, and heartbeats out of order', () => {
    for (const key of ['response_timeout', 'send_timeout', 'registration_timeout']) {
      assert.throws(() => relayFile({ [key]: 0 }), /expected a duration above 0/, key)
    }
    assert.throws(() => relayFile({ heartbeat_interval: '1ms' }), /expected at least 1 s/)
    assert.match(
      problems({ heartbeat_interval: '2s', heartbeat_timeout: '1s' }),
      /heartbeat_timeout \(1 s\) must be longer than heartbeat_interval \(2 s\)/,
    )
    assert.equal(problems({ drain_timeout: 0 }), '', 'no drain is a choice')
  })

  it('refuses token patterns no subdomain can match', () => {
    for (const pattern of [
      'Alice',
      'a*b*',
      'x.y',
      'a b',
      '-alice',
      'alice-',
      '-*',
      '*-',
      'a'.repeat(64),
    ]) {
      assert.throws(
        () => relayFile({ tokens: [{ token: 'tok-0123456789abcdef', subdomains: [pattern] }] }),
        /at most one/,
        pattern,
      )
    }
    for (const pattern of ['alice', 'demo-*', '*', '*-prod', 'a*z']) {
      relayFile({ tokens: [{ token: 'tok-0123456789abcdef', subdomains: [pattern] }] })
    }
  })
})

describe('relay tokens and subdomains', () => {
  it('matches mcpr patterns: one * as prefix, suffix or infix', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*', 'anything', true],
      ['demo', 'demo', true],
      ['demo', 'demo2', false],
      ['demo-*', 'demo-1', true],
      ['demo-*', 'demo-', true],
      ['demo-*', 'prod-1', false],
      ['*-dev', 'api-dev', true],
      ['a*z', 'abcz', true],
      ['a*z', 'az', true],
      ['ab*ba', 'aba', false],
      ['a*b*c', 'abc', false],
    ]
    for (const [pattern, name, expected] of cases) {
      assert.equal(matchesPattern(pattern, name), expected, `${pattern} vs ${name}`)
    }
  })

  it('picks the requested subdomain, else the only concrete entry, else refuses', () => {
    assert.deepEqual(pickSubdomain(['demo-*'], 'demo-x'), { ok: true, subdomain: 'demo-x' })
    assert.deepEqual(pickSubdomain(['demo', 'x-*'], undefined), { ok: true, subdomain: 'demo' })
    assert.equal(pickSubdomain(['a', 'b'], undefined).ok, false)
    assert.deepEqual(pickSubdomain(['demo'], 'other'), {
      ok: false,
      message: "subdomain 'other' not authorized for this token",
    })
  })

  it('static tokens: unknown token refused, known one gets its subdomain', async () => {
    const auth = new RelayAuth({
      mode: 'static',
      tokens: [
        { token: 'secret-a', subdomains: ['alpha'] },
        { token: 'secret-b', subdomains: ['beta-*'] },
      ],
    })
    assert.deepEqual(await auth.authorize('nope', undefined), {
      ok: false,
      message: 'invalid token',
    })
    assert.deepEqual(await auth.authorize('secret-a', undefined), { ok: true, subdomain: 'alpha' })
    assert.deepEqual(await auth.authorize('secret-b', 'beta-1'), { ok: true, subdomain: 'beta-1' })
    assert.equal((await auth.authorize('secret-a', 'Bad_Name')).ok, false)
  })

  it('open mode: any token; a stable subdomain derived from it when none is asked', async () => {
    const auth = new RelayAuth({ mode: 'open' })
    const first = await auth.authorize('tok', undefined)
    const again = await auth.authorize('tok', undefined)
    assert.deepEqual(first, again)
    assert.match(first.ok ? first.subdomain : '', /^[0-9a-f]{12}$/)
    assert.deepEqual(await auth.authorize('x', 'mine'), { ok: true, subdomain: 'mine' })
  })

  it("auth provider: mcpr's /api/verify contract (secret header, body, 200/401/other)", async () => {
    const seen: Array<{ secret: string | undefined; body: unknown }> = []
    const provider = createServer((req, res) => {
      let text = ''
      req.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      req.on('end', () => {
        const body = JSON.parse(text) as { token: string; subdomain: string }
        seen.push({ secret: req.headers['x-relay-secret'] as string | undefined, body })
        if (req.url !== '/api/verify') res.writeHead(404).end()
        else if (body.token === 'good') {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ subdomains: ['team-*', 'main'] }))
        } else if (body.token === 'broken') res.writeHead(500).end('oops')
        else if (body.token === 'moved') {
          res.writeHead(307, { location: `http://127.0.0.1:${elsewherePort}/steal` }).end()
        } else {
          res.writeHead(401, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: 'token revoked' }))
        }
      })
    })
    // Where a redirect would take the secret and the token: never contacted.
    const reached: string[] = []
    const elsewhere = createServer((req, res) => {
      reached.push(String(req.headers['x-relay-secret']))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ subdomains: ['*'] }))
    })
    const elsewherePort = await listenOnZero(elsewhere)
    const port = await listenOnZero(provider)
    const auth = new RelayAuth({
      mode: 'provider',
      provider: { url: `http://127.0.0.1:${port}/`, secret: 'relay-secret' },
    })
    try {
      assert.deepEqual(await auth.authorize('good', 'team-a'), { ok: true, subdomain: 'team-a' })
      assert.deepEqual(await auth.authorize('good', undefined), { ok: true, subdomain: 'main' })
      assert.deepEqual(await auth.authorize('good', 'other'), {
        ok: false,
        message: "subdomain 'other' not authorized for this token",
      })
      assert.deepEqual(await auth.authorize('bad', undefined), {
        ok: false,
        message: 'token revoked',
      })
      assert.deepEqual(await auth.authorize('broken', undefined), {
        ok: false,
        message: 'auth provider unavailable',
        unavailable: true,
      })
      assert.deepEqual(seen[0], {
        secret: 'relay-secret',
        body: { token: 'good', subdomain: 'team-a' },
      })
      assert.deepEqual(seen[1]?.body, { token: 'good', subdomain: '' })
      // A redirect is not followed (before: the secret and the token went to the other host,
      // and its answer opened the tunnel).
      assert.deepEqual(await auth.authorize('moved', 'alice'), {
        ok: false,
        message: 'auth provider unavailable',
        unavailable: true,
      })
      assert.deepEqual(reached, [])
    } finally {
      provider.close()
      elsewhere.close()
    }
    const unreachable = new RelayAuth({ mode: 'provider', provider: { url: REFUSED_ORIGIN } })
    assert.deepEqual(await unreachable.authorize('good', undefined), {
      ok: false,
      message: 'auth provider unavailable',
      unavailable: true,
    })
  })

  it('reads MCPR_RELAY_* variables and picks the mode by mcpr priority', () => {
    const settings = relaySettings(undefined, {
      MCPR_RELAY_DOMAIN: 'tunnel.example.com',
      MCPR_RELAY_PORT: '9090',
      MCPR_RELAY_TOKENS: '[{"token":"t","subdomains":["a"]}]',
      MCPR_RELAY_MAX_REQUEST_BODY: '1000',
    })
    assert.equal(settings.config.domain, 'tunnel.example.com')
    assert.equal(settings.config.port, 9090)
    assert.equal(settings.config.max_request_body_size, 1000)
    assert.equal(settings.auth.mode, 'static')
    assert.equal(settings.config.response_timeout, 30_000)
    assert.throws(() => relaySettings(undefined, {}), /relay\.domain is required/)
    // JSON that is no array (null: a TypeError before) is named as what it should be.
    for (const tokens of ['null', '{}', '"t"', 'not json']) {
      assert.throws(
        () => relaySettings(undefined, { MCPR_RELAY_DOMAIN: 'x.y', MCPR_RELAY_TOKENS: tokens }),
        /MCPR_RELAY_TOKENS: expected a JSON array of \{token, subdomains\}/,
        tokens,
      )
    }
    assert.throws(
      () =>
        relaySettings(undefined, { MCPR_RELAY_DOMAIN: 'x.y', MCPR_RELAY_AUTH_MODE: 'provider' }),
      /provider auth needs/,
    )
  })

  it('refuses tokens no Authorization header can carry, on both sides', () => {
    for (const token of ['trail ', ' lead', '€uro']) {
      assert.throws(
        () =>
          relaySettings(undefined, {
            MCPR_RELAY_DOMAIN: 'x.y',
            MCPR_RELAY_TOKENS: JSON.stringify([{ token, subdomains: ['a'] }]),
          }),
        /a token (cannot start or end with a space|travels in an HTTP header)/,
        JSON.stringify(token),
      )
      assert.throws(
        () =>
          parseConfig({
            upstream: 'http://127.0.0.1:9/mcp',
            tunnel: { enabled: true, relay_url: 'https://r.example', token },
          }),
        /a token (cannot start or end with a space|travels in an HTTP header)/,
      )
    }
    // Inner spaces and Latin-1 travel as they are.
    const settings = relaySettings(undefined, {
      MCPR_RELAY_DOMAIN: 'x.y',
      MCPR_RELAY_TOKENS: JSON.stringify([{ token: 'in ner Zoë', subdomains: ['a'] }]),
    })
    assert.equal(settings.auth.mode, 'static')
  })

  it('refuses one token in two entries, and a domain that is not whole labels', () => {
    // Before: the second entry's subdomains were refused at registration, nothing said at start.
    assert.throws(
      () =>
        relaySettings(undefined, {
          MCPR_RELAY_DOMAIN: 'x.y',
          MCPR_RELAY_TOKENS: JSON.stringify([
            { token: 'team-token-1', subdomains: ['alice'] },
            { token: 'team-token-1', subdomains: ['bob'] },
          ]),
        }),
      /relay\.tokens\.1\.token: the same token as tokens\[0\]: list all its subdomains in one entry/,
    )
    // Before: `relay.test.` made the bare domain read as tunnel "relay".
    for (const domain of ['relay.test.', '.relay.test', 'relay..test', '-relay.test']) {
      assert.throws(
        () => relaySettings(undefined, { MCPR_RELAY_DOMAIN: domain }),
        /expected a host name like tunnel\.example\.com/,
        domain,
      )
    }
    assert.equal(
      relaySettings(undefined, { MCPR_RELAY_DOMAIN: 'Tunnel.Example.com' }).auth.mode,
      'open',
    )
  })

  it('refuses to run open while its settings name a credential it would not use', () => {
    const domain = { MCPR_RELAY_DOMAIN: 'x.y' }
    const token = '[{"token":"abcdefabcdefabcdef12","subdomains":["a"]}]'
    const refused: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ MCPR_RELAY_TOKENS: '[]' }, /relay\.tokens: the token list is empty/],
      [{ MCPR_RELAY_AUTH_SECRET: 'shared-secret' }, /auth_provider_secret: no auth_provider/],
      [
        { MCPR_RELAY_AUTH_MODE: 'open', MCPR_RELAY_TOKENS: token },
        /relay\.tokens: auth mode is open/,
      ],
      [
        { MCPR_RELAY_AUTH_MODE: 'open', MCPR_RELAY_AUTH_URL: 'https://auth.example/check' },
        /relay\.auth_provider: auth mode is open/,
      ],
      // Before: an empty credential variable read as unset, and the relay ran open.
      [{ MCPR_RELAY_TOKENS: '' }, /MCPR_RELAY_TOKENS is set but empty/],
      [{ PORTICO_RELAY_TOKENS: '' }, /PORTICO_RELAY_TOKENS is set but empty/],
      [{ MCPR_RELAY_AUTH_URL: '' }, /MCPR_RELAY_AUTH_URL is set but empty/],
      [{ MCPR_RELAY_AUTH_SECRET: '' }, /MCPR_RELAY_AUTH_SECRET is set but empty/],
    ]
    for (const [env, problem] of refused)
      assert.throws(() => relaySettings(undefined, { ...domain, ...env }), problem)
    // Nothing asked for: open, as mcpr; a provider beside an empty list: the provider.
    assert.equal(relaySettings(undefined, domain).auth.mode, 'open')
    const provider = relaySettings(undefined, {
      ...domain,
      MCPR_RELAY_TOKENS: '[]',
      MCPR_RELAY_AUTH_URL: 'https://auth.example/check',
    })
    assert.equal(provider.auth.mode, 'provider')
  })

  it('maps relay URLs to the registration WebSocket, never with a token', () => {
    assert.equal(registerUrl('https://t.example.com'), 'wss://t.example.com/_tunnel/register')
    assert.equal(registerUrl('http://127.0.0.1:8080/'), 'ws://127.0.0.1:8080/_tunnel/register')
    assert.equal(registerUrl('t.example.com'), 'wss://t.example.com/_tunnel/register')
    assert.equal(
      registerUrl('wss://t.example.com/base?x=1'),
      'wss://t.example.com/base/_tunnel/register',
    )
  })
})

describe('relay answers', () => {
  it("keeps a tenant's cookies to its own subdomain: Domain attributes are removed", () => {
    assert.deepEqual(
      hostOnlyCookies([
        'content-type',
        'text/html',
        'Set-Cookie',
        'sid=1; Path=/; Domain=tunnel.example.com; HttpOnly',
        'set-cookie',
        'theme=dark;domain=.tunnel.example.com',
      ]),
      [
        'content-type',
        'text/html',
        'Set-Cookie',
        'sid=1; Path=/; HttpOnly',
        'set-cookie',
        'theme=dark',
      ],
    )
  })
})
