/**
 * What a tenant's tunnel answers is not passed to the public client as it came (a fuzz of the
 * relay found each): bytes past the head's Content-Length would be read as the next response
 * on the client's keep-alive connection (another tenant's, behind a front proxy that pools
 * connections); hop-by-hop headers would reach the client; a cookie's `Domain = x` (spaces
 * around `=`) kept it on every tenant. And what a public client may not say: forwarding
 * headers the relay does not vouch for never reach the tunnel.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import type { Relay } from '../../src/relay/server.ts'
import {
  decodeFrame,
  encodeFrame,
  encodeJson,
  FrameType,
  PROTOCOL_VERSION,
} from '../../src/tunnel/frames.ts'
import { startTestRelay } from '../helpers/relay.ts'

/** How the tenant answers a request, by its path. */
const ANSWERS: Record<string, { head: unknown; body: string }> = {
  '/overrun': {
    head: { status: 200, headers: ['content-length', '2'] },
    body: 'hiHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nPWNED!',
  },
  '/two-lengths': {
    head: { status: 200, headers: ['content-length', '50', 'content-length', '5'] },
    body: 'helloHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nEVIL',
  },
  '/hex-length': {
    head: { status: 200, headers: ['content-length', '0x5'] },
    body: 'hello',
  },
  '/repeated-length': {
    head: { status: 200, headers: ['content-length', ' 5 , 5', 'content-length', '5'] },
    body: 'hello',
  },
  '/hop': {
    head: {
      status: 200,
      headers: [
        'content-length',
        '3',
        'transfer-encoding',
        'chunked',
        'connection',
        'x-internal',
        'x-internal',
        'secret',
        'set-cookie',
        'sid=1; Path=/; Domain = relay.test',
      ],
    },
    body: 'abc',
  },
}

describe("a tenant's answers and a client's forwarding headers, through the relay", () => {
  let relay: Relay
  let port: number
  let ws: WebSocket
  const seen: string[][] = []

  before(async () => {
    ;({ relay, port } = await startTestRelay({}))
    ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    await once(ws, 'open')
    ws.send(
      encodeJson(FrameType.Register, 0, {
        version: PROTOCOL_VERSION,
        token: 't',
        subdomain: 'evil',
      }),
    )
    await once(ws, 'message')
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data)
      if (frame?.type !== FrameType.Open) return
      const open = JSON.parse(frame.payload.toString('utf8')) as { path: string; headers: string[] }
      seen.push(open.headers)
      const answer = ANSWERS[open.path] ?? { head: { status: 204, headers: [] }, body: '' }
      ws.send(encodeJson(FrameType.Head, frame.stream, answer.head))
      if (answer.body !== '') {
        ws.send(encodeFrame(FrameType.Data, frame.stream, Buffer.from(answer.body)))
      }
      ws.send(encodeFrame(FrameType.End, frame.stream))
    })
  })
  after(async () => {
    ws?.terminate()
    await relay?.close()
  })

  /** Raw bytes of one request on its own connection, until the relay closes it (or 3 s). */
  function raw(request: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1')
      let text = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        text += chunk
      })
      const done = () => resolve(text)
      socket.on('close', done)
      socket.on('error', done)
      setTimeout(() => socket.destroy(), 3000)
      socket.write(request)
    })
  }

  it('never writes bytes past the head’s Content-Length: the connection is closed instead', async () => {
    const text = await raw('GET /overrun HTTP/1.1\r\nhost: evil.relay.test\r\n\r\n')
    assert.ok(!text.includes('PWNED'), text)
  })

  it('refuses an answer whose Content-Length is not one length; passes one repeated as one', async () => {
    // Before: both values went to the client (a parser reading the last one took the rest of
    // the body for the next response), and `0x5` was read as 5.
    for (const path of ['/two-lengths', '/hex-length']) {
      const text = await raw(`GET ${path} HTTP/1.1\r\nhost: evil.relay.test\r\n\r\n`)
      assert.match(text, /^HTTP\/1\.1 502 /, `${path}: ${text}`)
      assert.ok(!text.includes('EVIL'), text)
    }
    const text = await raw(
      'GET /repeated-length HTTP/1.1\r\nhost: evil.relay.test\r\nconnection: close\r\n\r\n',
    )
    const [head = '', body] = text.split('\r\n\r\n')
    assert.match(head, /^HTTP\/1\.1 200 /)
    assert.deepEqual(head.toLowerCase().match(/^content-length:.*$/gm), ['content-length: 5'])
    assert.equal(body, 'hello')
  })

  it('drops hop-by-hop headers, the ones Connection names, and a cookie’s Domain', async () => {
    const text = await raw(
      'GET /hop HTTP/1.1\r\nhost: evil.relay.test\r\nconnection: close\r\n\r\n',
    )
    const head = text.split('\r\n\r\n')[0]?.toLowerCase() ?? ''
    assert.match(head, /^http\/1\.1 200/)
    assert.ok(!head.includes('transfer-encoding'), head)
    assert.ok(!head.includes('x-internal'), head)
    assert.match(head, /set-cookie: sid=1; path=\/\r?$/m)
  })

  it('passes no forwarding header a public client wrote but the relay does not vouch for', async () => {
    seen.length = 0
    await raw(
      'GET /plain HTTP/1.1\r\nhost: evil.relay.test\r\nconnection: close\r\nx-real-ip: 192.0.2.77\r\nx-forwarded-prefix: /admin\r\nx-forwarded-port: 1\r\nforwarded: for=192.0.2.77\r\n\r\n',
    )
    const names = (seen[0] ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    for (const name of ['x-real-ip', 'x-forwarded-prefix', 'x-forwarded-port', 'forwarded']) {
      assert.ok(!names.includes(name), `${name} reached the tunnel`)
    }
    assert.ok(names.includes('x-forwarded-host'))
  })

  it('answers 431 to a request with more header fields than a tunnel frame carries', async () => {
    const many = Array.from({ length: 300 }, (_, i) => `x-h${i}: v\r\n`).join('')
    const text = await raw(`GET /plain HTTP/1.1\r\nhost: evil.relay.test\r\n${many}\r\n`)
    // Before: sent on, and the tunnel client dropped it (502 "tunnel dropped request").
    assert.match(text, /^HTTP\/1\.1 431 /, text.slice(0, 200))
  })

  it('answers a request its parser refuses with a status', async () => {
    const text = await raw(
      `GET / HTTP/1.1\r\nhost: evil.relay.test\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
    )
    assert.match(text, /^HTTP\/1\.1 431 /)
  })
})
