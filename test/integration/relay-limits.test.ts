/**
 * The relay in process against tunnels the test speaks the protocol for (a real WebSocket on
 * 127.0.0.1): per-tunnel limits (requests per second, streams in flight, response size) and a
 * tunnel that misbehaves (data before its head, a bad status, garbage frames, an old protocol
 * version). Each gets the documented answer, and the relay goes on serving.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import type { Relay } from '../../src/relay/server.ts'
import { encodeFrame, encodeJson, FrameType, PROTOCOL_VERSION } from '../../src/tunnel/frames.ts'
import { DEFAULT_MUX, Mux, type TunnelStream } from '../../src/tunnel/mux.ts'
import { runCliSync } from '../helpers/cli.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'
import { startTestRelay } from '../helpers/relay.ts'
import { until } from '../helpers/wait.ts'
import { fetchVia, wildcardAgent } from '../helpers/wildcard-dns.ts'

const agent = wildcardAgent()
const relayFetch = fetchVia(agent)

/** A raw connection to the relay: what it has received so far, and when it closed. */
async function rawConnection(port: number) {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  let text = ''
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1')
  })
  const closed = once(socket, 'close').then(() => text)
  await once(socket, 'connect')
  return { socket, text: () => text, closed }
}

type OnOpen = (stream: TunnelStream, head: Record<string, unknown>) => void

