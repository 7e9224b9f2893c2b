/**
 * Registration at the relay against strangers that connect and stay silent (a real relay in
 * process, real WebSockets on 127.0.0.1; the relay trusts X-Forwarded-For only from loopback,
 * which is how these sockets come from many addresses). Silent sockets are closed after
 * `registration_timeout`, one address holds at most 8 of the 64 places, and a tunnel that
 * presents its token in the upgrade request (as Portico's tunnel client does) registers even
 * while every place for anonymous sockets is taken.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import { Logger } from '../../src/observe/logger.ts'
import { RelayAuth } from '../../src/relay/auth.ts'
import type { Relay } from '../../src/relay/server.ts'
import { TunnelClient, type TunnelError } from '../../src/tunnel/client.ts'
import { CloseCode, encodeJson, FrameType, PROTOCOL_VERSION } from '../../src/tunnel/frames.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'
import { startTestRelay } from '../helpers/relay.ts'
import { until } from '../helpers/wait.ts'

const TOKEN = 'alice-token-0123456789'
/** Where the tunnel client names the subdomain in its upgrade request (the wire contract). */
const SUBDOMAIN_HEADER = 'x-portico-tunnel-subdomain'

type Outcome = { ws: WebSocket; status: 'open' | number }

describe('relay registration against silent sockets', () => {
  const relays: Relay[] = []
  const sockets: WebSocket[] = []
  const clients: TunnelClient[] = []
  const raw: Socket[] = []

  after(async () => {
    for (const client of clients) client.close()
    for (const ws of sockets) ws.terminate()
    for (const socket of raw) socket.destroy()
    for (const relay of relays) await relay.close()
  })

  async function startRelay(registration_timeout?: string): Promise<number> {
    const { relay, port } = await startTestRelay(
      registration_timeout ? { registration_timeout } : {},
      {
        auth: new RelayAuth({ mode: 'static', tokens: [{ token: TOKEN, subdomains: ['alice'] }] }),
      },
    )
    relays.push(relay)
    return port
  }

  /** A WebSocket to the registration path that sends nothing: open, or the HTTP status. */
  function silent(port: number, headers: Record<string, string> = {}): Promise<Outcome> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`, { headers })
    sockets.push(ws)
    ws.on('error', () => {})
    return new Promise((resolve) => {
      ws.once('open', () => resolve({ ws, status: 'open' }))
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        res.resume()
        resolve({ ws, status: res.statusCode ?? 0 })
      })
    })
  }

  /** The first frame of a registration: alice's, with `fields` instead where given. */
  function sendRegistration(ws: WebSocket, fields: Record<string, unknown> = {}): void {
    ws.send(
      encodeJson(FrameType.Register, 0, {
        version: PROTOCOL_VERSION,
        token: TOKEN,
        subdomain: 'alice',
        ...fields,
      }),
    )
  }

  /** Registers as an older client would: the token only in the first frame. */
  async function frameOnly(port: number, address: string) {
    const { ws, status } = await silent(port, { 'x-forwarded-for': address })
    assert.equal(status, 'open')
    sendRegistration(ws)
    return Promise.race([
      once(ws, 'message').then(() => 'registered'),
      once(ws, 'close').then(([code]) => `closed ${code}`),
    ])
  }

  function tunnelClient(port: number, token = TOKEN, subdomain = 'alice') {
    const client = new TunnelClient({
      relayUrl: `http://127.0.0.1:${port}`,
      token,
      subdomain,
      logger: new Logger({ level: 'silent' }),
      registerTimeoutMs: 5000,
    })
    clients.push(client)
    return client
  }

  it('64 silent sockets from many addresses do not keep out a tunnel whose upgrade request carries its token', async () => {
    const port = await startRelay()
    const taken = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        silent(port, { 'x-forwarded-for': `203.0.113.${1 + (i % 8)}` }),
      ),
    )
    assert.deepEqual(
      taken.map((t) => t.status),
      Array(64).fill('open'),
    )
    // Every place for anonymous sockets is taken: the next one, from a new address, waits outside.
    assert.equal((await silent(port, { 'x-forwarded-for': '203.0.113.99' })).status, 503)
    const registration = await tunnelClient(port).connect()
    assert.equal(registration.url, 'https://alice.relay.test')
  })

  it('one address holds at most 8 places; an older client from another address still registers', async () => {
    const port = await startRelay()
    const fromOne = await Promise.all(
      Array.from({ length: 12 }, () => silent(port, { 'x-forwarded-for': '198.51.100.7' })),
    )
    assert.deepEqual(
      fromOne.map((t) => t.status),
      [...Array(8).fill('open'), ...Array(4).fill(503)],
    )
    // Loopback without X-Forwarded-For is one address too (the probe's 64 sockets from one host).
    const local = await Promise.all(Array.from({ length: 10 }, () => silent(port)))
    assert.equal(local.filter((t) => t.status === 'open').length, 8)
    assert.equal(await frameOnly(port, '198.51.100.8'), 'registered')
  })

  it('a socket that does not register within registration_timeout is closed (4004)', async () => {
    const port = await startRelay('1s')
    const anonymous = await silent(port)
    const checked = await silent(port, {
      authorization: `Bearer ${TOKEN}`,
      [SUBDOMAIN_HEADER]: 'alice',
    })
    assert.deepEqual([anonymous.status, checked.status], ['open', 'open'])
    const closes = await Promise.all(
      [anonymous.ws, checked.ws].map((ws) =>
        Promise.race([
          once(ws, 'close').then(([code, reason]) => `${code} ${reason}`),
          new Promise((resolve) => setTimeout(() => resolve('still open after 4 s'), 4000)),
        ]),
      ),
    )
    // Closed by the 1 s deadline configured here (the default, 5 s, would leave them open).
    assert.deepEqual(closes, ['4004 no registration', '4004 no registration'])
    // Their places are free again: the same address opens 8 more.
    const again = await Promise.all(Array.from({ length: 8 }, () => silent(port)))
    assert.ok(again.every((t) => t.status === 'open'))
  })

  it('a token refused in the upgrade request gets 401 before any WebSocket; the client stops as for 4001', async () => {
    const port = await startRelay()
    const wrong = await silent(port, { authorization: 'Bearer not-the-token' })
    assert.equal(wrong.status, 401)
    const notAllowed = tunnelClient(port, TOKEN, 'bob')
    await assert.rejects(notAllowed.connect(), (error: TunnelError) => {
      assert.equal(error.code, CloseCode.Refused)
      assert.equal(error.message, "subdomain 'bob' not authorized for this token")
      return true
    })
    const invalid = tunnelClient(port, 'not-the-token')
    await assert.rejects(invalid.connect(), { code: CloseCode.Refused, message: 'invalid token' })
  })

  it('an auth provider that cannot answer defers the registration (503, 1013): the client tries again', async () => {
    const { relay, port } = await startTestRelay(
      {},
      { auth: new RelayAuth({ mode: 'provider', provider: { url: REFUSED_ORIGIN } }) },
    )
    relays.push(relay)
    // Before: 401 and 4001, as for a bad token, and the client stopped for good.
    const upgrade = await silent(port, { authorization: `Bearer ${TOKEN}` })
    assert.equal(upgrade.status, 503)
    await assert.rejects(tunnelClient(port).connect(), (error: TunnelError) => {
      assert.notEqual(error.code, CloseCode.Refused)
      return true
    })
    const { ws, status } = await silent(port)
    assert.equal(status, 'open')
    sendRegistration(ws)
    const [code, reason] = await once(ws, 'close')
    assert.equal(code, CloseCode.TryAgainLater)
    assert.match(String(reason), /auth provider unavailable: try again later/)
  })

  it('a registration that differs from its upgrade request is refused (4001)', async () => {
    const port = await startRelay()
    const { ws, status } = await silent(port, {
      authorization: `Bearer ${TOKEN}`,
      [SUBDOMAIN_HEADER]: 'alice',
    })
    assert.equal(status, 'open')
    sendRegistration(ws, { token: 'another-token' })
    const [code, reason] = await once(ws, 'close')
    assert.equal(code, 4001)
    assert.equal(String(reason), 'the registration differs from its upgrade request')
  })
  it('a registration whose subdomain or token is not a string is refused (4004), not given a random name', async () => {
    const port = await startRelay()
    const outcomes: string[] = []
    for (const fields of [{ subdomain: 42 }, { subdomain: ['alice'] }, { token: { t: TOKEN } }]) {
      const { ws, status } = await silent(port)
      assert.equal(status, 'open')
      sendRegistration(ws, fields)
      const [code, reason] = await once(ws, 'close')
      outcomes.push(`${code} ${String(reason)}`)
    }
    assert.deepEqual(outcomes, [
      `${CloseCode.Protocol} malformed registration: subdomain must be a string`,
      `${CloseCode.Protocol} malformed registration: subdomain must be a string`,
      `${CloseCode.Protocol} malformed registration: token must be a string`,
    ])
    // A well-formed one from the same client still registers.
    assert.equal(await frameOnly(port, '198.51.100.9'), 'registered')
  })

  it('sockets refused with 401 that never close their side hold no place and are closed by the relay', async () => {
    const port = await startRelay()
    // 64 upgrade requests with a wrong token from 8 addresses, as a raw client that reads the
    // 401 and then keeps its half of the connection open (TCP allows it; the relay's HTTP
    // server allows half-open sockets).
    const ended = await Promise.all(
      Array.from({ length: 64 }, (_, i) => {
        const socket = connect(port, '127.0.0.1')
        raw.push(socket)
        socket.allowHalfOpen = true
        socket.on('error', () => {})
        let answer = ''
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString()
        })
        socket.write(
          [
            'GET /_tunnel/register HTTP/1.1',
            'Host: relay.test',
            'Connection: Upgrade',
            'Upgrade: websocket',
            'Sec-WebSocket-Version: 13',
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
            'Authorization: Bearer not-the-token',
            `X-Forwarded-For: 203.0.113.${1 + (i % 8)}`,
            '',
            '',
          ].join('\r\n'),
        )
        // The relay's FIN ('end'): its answer is complete.
        return once(socket, 'end').then(() => answer.split('\r\n')[0])
      }),
    )
    assert.deepEqual(ended, Array(64).fill('HTTP/1.1 401 Unauthorized'))
    // Their places are free: a tunnel with the right token registers at once.
    const registration = await tunnelClient(port).connect()
    assert.equal(registration.url, 'https://alice.relay.test')
    // And the relay closed those sockets itself rather than waiting on their peers for ever:
    // a byte sent to a closed socket meets a reset (the next write then fails and closes ours),
    // where a half-open one would take every byte.
    const poke = setInterval(() => {
      for (const socket of raw) if (!socket.destroyed) socket.write('x')
    }, 100)
    const deadline = new Promise((resolve) => setTimeout(() => resolve('still open'), 5000))
    const closed = await Promise.race([
      Promise.all(
        raw.map(
          (socket) =>
            new Promise((resolve) => {
              // Not once(): it rejects on the 'error' (EPIPE) that comes before the close.
              if (socket.closed) resolve(undefined)
              else socket.once('close', resolve)
            }),
        ),
      ).then(() => 'closed'),
      deadline,
    ])
    clearInterval(poke)
    assert.equal(closed, 'closed')
  })

  it('one token holds at most max_tunnels_per_token tunnels; its reconnections and other tokens still register', async () => {
    const auth = new RelayAuth({
      mode: 'static',
      tokens: [
        { token: TOKEN, subdomains: ['alice-*'] },
        { token: 'bob-token-0123456789', subdomains: ['bob'] },
      ],
    })
    const { relay, port } = await startTestRelay({ max_tunnels_per_token: 2 }, { auth })
    relays.push(relay)
    await tunnelClient(port, TOKEN, 'alice-1').connect()
    await tunnelClient(port, TOKEN, 'alice-2').connect()
    // The third, as Portico's tunnel client asks (the token in the upgrade request): 401.
    await assert.rejects(tunnelClient(port, TOKEN, 'alice-3').connect(), {
      code: CloseCode.Refused,
      message: "this token holds 2 tunnels already (the relay's max_tunnels_per_token)",
    })
    // As an older client asks (the token only in the first frame): refused the same way.
    const { ws } = await silent(port)
    sendRegistration(ws, { subdomain: 'alice-4' })
    const [code, reason] = await once(ws, 'close')
    assert.equal(
      `${code} ${String(reason)}`,
      `${CloseCode.Refused} this token holds 2 tunnels already (the relay's max_tunnels_per_token)`,
    )
    // Reconnecting to a subdomain it holds replaces that tunnel, and another token is not counted.
    await tunnelClient(port, TOKEN, 'alice-2').connect()
    await tunnelClient(port, 'bob-token-0123456789', 'bob').connect()
    await until(
      () => (relay.subdomains.length === 3 ? true : undefined),
      5000,
      `three tunnels (${relay.subdomains.join(', ')})`,
    )
    assert.deepEqual([...relay.subdomains].sort(), ['alice-1', 'alice-2', 'bob'])
  })

  it('lets a registration replace the tunnel it names, on a relay of max_tunnels', async () => {
    const { relay, port } = await startTestRelay({ max_tunnels: 1 })
    relays.push(relay)
    await tunnelClient(port, TOKEN, 'alice').connect()
    // Before: 503 at the upgrade, the client locked out until its old connection's heartbeat
    // ran out (and the place open to anyone meanwhile).
    await tunnelClient(port, TOKEN, 'alice').connect()
    assert.deepEqual(relay.subdomains, ['alice'])
    // Another name still finds the relay full.
    await assert.rejects(tunnelClient(port, 'other-token-0123456789', 'bob').connect())
  })
})

