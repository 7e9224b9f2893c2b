/**
 * The tunnel client against a relay that misbehaves (a fake one, speaking the protocol over a
 * real WebSocket on 127.0.0.1): one that drops every registration at once is redialled with a
 * growing backoff, a registration with a URL that is not a web origin is refused, closing the
 * client ends a registration in progress at once, a loopback address however written never
 * reaches Portico as the client's, and `portico run --tunnel` exits when what follows the
 * registration fails (the open tunnel used to keep the process alive).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { type WebSocket, WebSocketServer } from 'ws'
import { Logger } from '../../src/observe/logger.ts'
import { TunnelClient } from '../../src/tunnel/client.ts'
import { decodeFrame, encodeJson, FrameType, REGISTER_PATH } from '../../src/tunnel/frames.ts'
import { DEFAULT_MUX, Mux } from '../../src/tunnel/mux.ts'
import { CLI, cliEnv, runCli } from '../helpers/cli.ts'
import { spawnCollecting, stopChild } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

interface FakeRelay {
  url: string
  connections: number
  /** The relay's side of the newest registered tunnel. */
  latest: Mux | undefined
  close(): void
}

/**
 * A relay that answers each registration with `ack` (or never, when undefined) and then does
 * what `after` says with the connection.
 */
async function fakeRelay(
  ack: Record<string, unknown> | undefined,
  afterAck: (ws: WebSocket) => void = () => {},
  beforeAck: () => Promise<void> = async () => {},
): Promise<FakeRelay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: REGISTER_PATH })
  await once(wss, 'listening')
  const relay: FakeRelay = {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connections: 0,
    latest: undefined,
    close: () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
    },
  }
  wss.on('connection', (ws) => {
    relay.connections++
    ws.once('message', async (data) => {
      if (decodeFrame(data as Buffer)?.type !== FrameType.Register || ack === undefined) return
      await beforeAck()
      ws.send(encodeJson(FrameType.Registered, 0, ack))
      afterAck(ws)
    })
  })
  return relay
}

const GOOD_ACK = { subdomain: 'sub', url: 'https://sub.relay.test' }
const quiet = () => new Logger({ level: 'silent' })

describe('the tunnel client and a relay that misbehaves', () => {
  const closers: Array<() => void> = []
  after(() => {
    for (const close of closers) close()
  })

  it('a relay that drops each registration at once is redialled with a growing backoff', async () => {
    const relay = await fakeRelay(GOOD_ACK, (ws) => ws.close(1011, 'bye'))
    closers.push(relay.close)
    const client = new TunnelClient({
      relayUrl: relay.url,
      token: 't',
      logger: quiet(),
      backoff: { initialMs: 50, maxMs: 10_000 },
    })
    closers.push(() => client.close())
    await client.connect()
    await new Promise((resolve) => setTimeout(resolve, 2500))
    client.close()
    // 25-50, 50-100, 100-200, 200-400, 400-800, 800-1600 ms: at most 7 in 2.5 s. Starting the
    // backoff over at each registration dialled every 25-50 ms (50 and more).
    assert.ok(relay.connections <= 8, `${relay.connections} connections in 2.5 s`)
    assert.ok(relay.connections >= 4, `${relay.connections} connections in 2.5 s`)
  })

  it('refuses a registration whose public URL is not an http(s) URL', async () => {
    for (const url of ['not a url', 'file:///etc/passwd', 'javascript:alert(1)']) {
      const relay = await fakeRelay({ subdomain: 'sub', url })
      closers.push(relay.close)
      const client = new TunnelClient({ relayUrl: relay.url, token: 't', logger: quiet() })
      await assert.rejects(
        client.connect(),
        /the relay sent a public URL that is not an http\(s\) URL/,
      )
      client.close()
    }
  })

  it('close ends a registration the relay never answers, at once', async () => {
    const relay = await fakeRelay(undefined)
    closers.push(relay.close)
    const client = new TunnelClient({
      relayUrl: relay.url,
      token: 't',
      logger: quiet(),
      registerTimeoutMs: 30_000,
    })
    const connecting = client.connect()
    await until(() => relay.connections === 1 || undefined, 5000, 'the registration to reach it')
    const started = Date.now()
    client.close()
    await assert.rejects(connecting, /closed/)
    assert.ok(Date.now() - started < 1000)
  })

  it('a loopback address from the relay, however written, never reaches Portico as the client', async () => {
    let relaySide: Mux | undefined
    const relay = await fakeRelay(GOOD_ACK, (ws) => {
      relaySide = new Mux(ws, { ...DEFAULT_MUX })
    })
    closers.push(relay.close)
    const client = new TunnelClient({ relayUrl: relay.url, token: 't', logger: quiet() })
    closers.push(() => client.close())
    const seen: Array<string | undefined> = []
    client.serve((req, res) => {
      seen.push(req.socket.remoteAddress)
      res.end('ok')
    })
    await client.connect()
    await until(() => relaySide, 5000, 'the relay side')
    const remotes = [
      '::FFFF:127.0.0.1',
      '0:0:0:0:0:0:0:1',
      '[::1]:443',
      ' 127.0.0.1',
      '127.9.9.9',
      'localhost',
      '203.0.113.7',
      '[2001:db8::5]:443',
    ]
    for (const remote of remotes) {
      const stream = (relaySide as Mux).open({
        method: 'GET',
        path: '/',
        headers: ['host', 'sub.relay.test'],
        remote,
      })
      const done = new Promise<void>((resolve) =>
        stream.receive({ data: () => {}, end: resolve, reset: () => resolve() }),
      )
      stream.end()
      await done
    }
    assert.deepEqual(seen, [...Array(6).fill(undefined), '203.0.113.7', '2001:db8::5'])
  })
})