describe('relay limits and misbehaving tunnels', () => {
  const lines: string[] = []
  let relay: Relay
  let port: number
  const sockets: WebSocket[] = []

  const url = (subdomain: string, path = '/mcp') => `http://${subdomain}.relay.test:${port}${path}`

  /** Registers `subdomain` and answers its streams with `onOpen`. */
  async function tunnel(subdomain: string, onOpen: OnOpen, version = PROTOCOL_VERSION) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    sockets.push(ws)
    await once(ws, 'open')
    ws.send(encodeJson(FrameType.Register, 0, { version, token: 't', subdomain }))
    const first = await Promise.race([
      once(ws, 'message').then(() => 'registered'),
      once(ws, 'close').then(([code]) => `closed ${code}`),
    ])
    if (first !== 'registered') return { ws, first }
    return { ws, first, mux: new Mux(ws, { ...DEFAULT_MUX, onOpen }) }
  }

  const answer =
    (status: number, body: string): OnOpen =>
    (stream) => {
      stream.receive({ data: (c) => stream.consumed(c.length), end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, { status, headers: ['content-type', 'text/plain'] })
      void stream.write(Buffer.from(body)).then(() => stream.end())
    }

  /** A tunnel that reads the request body whole and answers 200 with `say(its length)`. */
  const countingBytes =
    (say: (bytes: number) => string): OnOpen =>
    (stream) => {
      let bytes = 0
      stream.receive({
        data: (chunk) => {
          bytes += chunk.length
          stream.consumed(chunk.length)
        },
        end: () => {
          const body = Buffer.from(say(bytes))
          stream.sendHead(FrameType.Head, {
            status: 200,
            headers: ['content-length', String(body.length)],
          })
          void stream.write(body).then(() => stream.end())
        },
        reset: () => {},
      })
    }

  before(async () => {
    ;({ relay, port } = await startTestRelay(
      {
        requests_per_second: 2,
        max_streams: 2,
        max_response_body_size: 1000,
        response_timeout: '2s',
      },
      { accessLog: (line) => lines.push(line) },
    ))
  })

  after(async () => {
    for (const ws of sockets) ws.terminate()
    await relay.close()
    await agent.close()
  })

  it('requests per second: a burst of twice the rate, then 429 with Retry-After', async () => {
    await tunnel('rate', answer(200, 'ok'))
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const response = await relayFetch(url('rate'))
      statuses.push(response.status)
      if (response.status === 429) assert.equal(response.headers.get('retry-after'), '1')
      await response.text()
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429])
  })

  it('streams in flight: a third concurrent request gets 503 while two are held', async () => {
    const held: TunnelStream[] = []
    await tunnel('busy', (stream) => {
      held.push(stream)
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
    })
    const first = relayFetch(url('busy'))
    const second = relayFetch(url('busy'))
    await until(() => held.length === 2, 5000, 'two held streams')
    const third = await relayFetch(url('busy'))
    assert.equal(third.status, 503)
    assert.equal(await third.text(), 'tunnel overloaded\n')
    for (const stream of held) {
      stream.sendHead(FrameType.Head, { status: 204, headers: [] })
      stream.end()
    }
    assert.deepEqual([(await first).status, (await second).status], [204, 204])
  })

  it("sets X-Forwarded-Proto and X-Forwarded-Host itself, dropping a client's", async () => {
    let seen: string[] = []
    await tunnel('fwd', (stream, head) => {
      seen = head.headers as string[]
      answer(200, 'ok')(stream, head)
    })
    const response = await relayFetch(url('fwd'), {
      headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example' },
    })
    assert.equal(response.status, 200)
    await response.text()
    const values = (name: string) =>
      seen.filter((_, i) => i % 2 === 1 && seen[i - 1]?.toLowerCase() === name)
    assert.deepEqual(values('x-forwarded-proto'), ['https'], 'public_scheme')
    assert.deepEqual(values('x-forwarded-host'), [`fwd.relay.test:${port}`])
  })

  it('a response over max_response_body_size is cut off, never passed whole', async () => {
    await tunnel('huge', answer(200, 'x'.repeat(5000)))
    // Cut off at the bound: the client sees a broken response (at the head or in the body).
    await assert.rejects(async () => {
      const response = await relayFetch(url('huge'))
      await response.text()
    })
    await tunnel('declared', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, { status: 200, headers: ['content-length', '5000'] })
    })
    const declared = await relayFetch(url('declared'))
    assert.equal(declared.status, 502)
    assert.equal(await declared.text(), 'tunnel response body too large\n')
    // A HEAD's length is the body's it stands for, and none comes: passed (it was a 502).
    await tunnel('head', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, { status: 200, headers: ['content-length', '5000'] })
      stream.end()
    })
    const head = await relayFetch(url('head'), { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), '5000')
  })

  it('answers 400 to a target that is no path (absolute-form, asterisk-form), not the tunnel', async () => {
    let opened = 0
    await tunnel('forms', (stream) => {
      opened++
      answer(200, 'ok')(stream, {})
    })
    for (const target of [`http://forms.relay.test:${port}/index.html`, '*']) {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      socket.write(`OPTIONS ${target} HTTP/1.1\r\nhost: forms.relay.test:${port}\r\n\r\n`)
      const [chunk] = (await once(socket, 'data')) as [Buffer]
      socket.destroy()
      // It was reset by the tunnel's client: "502 tunnel dropped request".
      assert.match(chunk.toString('latin1'), /^HTTP\/1\.1 400 /, target)
    }
    assert.equal(opened, 0, 'nothing reached the tunnel')
  })

  it('a request body of several windows arrives whole and in order', async () => {
    await tunnel('upload', (stream) => {
      const hash = createHash('sha256')
      let bytes = 0
      stream.receive({
        data: (chunk) => {
          hash.update(chunk)
          bytes += chunk.length
          // Handed on a little later, as a real consumer would.
          setImmediate(() => stream.consumed(chunk.length))
        },
        end: () => {
          stream.sendHead(FrameType.Head, { status: 200, headers: [] })
          void stream.write(Buffer.from(`${bytes} ${hash.digest('hex')}`)).then(() => stream.end())
        },
        reset: () => {},
      })
    })
    const body = randomBytes(1536 * 1024)
    const response = await relayFetch(url('upload'), { method: 'POST', body })
    assert.equal(
      await response.text(),
      `${body.length} ${createHash('sha256').update(body).digest('hex')}`,
    )
  })

  it('a body sent more slowly than response_timeout is answered: the timeout counts once it is all sent', async () => {
    await tunnel(
      'slow-upload',
      countingBytes((bytes) => `${bytes} bytes`),
    )
    // Eight pieces 400 ms apart: 2.8 s of upload against a 2 s response_timeout (before: 504
    // "tunnel timeout" while the client was still sending).
    const { socket, closed } = await rawConnection(port)
    socket.write(
      `POST /mcp HTTP/1.1\r\nhost: slow-upload.relay.test:${port}\r\ncontent-length: 800\r\nconnection: close\r\n\r\n`,
    )
    for (let piece = 0; piece < 8; piece++) {
      await new Promise((resolve) => setTimeout(resolve, 400))
      socket.write('x'.repeat(100))
    }
    const text = await closed
    assert.match(text, /^HTTP\/1\.1 200 /, text)
    assert.match(text, /\r\n\r\n800 bytes$/)
  })

  it('serves a request asking for an upgrade it does not perform (curl --http2: h2c) as plain HTTP/1.1', async () => {
    const seen: string[][] = []
    const counting = countingBytes((bytes) => String(bytes % 10))
    await tunnel('h2c', (stream, head) => {
      seen.push(head.headers as string[])
      counting(stream, head)
    })
    const { socket, text: received } = await rawConnection(port)
    const request = (body: string, upgrade: string) =>
      `POST /mcp HTTP/1.1\r\nhost: h2c.relay.test:${port}\r\n${upgrade}content-length: ${body.length}\r\n\r\n${body}`
    // Before: a bare 404 from the relay, the tunnel never asked.
    socket.write(
      request(
        '{"a":1}',
        'connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n',
      ),
    )
    await until(() => /\r\n\r\n7$/.test(received()) || undefined, 5000, 'the first answer')
    // The connection serves on as any keep-alive connection.
    socket.write(request('{"ab":12}', ''))
    await until(() => /\r\n\r\n9$/.test(received()) || undefined, 5000, 'the second answer')
    socket.destroy()
    const text = received()
    assert.equal(text.match(/HTTP\/1\.1 200 /g)?.length, 2, text)
    const names = (seen[0] ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    assert.equal(names.includes('upgrade'), false, String(names))
    assert.equal(names.includes('http2-settings'), false, String(names))
  })

  it('serves many ignored upgrades on one kept-alive connection without piling up listeners', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
    process.on('warning', onWarning)
    const { socket, text: received } = await rawConnection(port)
    try {
      for (let i = 1; i <= 15; i++) {
        socket.write(
          `GET /healthz HTTP/1.1\r\nhost: relay.test:${port}\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n`,
        )
        await until(
          () => (received().match(/HTTP\/1\.1 200 /g)?.length ?? 0) >= i || undefined,
          5000,
          `answer ${i}`,
        )
      }
      // Before: an error listener per upgrade, MaxListenersExceededWarning at the eleventh.
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
      )
    } finally {
      process.off('warning', onWarning)
      socket.destroy()
    }
  })

  it('answers a request pipelined behind another before an ignored upgrade, in order', async () => {
    await tunnel('piped', (stream, head) => answer(200, String(head.path))(stream, head))
    const { socket, text: received } = await rawConnection(port)
    const host = `host: piped.relay.test:${port}\r\n`
    // One write: the second request is parsed (and handed to 'upgrade') while the first is
    // still being answered. Before: the second never got an answer, the connection stayed open.
    socket.write(
      `GET /a HTTP/1.1\r\n${host}\r\nGET /b HTTP/1.1\r\n${host}connection: Upgrade\r\nupgrade: h2c\r\n\r\n`,
    )
    await until(
      () => /\r\n\/b\r\n0\r\n\r\n$/.test(received()) || undefined,
      5000,
      'the second answer',
    )
    socket.destroy()
    const text = received()
    assert.equal(text.match(/HTTP\/1\.1 200 /g)?.length, 2, text)
    assert.ok(text.indexOf('/a') < text.indexOf('/b'), text)
  })

  it('a tunnel that takes none of a request body for response_timeout: 504', async () => {
    // It never hands back credit: the upload stops at its window. Counted from the last byte
    // alone, nothing would ever end the wait.
    await tunnel('no-credit', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
    })
    const { socket, text: received, closed } = await rawConnection(port)
    const body = Buffer.alloc(1024 * 1024, 'x')
    socket.write(
      `POST /mcp HTTP/1.1\r\nhost: no-credit.relay.test:${port}\r\ncontent-length: ${body.length}\r\n\r\n`,
    )
    socket.write(body)
    await Promise.race([
      closed,
      until(() => received().includes('tunnel timeout') || undefined, 10_000, 'the 504'),
    ])
    socket.destroy()
    const text = received()
    assert.match(text, /^HTTP\/1\.1 504 /, text.slice(0, 200))
  })

  it('a tunnel that never answers: 504 after response_timeout', async () => {
    await tunnel('mute', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
    })
    const started = Date.now()
    const mute = await relayFetch(url('mute'))
    assert.equal(mute.status, 504)
    assert.equal(await mute.text(), 'tunnel timeout\n')
    assert.ok(Date.now() - started >= 1950)
  })

  it('logs a request its client left before any answer as 499, not 200', async () => {
    await tunnel('left', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
    })
    await assert.rejects(relayFetch(url('left', '/gone'), { signal: AbortSignal.timeout(300) }))
    const line = await until(
      () => lines.find((l) => /\bleft {2}GET \/gone /.test(l)),
      5000,
      'the access log line',
    )
    assert.match(line, /→ 499 {2}0b/)
  })

  it('a tunnel that sends a head and then nothing: 504 after response_timeout', async () => {
    await tunnel('headonly', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'application/json'],
      })
    })
    const silent = await relayFetch(url('headonly'))
    assert.equal(silent.status, 504)
    assert.equal(await silent.text(), 'tunnel timeout\n')
    // An empty Data frame is no body byte: Node would not even send the head for it.
    let socket: WebSocket | undefined
    const registered = await tunnel('emptydata', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'application/json'],
      })
      socket?.send(encodeFrame(FrameType.Data, stream.id))
    })
    socket = registered.ws
    const empty = await relayFetch(url('emptydata'))
    assert.equal(empty.status, 504)
    assert.equal(await empty.text(), 'tunnel timeout\n')
  })

  it('an event stream: the head reaches the public client before the first event', {
    timeout: 10_000,
  }, async () => {
    // An MCP GET stream can wait minutes for its first notification; its client waits for the
    // head meanwhile. The tunnel sends the event only once the client holds the head, so a
    // relay that keeps the head back until body bytes come never answers.
    let sendEvent = () => {}
    await tunnel('events', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'text/event-stream'],
      })
      sendEvent = () => void stream.write(Buffer.from('data: {}\n\n')).then(() => stream.end())
    })
    const response = await relayFetch(url('events'))
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'text/event-stream')
    sendEvent()
    assert.equal(await response.text(), 'data: {}\n\n')
  })

  it('a body that stops halfway is cut off after response_timeout; an event stream may wait', {
    timeout: 15_000,
  }, async () => {
    await tunnel('halfway', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'application/json'],
      })
      void stream.write(Buffer.from('{"partial":'))
    })
    const halfway = await relayFetch(url('halfway'))
    assert.equal(halfway.status, 200)
    await assert.rejects(halfway.text())
    // Silent for longer than response_timeout (2 s) between two events: not cut.
    await tunnel('quiet', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'text/event-stream'],
      })
      void stream.write(Buffer.from('data: 1\n\n'))
      setTimeout(() => void stream.write(Buffer.from('data: 2\n\n')).then(() => stream.end()), 2500)
    })
    const quiet = await relayFetch(url('quiet'))
    assert.equal(await quiet.text(), 'data: 1\n\ndata: 2\n\n')
  })

  it('a tunnel that breaks off after its head, before any body bytes, gets the client a 502', async () => {
    await tunnel('broke', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'application/json'],
      })
      setImmediate(() => stream.reset('upstream failed'))
    })
    const response = await relayFetch(url('broke'))
    assert.equal(response.status, 502)
    assert.equal(await response.text(), 'tunnel dropped request\n')
  })

  it('a body shorter than its Content-Length is cut off, not passed off as whole', async () => {
    await tunnel('short', (stream) => {
      stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
      stream.sendHead(FrameType.Head, {
        status: 200,
        headers: ['content-type', 'text/plain', 'content-length', '100'],
      })
      void stream.write(Buffer.from('hello')).then(() => stream.end())
    })
    // Before, the relay ended the answer and its client waited for the 95 missing bytes until
    // the keep-alive timeout (65 s): now the connection closes and the answer fails at once.
    const outcome = await Promise.race([
      relayFetch(url('short'))
        .then((response) => response.text())
        .then(
          () => 'whole',
          () => 'cut',
        ),
      new Promise((resolve) => setTimeout(resolve, 10_000, 'still waiting').unref()),
    ])
    assert.equal(outcome, 'cut')
  })

  it('a tunnel that sends data before its head, or a bad status, gets the client a 502', async () => {
    await tunnel('early', (stream) => {
      void stream.write(Buffer.from('body first'))
    })
    const early = await relayFetch(url('early'))
    assert.equal(early.status, 502)
    assert.equal(await early.text(), 'tunnel dropped request\n')
    await tunnel('weird', (stream) => stream.sendHead(FrameType.Head, { status: 42, headers: [] }))
    const weird = await relayFetch(url('weird'))
    assert.equal(weird.status, 502)
    await weird.text()
  })

  it('garbage frames close that tunnel (4004); another protocol version is refused (4003)', async () => {
    const garbage = await tunnel('garbage', answer(200, 'ok'))
    const closed = once(garbage.ws, 'close')
    garbage.ws.send('not a frame')
    assert.equal((await closed)[0], 4004)
    await until(() => !relay.subdomains.includes('garbage'), 5000, 'the tunnel to be gone')
    const gone = await relayFetch(url('garbage'))
    assert.equal(gone.status, 404)
    await gone.text()
    const old = await tunnel('old', answer(200, 'ok'), 0)
    assert.equal(old.first, 'closed 4003')
    const rogue = await tunnel('rogue', answer(200, 'ok'))
    rogue.ws.send(encodeFrame(FrameType.Open, 9, Buffer.from('{}')))
    assert.equal((await once(rogue.ws, 'close'))[0], 4004)
  })

  it('keeps serving: health, and a good tunnel answers after all of the above', async () => {
    await tunnel('good', answer(200, 'fine'))
    const response = await relayFetch(url('good'))
    assert.equal(await response.text(), 'fine')
    const health = await relayFetch(`http://relay.test:${port}/healthz`)
    assert.equal(health.status, 200)
    assert.ok(
      lines.some((line) => /good {2}GET \/mcp {2}→ 200 {2}4b/.test(line)),
      lines.join('\n'),
    )
    assert.ok(lines.every((line) => !line.includes('?')))
  })
})