describe('max_tunnels against registrations that arrive together', () => {
  it('six tokens registering at once on a relay of two places get two tunnels', async () => {
    const { relay, port } = await startTestRelay({ max_tunnels: 2 })
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
          ws.on('error', () => {})
          const opened = await Promise.race([
            once(ws, 'open').then(() => true),
            once(ws, 'unexpected-response').then(() => false),
          ])
          if (!opened) return 'refused at the upgrade'
          ws.send(
            encodeJson(FrameType.Register, 0, {
              version: PROTOCOL_VERSION,
              token: `token-${i}`,
              subdomain: `t${i}`,
            }),
          )
          return Promise.race([
            once(ws, 'message').then(() => 'registered'),
            once(ws, 'close').then(([code]) => `closed ${code}`),
          ])
        }),
      )
      assert.equal(outcomes.filter((o) => o === 'registered').length, 2, outcomes.join(', '))
      assert.ok(
        outcomes.every(
          (o) => o === 'registered' || o === 'closed 1013' || o === 'refused at the upgrade',
        ),
        outcomes.join(', '),
      )
      assert.equal(relay.subdomains.length, 2)
    } finally {
      await relay.close()
    }
  })
})

describe('tunnels that come and go', () => {
  it('the relay lets go of every closed tunnel socket (it kept each one for its life)', async () => {
    const { relay, port } = await startTestRelay({})
    try {
      for (let i = 0; i < 20; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
        await once(ws, 'open')
        ws.send(
          encodeJson(FrameType.Register, 0, {
            version: PROTOCOL_VERSION,
            token: 't',
            subdomain: `come-${i}`,
          }),
        )
        await once(ws, 'message')
        ws.close()
        await once(ws, 'close')
      }
      await until(
        () => relay.webSockets === 0 || undefined,
        5000,
        `no sockets (${relay.webSockets})`,
      )
      assert.deepEqual(relay.subdomains, [])
    } finally {
      await relay.close()
    }
  })
})