describe('portico run --tunnel', () => {
  const dir = scratchDir('portico-tunnel-client-')
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('never answers what the tunnel brings, whatever Host and headers the relay wrote', async () => {
    let relaySide: Mux | undefined
    const relay = await fakeRelay(GOOD_ACK, (ws) => {
      relaySide = new Mux(ws, { ...DEFAULT_MUX })
    })
    const file = join(dir, 'admin-open.toml')
    writeFileSync(
      file,
      'upstream = "http://127.0.0.1:1/mcp"\nport = 0\n[store]\nenabled = false\n[admin]\nenabled = true\n',
    )
    const portico = spawnCollecting(
      process.execPath,
      [CLI, 'run', '--config', file, '--tunnel', relay.url, '--tunnel-token', 't'],
      { env: cliEnv() },
    )
    try {
      const mux = await until(() => relaySide, 10_000, 'the tunnel')
      // A relay that writes a loopback Host and no X-Forwarded-For: before, it passed for a
      // local client, and the admin API (backends/add runs a command) answered it.
      const ask = () => {
        const stream = mux.open({
          method: 'GET',
          path: '/admin/config',
          headers: ['host', 'localhost'],
        })
        const status = new Promise<unknown>((resolve) => {
          stream.onHead = (head) => resolve(head.status)
        })
        stream.receive({ data: () => {}, end: () => {}, reset: () => {} })
        stream.end()
        return status
      }
      // 503 until Portico's handler is attached (it registers first); then the refusal.
      const status = await until(
        async () => {
          const answered = await ask()
          return answered === 503 ? undefined : answered
        },
        10_000,
        "the admin route's answer",
      )
      assert.equal(status, 403)
    } finally {
      await stopChild(portico.child)
      relay.close()
    }
  })

  it('exits when the store cannot open after the tunnel registered', async () => {
    const relay = await fakeRelay(GOOD_ACK)
    try {
      const result = await runCli(
        [
          ...['run', '--upstream', 'http://127.0.0.1:1/mcp', '--port', '0'],
          ...['--db', '/proc/portico-cannot-write-here.db'],
          ...['--tunnel', relay.url, '--tunnel-token', 't'],
        ],
        15_000,
      )
      assert.equal(result.code, 1, result.stderr)
      assert.match(result.stderr, /cannot open the store/)
    } finally {
      relay.close()
    }
  })

  it('a SIGHUP while it registers is a reload once Portico listens, not the end', async () => {
    let registering = () => {}
    const registers = new Promise<void>((resolve) => {
      registering = resolve
    })
    let answer = () => {}
    const answered = new Promise<void>((resolve) => {
      answer = resolve
    })
    const relay = await fakeRelay(GOOD_ACK, undefined, () => {
      registering()
      return answered
    })
    const file = join(dir, 'hangup.toml')
    writeFileSync(file, 'upstream = "http://127.0.0.1:1/mcp"\nport = 0\n[store]\nenabled = false\n')
    const portico = spawnCollecting(
      process.execPath,
      [CLI, 'run', '--config', file, '--tunnel', relay.url, '--tunnel-token', 't'],
      { env: cliEnv() },
    )
    try {
      await registers
      // Node's default for SIGHUP is to exit: before, this ended Portico while it registered.
      portico.child.kill('SIGHUP')
      await delay(200)
      answer()
      await until(
        () => /Portico listening on/.test(portico.stdout()) || undefined,
        10_000,
        'listening',
      )
      await until(
        () => /config reload accepted; nothing to change/.test(portico.stderr()) || undefined,
        5000,
        'the reload once listening',
      )
      assert.match(
        portico.stderr(),
        /received SIGHUP while starting: reloading now that Portico listens/,
      )
      assert.equal(portico.child.exitCode, null, 'still running')
      assert.equal(portico.child.signalCode, null, 'not ended by the signal')
    } finally {
      await stopChild(portico.child)
      relay.close()
    }
  })
})