describe('relay send_timeout', () => {
  let relay: Relay
  let port: number
  let ws: WebSocket | undefined

  before(async () => {
    ;({ relay, port } = await startTestRelay({ send_timeout: '500ms' }))
  })

  after(async () => {
    ws?.terminate()
    await relay.close()
  })

  it("cuts a client that reads nothing of an event stream, and resets the tunnel's stream", async () => {
    let reason: string | undefined
    let written = 0
    ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    await once(ws, 'open')
    ws.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, subdomain: 'stall' }))
    await once(ws, 'message')
    new Mux(ws, {
      ...DEFAULT_MUX,
      onOpen: (stream) => {
        stream.receive({
          data: (c) => stream.consumed(c.length),
          end: () => {},
          reset: (why) => {
            reason = why
          },
        })
        stream.sendHead(FrameType.Head, {
          status: 200,
          headers: ['content-type', 'text/event-stream'],
        })
        const event = Buffer.from(`data: ${'e'.repeat(16 * 1024)}\n\n`)
        void (async () => {
          while (await stream.write(event)) written += event.length
        })()
      },
    })
    // A raw client that asks for the stream and never reads: the relay's writes wait, then stop.
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write(
      `GET /mcp HTTP/1.1\r\nhost: stall.relay.test:${port}\r\naccept: text/event-stream\r\n\r\n`,
    )
    socket.pause()
    await until(() => reason, 10_000, "the tunnel's stream reset")
    assert.ok(written > 0, 'the tunnel streamed until the client stopped taking its bytes')
    socket.destroy()
  })
})

