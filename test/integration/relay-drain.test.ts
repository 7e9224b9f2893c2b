/**
 * The relay stopping (SIGTERM, SIGINT): answers in flight finish, up to `drain_timeout`, before
 * the tunnels close; what arrives meanwhile is refused (new connections, a request on a
 * connection that was mid-request, a tunnel registering). Before, every request in flight got
 * a 502 the moment the signal came.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { after, afterEach, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import type { RelayAuth } from '../../src/relay/auth.ts'
import type { Relay } from '../../src/relay/server.ts'
import {
  CloseCode,
  encodeJson,
  FrameType,
  PROTOCOL_VERSION,
  SUBDOMAIN_HEADER,
} from '../../src/tunnel/frames.ts'
import type { TunnelStream } from '../../src/tunnel/mux.ts'
import { registerTunnel, startTestRelay } from '../helpers/relay.ts'
import { until } from '../helpers/wait.ts'
import { fetchVia, wildcardAgent } from '../helpers/wildcard-dns.ts'

describe('the relay drains on close', () => {
  let relay: Relay | undefined
  let tunnel: WebSocket | undefined
  const agent = wildcardAgent()
  const relayFetch = fetchVia(agent)

  afterEach(async () => {
    tunnel?.terminate()
    await relay?.close()
  })
  after(() => agent.close())

  /** A relay with one tunnel, `slow`, whose streams the test answers when it likes. */
  async function relayWithHeldStreams(held: TunnelStream[]) {
    const started = await startTestRelay({})
    relay = started.relay
    ;({ ws: tunnel } = await registerTunnel(started.port, 'slow', (stream) => {
      stream.receive({ data: (c) => stream.consumed(c.length), end: () => {}, reset: () => {} })
      held.push(stream)
    }))
    return { relay: started.relay, port: started.port }
  }

  const answer = (stream: TunnelStream, body: string) => {
    stream.sendHead(FrameType.Head, { status: 200, headers: ['content-type', 'text/plain'] })
    void stream.write(Buffer.from(body)).then(() => stream.end())
  }

  it('lets a request in flight finish, refuses new connections and registrations, then closes', async () => {
    const held: TunnelStream[] = []
    const { relay, port } = await relayWithHeldStreams(held)
    const inFlight = relayFetch(`http://slow.relay.test:${port}/asset.js`)
    await until(() => held.length === 1, 5000, 'the request reached the tunnel')
    let closed = false
    const closing = relay.close(10_000).then(() => {
      closed = true
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(closed, false, 'the relay waits for the answer in flight')
    await assert.rejects(
      fetch(`http://127.0.0.1:${port}/healthz`),
      'a new connection is refused while draining',
    )
    await assert.rejects(
      registerTunnel(port, 'late', () => {}),
      'a tunnel cannot register while the relay drains',
    )
    answer(held[0] as TunnelStream, 'finished')
    const response = await inFlight
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('connection'), 'close')
    assert.equal(await response.text(), 'finished')
    await closing
    assert.equal(relay.subdomains.length, 0)
  })

  it('answers 503 to a request that arrives on a connection it still holds', async () => {
    const held: TunnelStream[] = []
    const { relay, port } = await relayWithHeldStreams(held)
    const keep = relayFetch(`http://slow.relay.test:${port}/keep`)
    await until(() => held.length === 1, 5000, 'a request in flight keeps the relay draining')
    // A client mid-request when the signal comes: its head is half sent.
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    await once(socket, 'connect')
    socket.write(`GET /mcp HTTP/1.1\r\nhost: slow.relay.test:${port}\r\n`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const closing = relay.close(10_000)
    let text = ''
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString()
    })
    socket.write('\r\n')
    await until(() => text.includes('relay shutting down'), 5000, 'the late request answered')
    assert.match(text, /^HTTP\/1\.1 503 /)
    assert.match(text, /retry-after: 1/i)
    assert.match(text, /connection: close/i)
    assert.equal(held.length, 1, 'the late request never reached the tunnel')
    answer(held[0] as TunnelStream, 'ok')
    assert.equal((await keep).status, 200)
    await closing
    socket.destroy()
  })

  it('refuses a registration sent, or still checked by the auth provider, while it drains', async () => {
    let release: (() => void) | undefined
    const slowAuth = {
      authorize: async (token: string, requested: string | undefined) => {
        // alice's provider answers once the relay is closing; the others' at once.
        if (token.startsWith('tok-alice')) {
          await new Promise<void>((resolve) => {
            release = resolve
          })
        }
        return { ok: true as const, subdomain: requested ?? 'anyone' }
      },
    } as unknown as RelayAuth
    const started = await startTestRelay({}, { auth: slowAuth })
    relay = started.relay
    const { port } = started
    // A request in flight keeps the relay draining.
    const held: TunnelStream[] = []
    ;({ ws: tunnel } = await registerTunnel(port, 'slow', (stream) => {
      stream.receive({ data: (c) => stream.consumed(c.length), end: () => {}, reset: () => {} })
      held.push(stream)
    }))
    const inFlight = relayFetch(`http://slow.relay.test:${port}/asset.js`)
    await until(() => held.length === 1, 5000, 'the request reached the tunnel')
    // Its upgrade carries the token: the provider's check runs before the WebSocket opens.
    const checked = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`, {
      headers: { authorization: 'Bearer tok-alice-0123456789', [SUBDOMAIN_HEADER]: 'alice' },
    })
    const upgraded = new Promise<number>((resolve) => {
      checked.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      checked.once('open', () => resolve(101))
      checked.once('error', () => resolve(-1))
    })
    await until(() => release !== undefined, 5000, 'the provider asked')
    // Opened before the signal, registering after it (no token in its upgrade).
    const early = new WebSocket(`ws://127.0.0.1:${port}/_tunnel/register`)
    await once(early, 'open')
    const closing = started.relay.close(10_000)
    release?.()
    // Before: the check's end registered alice after the close, and the relay never exited.
    assert.equal(await upgraded, 503)
    early.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, subdomain: 'late' }))
    const [code] = (await once(early, 'close')) as [number]
    // Before: registered (the README says no registrations while draining).
    assert.equal(code, CloseCode.GoingAway, 'a registration while draining is refused')
    assert.deepEqual(started.relay.subdomains, ['slow'])
    answer(held[0] as TunnelStream, 'finished')
    assert.equal((await inFlight).status, 200)
    await closing
    assert.deepEqual(started.relay.subdomains, [])
  })

  it('closes what is still in flight at drain_timeout', async () => {
    const held: TunnelStream[] = []
    const { relay, port } = await relayWithHeldStreams(held)
    const never = relayFetch(`http://slow.relay.test:${port}/never`).then(
      (response) => response.status,
      () => 'connection closed',
    )
    await until(() => held.length === 1, 5000, 'the request reached the tunnel')
    await relay.close(200)
    // The tunnel never answered: the client's request ends instead of hanging.
    const outcome = await never
    assert.ok(outcome === 'connection closed' || outcome === 502, String(outcome))
  })
})