describe('relay response_timeout, against a client that pauses reading', () => {
  let relay: Relay
  let port: number
  let ws: WebSocket | undefined
  // Its own: the first suite closes the shared agent when it ends.
  const downloads = wildcardAgent()

  before(async () => {
    ;({ relay, port } = await startTestRelay({ response_timeout: '1s', send_timeout: '30s' }))
  })

  after(async () => {
    ws?.terminate()
    await relay.close()
    await downloads.close()
  })

  it('waits for the client (send_timeout), not the tunnel its credit holds back', async () => {
    const total = 8 * 1024 * 1024
    ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    await once(ws, 'open')
    ws.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, subdomain: 'big' }))
    await once(ws, 'message')
    new Mux(ws, {
      ...DEFAULT_MUX,
      onOpen: (stream) => {
        stream.receive({ data: (c) => stream.consumed(c.length), end: () => {}, reset: () => {} })
        stream.sendHead(FrameType.Head, {
          status: 200,
          headers: ['content-type', 'application/octet-stream', 'content-length', String(total)],
        })
        const piece = Buffer.alloc(64 * 1024, 7)
        void (async () => {
          for (let sent = 0; sent < total; sent += piece.length) {
            if (!(await stream.write(piece))) return
          }
          stream.end()
        })()
      },
    })
    // A client that reads 1 MB, then nothing for 2.5 s (a backgrounded tab), then the rest.
    // Before: the tunnel, silent for want of credit, was cut after response_timeout (1 s).
    const response = await fetchVia(downloads)(`http://big.relay.test:${port}/download`)
    assert.equal(response.status, 200)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let got = 0
    let paused = false
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      got += value.length
      if (!paused && got > 1024 * 1024) {
        paused = true
        await new Promise((resolve) => setTimeout(resolve, 2500))
      }
    }
    assert.equal(got, total)
  })
})

describe('relay: many clients uploading to one tunnel at once', () => {
  let relay: Relay
  let port: number
  let ws: WebSocket | undefined
  // Its own: the first suite closes the shared agent when it ends.
  const uploads = wildcardAgent()

  before(async () => {
    ;({ relay, port } = await startTestRelay({}))
  })

  after(async () => {
    ws?.terminate()
    await relay.close()
    await uploads.close()
  })

  it('keeps a tunnel that reads: every upload is answered, none cut as "peer not reading"', async () => {
    ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    await once(ws, 'open')
    ws.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, subdomain: 'busy' }))
    await once(ws, 'message')
    // A slow link: the tunnel reads nothing for a second once the uploads start, so what
    // flow control lets the relay send waits in its socket buffer meanwhile.
    const link = (ws as unknown as { _socket: import('node:net').Socket })._socket
    let slowed = false
    new Mux(ws, {
      ...DEFAULT_MUX,
      onOpen: (stream) => {
        if (!slowed) {
          slowed = true
          link.pause()
          setTimeout(() => link.resume(), 1000)
        }
        let size = 0
        stream.receive({
          data: (c) => {
            size += c.length
            stream.consumed(c.length)
          },
          end: () => {
            stream.sendHead(FrameType.Head, {
              status: 200,
              headers: ['content-type', 'text/plain'],
            })
            void stream.write(Buffer.from(String(size))).then(() => stream.end())
          },
          reset: () => {},
        })
      },
    })
    // Within max_streams (256) and the request rate's burst (200): before, the relay cut the
    // tunnel once 16 MB waited for it, though flow control let 256 windows of 256 KiB wait.
    const body = Buffer.alloc(1024 * 1024, 'u')
    const answers = await Promise.all(
      Array.from({ length: 150 }, () =>
        fetchVia(uploads)(`http://busy.relay.test:${port}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body,
        }).then(async (response) => `${response.status} ${await response.text()}`),
      ),
    )
    const wrong = answers.filter((answer) => answer !== `200 ${body.length}`)
    assert.deepEqual(wrong, [], `${wrong.length} of 150 not answered whole`)
  })
})

describe('portico relay and portico run --tunnel: usage errors', () => {
  it('a relay without a domain exits 2 naming the key; a bad MCPR_RELAY_TOKENS too', () => {
    const missing = runCliSync(['relay', '--port', '0'])
    assert.equal(missing.status, 2)
    assert.match(
      missing.stderr,
      /relay\.domain is required: \[relay\] domain, --domain or MCPR_RELAY_DOMAIN/,
    )
    const tokens = runCliSync(['relay', '--port', '0', '--domain', 'x.test'], {
      MCPR_RELAY_TOKENS: 'not json',
    })
    assert.equal(tokens.status, 2)
    assert.match(tokens.stderr, /MCPR_RELAY_TOKENS: expected a JSON array/)
  })

  it('a relay that cannot be reached stops portico run with exit 1 and a hint, never the token', () => {
    const result = runCliSync([
      'run',
      '--upstream',
      'http://127.0.0.1:9/mcp',
      '--port',
      '0',
      '--tunnel',
      REFUSED_ORIGIN,
      '--tunnel-token',
      'secret-token-value',
    ])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /tunnel: cannot reach the relay: .*ECONNREFUSED/)
    assert.match(result.stderr, /run without --tunnel or set \[tunnel\] enabled = false/)
    assert.doesNotMatch(result.stdout + result.stderr, /secret-token-value/)
  })

  it('a token no Authorization header can carry is a usage error, before any connection', () => {
    const run = (token: string, env: NodeJS.ProcessEnv = {}) =>
      runCliSync(
        [
          ...['run', '--upstream', 'http://127.0.0.1:9/mcp', '--port', '0'],
          ...['--tunnel', REFUSED_ORIGIN],
          ...(token === '' ? [] : ['--tunnel-token', token]),
        ],
        env,
      )
    const spaced = run('trail ')
    assert.equal(spaced.status, 2)
    assert.match(spaced.stderr, /--tunnel-token: a token cannot start or end with a space/)
    const euro = run('', { PORTICO_TUNNEL_TOKEN: '€uro' })
    assert.equal(euro.status, 2)
    assert.match(euro.stderr, /PORTICO_TUNNEL_TOKEN: a token travels in an HTTP header/)
  })
})
