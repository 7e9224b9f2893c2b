/**
 * The tunnel end to end, all real processes and sockets on 127.0.0.1: `portico relay` (a
 * child), a TCP forwarder the test can cut (the tunnel's network), server-everything, and
 * `portico run --tunnel` (a child) in front of it. Clients reach the relay at
 * `demo.relay.test:<port>`, resolved to 127.0.0.1 by the test's own DNS lookup, so routing
 * goes by the Host header as it does behind a wildcard DNS record.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, createServer as createTcpServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import Database from 'better-sqlite3'
import { WebSocket } from 'ws'
import { encodeJson, FrameType, PROTOCOL_VERSION } from '../../src/tunnel/frames.ts'
import { CLI, cliEnv } from '../helpers/cli.ts'
import { listenOnZero } from '../helpers/ports.ts'
import { type Spawned, spawnReady, startEverything } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'
import { fetchVia, wildcardAgent } from '../helpers/wildcard-dns.ts'

const DOMAIN = 'relay.test'
/** A second tenant's token, allowed some of the same names. */
const OTHER_TOKEN = 'tenant-two-token-0123456789abcdef'
const TOKEN = 'tok-demo-secret'

const agent = wildcardAgent()
const viaRelay = fetchVia(agent)

/**
 * A raw `trigger-long-running-operation` of `seconds` steps on the client's session, sent
 * through the relay at `url` as a plain POST (its stream is read, or cut, by the test itself).
 */
function longCallViaRelay(
  url: string,
  client: Client,
  id: string,
  seconds: number,
  signal?: AbortSignal,
) {
  const sessionId = (client as unknown as { _transport: { sessionId?: string } })._transport
    .sessionId as string
  return viaRelay(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: {
        name: 'trigger-long-running-operation',
        arguments: { duration: seconds, steps: seconds },
        _meta: { progressToken: id },
      },
    }),
    ...(signal === undefined ? {} : { signal }),
  })
}

/** A TCP hop between Portico and the relay that the test can cut, as a network failure would. */
class Forwarder {
  readonly #sockets = new Set<Socket>()
  readonly server = createTcpServer((socket) => {
    const upstream = connect(this.target, '127.0.0.1')
    for (const s of [socket, upstream]) {
      this.#sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        this.#sockets.delete(s)
        socket.destroy()
        upstream.destroy()
      })
    }
    socket.pipe(upstream).pipe(socket)
  })
  target: number
  constructor(target: number) {
    this.target = target
  }
  cut(): number {
    const count = this.#sockets.size
    for (const socket of this.#sockets) socket.destroy()
    return count
  }
}

function text(result: unknown): string {
  return (result as { content: Array<{ text?: string }> }).content[0]?.text ?? ''
}

describe('tunnel and relay end to end', { timeout: 170_000 }, () => {
  const dir = scratchDir('portico-tunnel-')
  const store = join(dir, 'store.db')
  const relayConfig = join(dir, 'relay.toml')
  let relay: Spawned
  let relayPort: number
  let forwarder: Forwarder
  let everything: Spawned & { url: string }
  let portico: Spawned
  let localUrl: string
  let data: Server
  let dataPort: number
  const clients: Client[] = []

  const publicUrl = () => `http://demo.${DOMAIN}:${relayPort}/mcp`

  /** `portico relay -c FILE`, or mcpr's spelling `relay run FILE`. */
  async function startRelay(port: number, mcprStyle = false): Promise<Spawned> {
    const config = mcprStyle ? ['run', relayConfig] : ['-c', relayConfig]
    const spawned = await spawnReady(
      process.execPath,
      [CLI, 'relay', ...config, '--port', String(port)],
      { env: cliEnv(), ready: /relay listening on http:\/\/127\.0\.0\.1:(\d+)/ },
    )
    relayPort = Number(/127\.0\.0\.1:(\d+)/.exec(spawned.stdout())?.[1])
    return spawned
  }

  async function sdkClient(name = 'tunnel-test'): Promise<Client> {
    const client = new Client({ name, version: '1.0.0' })
    await client.connect(
      new StreamableHTTPClientTransport(new URL(publicUrl()), { fetch: viaRelay }),
    )
    clients.push(client)
    return client
  }

  /** Resolves once the relay routes `demo` again; returns how long that took. */
  async function waitForTunnel(what: string): Promise<number> {
    const started = Date.now()
    await until(
      async () => {
        const response = await viaRelay(publicUrl(), { method: 'GET' }).catch(() => undefined)
        const body = await response?.text()
        return response !== undefined && !body?.includes('tunnel not found')
      },
      15_000,
      what,
    )
    return Date.now() - started
  }

  before(async () => {
    writeFileSync(
      relayConfig,
      `[relay]
domain = "${DOMAIN}"
public_scheme = "http"
response_timeout = "6s"
max_request_body_size = 1048576
max_response_body_size = 33554432
requests_per_second = 1000
[[relay.tokens]]
token = "${TOKEN}"
subdomains = ["demo", "other-*"]
[[relay.tokens]]
token = "${OTHER_TOKEN}"
subdomains = ["other-*"]
`,
    )
    relay = await startRelay(0)
    forwarder = new Forwarder(relayPort)
    const forwarderPort = await listenOnZero(forwarder.server)
    everything = await startEverything('streamableHttp')
    portico = await spawnReady(
      process.execPath,
      [
        CLI,
        'run',
        '--upstream',
        everything.url,
        '--port',
        '0',
        '--tunnel',
        `http://127.0.0.1:${forwarderPort}`,
        '--tunnel-subdomain',
        'demo',
        '--db',
        store,
      ],
      { env: cliEnv({ PORTICO_TUNNEL_TOKEN: TOKEN }), ready: /Public URL: \S+/ },
    )
    localUrl = /listening on (\S+)/.exec(portico.stdout())?.[1] ?? ''
    // Random bytes for the large answer: gzip cannot shrink them, base64 makes 10 MB of them.
    const payload = randomBytes(7.5 * 1024 * 1024)
    data = createServer((_req, res) => res.end(payload))
    dataPort = await listenOnZero(data)
    Object.assign(data, { payload })
  })

  after(async () => {
    await Promise.allSettled(clients.map((client) => client.close()))
    await Promise.allSettled([portico?.stop(), relay?.stop(), everything?.stop()])
    forwarder?.server.close()
    forwarder?.cut()
    data?.close()
    await agent.close()
  })

  it('prints the public URL and never the token', () => {
    assert.match(portico.stdout(), new RegExp(`Public URL: http://demo\\.${DOMAIN}/mcp`))
    assert.doesNotMatch(portico.output() + relay.output(), new RegExp(TOKEN))
  })

  it('a real SDK client reaches server-everything through the relay', async () => {
    const client = await sdkClient()
    const { tools } = await client.listTools()
    assert.ok(tools.some((tool) => tool.name === 'echo'))
    const result = await client.callTool({ name: 'echo', arguments: { message: 'through' } })
    assert.equal(text(result), 'Echo: through')
    await until(() => /demo {2}POST \/mcp {2}→ 200/.test(relay.stdout()), 5000, 'an access line')
  })

  it('progress notifications arrive through the tunnel before the result', async () => {
    const client = await sdkClient()
    const progress: number[] = []
    const started = Date.now()
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 3 } },
      undefined,
      { onprogress: () => progress.push(Date.now()), timeout: 20_000 },
    )
    const done = Date.now()
    assert.match(text(result), /Long running operation completed/)
    assert.equal(progress.length, 3)
    // Streamed as produced: the first step is reported about a second in, two before the end.
    assert.ok(
      (progress[0] as number) < done - 1500,
      `first progress ${(progress[0] as number) - started} ms, result ${done - started} ms`,
    )
    assert.ok((progress[1] as number) < done - 500)
  })

  it('a 10 MB answer passes intact', async () => {
    const client = await sdkClient()
    const result = (await client.callTool(
      {
        name: 'gzip-file-as-resource',
        arguments: {
          name: 'big.gz',
          data: `http://127.0.0.1:${dataPort}/big`,
          outputType: 'resource',
        },
      },
      undefined,
      { timeout: 60_000 },
    )) as { content: Array<{ resource?: { blob?: string } }> }
    const blob = result.content[0]?.resource?.blob ?? ''
    assert.ok(blob.length > 10_000_000, `blob of ${blob.length} characters`)
    const original = (data as Server & { payload: Buffer }).payload
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
    assert.equal(digest(gunzipSync(Buffer.from(blob, 'base64'))), digest(original))
  })

  it('20 concurrent sessions interleave, each getting its own answers', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sdkClient(`concurrent-${i}`)),
    )
    const answers = await Promise.all(
      sessions.map(async (client, i) => {
        const [slow, ...echoes] = await Promise.all([
          client.callTool(
            { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
            undefined,
            { timeout: 30_000 },
          ),
          ...[0, 1, 2].map((j) =>
            client.callTool({ name: 'echo', arguments: { message: `s${i}-m${j}` } }),
          ),
        ])
        return { slow: text(slow), echoes: echoes.map(text) }
      }),
    )
    answers.forEach((answer, i) => {
      assert.match(answer.slow, /completed/)
      assert.deepEqual(answer.echoes, [`Echo: s${i}-m0`, `Echo: s${i}-m1`, `Echo: s${i}-m2`])
    })
  })

  it('a public client that goes away cancels its call at Portico', async () => {
    const client = await sdkClient('cancel-test')
    const controller = new AbortController()
    const response = await longCallViaRelay(publicUrl(), client, 'gone-1', 10, controller.signal)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let seen = ''
    const deadline = Date.now() + 10_000
    // The first event may be an empty priming event (SEP-1699); the first progress follows.
    while (!seen.includes('notifications/progress') && Date.now() < deadline) {
      const chunk = await reader.read()
      if (chunk.done) break
      seen += Buffer.from(chunk.value).toString()
    }
    assert.match(seen, /notifications\/progress/)
    controller.abort()
    await until(
      () => {
        const db = new Database(store, { readonly: true })
        try {
          return db
            .prepare("SELECT outcome FROM exchanges WHERE jsonrpc_id = 'gone-1' AND via = 'tunnel'")
            .get() as { outcome: string } | undefined
        } finally {
          db.close()
        }
      },
      10_000,
      'the cancelled call in the store',
    ).then((row) => assert.equal(row.outcome, 'cancelled'))
  })

  it('the store tells tunnel traffic from local traffic', async () => {
    const local = await fetch(localUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'local-1',
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'local', version: '1' },
        },
      }),
    })
    await local.text()
    const rows = await until(
      () => {
        const db = new Database(store, { readonly: true })
        try {
          const found = db
            .prepare(
              "SELECT via, count(*) AS n FROM exchanges WHERE method IN ('initialize', 'tools/call') GROUP BY via ORDER BY via",
            )
            .all() as Array<{ via: string | null; n: number }>
          return found.length === 2 ? found : undefined
        } finally {
          db.close()
        }
      },
      10_000,
      'local and tunnel rows',
    )
    assert.equal(rows[0]?.via, null)
    assert.equal(rows[0]?.n, 1)
    assert.equal(rows[1]?.via, 'tunnel')
    assert.ok((rows[1]?.n ?? 0) >= 3, `${rows[1]?.n} tunnel rows`)
    // `portico logs --via` shows one side or the other, with the column in --json.
    const logs = (via: string) => {
      const out = spawnSync(
        process.execPath,
        [
          CLI,
          'logs',
          '--db',
          store,
          '--via',
          via,
          '--method',
          'initialize',
          '--tail',
          '1000',
          '--json',
        ],
        { encoding: 'utf8', env: cliEnv(), timeout: 20_000 },
      )
      assert.equal(out.status, 0, out.stderr)
      return out.stdout
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { via: string | null })
    }
    const localRows = logs('local')
    assert.equal(localRows.length, 1)
    assert.equal(localRows[0]?.via, null)
    const tunnelled = logs('tunnel')
    assert.ok(tunnelled.length >= 1 && tunnelled.every((row) => row.via === 'tunnel'))
    const bad = spawnSync(process.execPath, [CLI, 'logs', '--db', store, '--via', 'moon'], {
      encoding: 'utf8',
      env: cliEnv(),
      timeout: 20_000,
    })
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /--via: expected tunnel or local, got "moon"/)
  })

  it('bad input: unknown subdomain 404, oversized body 413, health still 200', async () => {
    const unknown = await viaRelay(`http://nobody.${DOMAIN}:${relayPort}/mcp`)
    assert.equal(unknown.status, 404)
    assert.equal(await unknown.text(), 'tunnel not found\n')
    const big = await viaRelay(publicUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    })
    assert.equal(big.status, 413)
    await big.text()
    // Without a Content-Length, the relay counts as it streams and stops at the bound.
    const chunked = await viaRelay(publicUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.toWeb(
        Readable.from(
          (function* () {
            for (let i = 0; i < 64; i++) yield Buffer.alloc(32 * 1024, 0x20)
          })(),
        ),
      ) as ReadableStream,
      duplex: 'half',
    } as RequestInit)
    assert.equal(chunked.status, 413)
    await chunked.text()
    const health = await viaRelay(`http://${DOMAIN}:${relayPort}/healthz`)
    assert.equal(health.status, 200)
    assert.deepEqual(await health.json(), { status: 'ok', tunnels: 1 })
  })

  it('a GET, DELETE or OPTIONS with a chunked body is answered through the tunnel as locally', async () => {
    const chunkedBody = () =>
      ({
        body: Readable.toWeb(Readable.from([Buffer.from('abc')])) as ReadableStream,
        duplex: 'half',
      }) as RequestInit
    for (const method of ['DELETE', 'OPTIONS']) {
      const local = await fetch(localUrl, { method, ...chunkedBody() })
      await local.text()
      const tunnelled = await viaRelay(publicUrl(), { method, ...chunkedBody() })
      await tunnelled.text()
      // Before: 502 "tunnel dropped request" (the body, sent unframed, read as a second request).
      assert.equal(tunnelled.status, local.status, method)
    }
  })

  it('bad input: an invalid token is refused with 4001; a second client with the same token evicts the first with 4002, one with another token is refused; a silent tunnel gets 504', async () => {
    const register = (token: string, subdomain: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${relayPort}/_tunnel/register`)
      const closed = once(ws, 'close').then(([code, reason]) => ({
        code: code as number,
        reason: String(reason),
      }))
      const acked = new Promise<void>((resolve) => ws.once('message', () => resolve()))
      ws.once('open', () =>
        ws.send(encodeJson(FrameType.Register, 0, { version: PROTOCOL_VERSION, token, subdomain })),
      )
      return { ws, closed, acked }
    }
    const wrong = register('not-the-token', 'other-x')
    assert.deepEqual(await wrong.closed, { code: 4001, reason: 'invalid token' })
    const notAllowed = register(TOKEN, 'elsewhere')
    assert.equal((await notAllowed.closed).code, 4001)

    const first = register(TOKEN, 'other-silent')
    await first.acked
    const second = register(TOKEN, 'other-silent')
    await second.acked
    assert.deepEqual(await first.closed, {
      code: 4002,
      reason: 'evicted: another client registered with the same tunnel',
    })
    // Another token allowed the same names cannot take the tunnel over: refused, and the
    // holder stays (it answers the 504 below).
    const intruder = register(OTHER_TOKEN, 'other-silent')
    assert.deepEqual(await intruder.closed, {
      code: 4001,
      reason: "subdomain 'other-silent' is in use by another token",
    })
    // `second` never answers the streams it is given.
    const started = Date.now()
    const silent = await viaRelay(`http://other-silent.${DOMAIN}:${relayPort}/mcp`)
    assert.equal(silent.status, 504)
    assert.equal(await silent.text(), 'tunnel timeout\n')
    assert.ok(Date.now() - started >= 5900)
    second.ws.terminate()

    // The relay goes on serving the other tunnel.
    const client = await sdkClient()
    assert.equal(
      text(await client.callTool({ name: 'echo', arguments: { message: 'still' } })),
      'Echo: still',
    )
  })

  it('the tunnel WebSocket cut mid-session: the client reconnects to the same subdomain and the session goes on', async () => {
    const client = await sdkClient('cut-test')
    assert.equal(
      text(await client.callTool({ name: 'echo', arguments: { message: 'a' } })),
      'Echo: a',
    )
    const before = (portico.output().match(/tunnel reconnected/g) ?? []).length
    // A call in flight when the connection breaks: its public client's stream is cut at once
    // (never left hanging); the call is cancelled at Portico.
    const response = await longCallViaRelay(publicUrl(), client, 'cut-1', 4)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let seen = ''
    while (!seen.includes('notifications/progress')) {
      const chunk = await reader.read()
      if (chunk.done) break
      seen += Buffer.from(chunk.value).toString()
    }
    assert.match(seen, /notifications\/progress/)
    assert.ok(forwarder.cut() >= 2, 'the tunnel connection was cut')
    const cutAt = Date.now()
    const ended = await (async () => {
      for (;;) {
        const chunk = await reader.read()
        if (chunk.done) return 'ended'
      }
    })().catch(() => 'broken')
    assert.equal(ended, 'broken')
    assert.ok(
      Date.now() - cutAt < 5000,
      `the public stream broke ${Date.now() - cutAt} ms after the cut`,
    )
    const row = await until(
      () => {
        const db = new Database(store, { readonly: true })
        try {
          return db.prepare("SELECT outcome FROM exchanges WHERE jsonrpc_id = 'cut-1'").get() as
            | { outcome: string }
            | undefined
        } finally {
          db.close()
        }
      },
      10_000,
      'the call cut off in the store',
    )
    assert.equal(row.outcome, 'cancelled')
    const took = await waitForTunnel('the tunnel to come back after the cut')
    assert.ok(took < 10_000, `reconnected in ${took} ms`)
    await until(
      () =>
        (portico.output().match(/tunnel reconnected: http:\/\/demo\.relay\.test/g) ?? []).length >
        before,
      5000,
      'the reconnect log line naming the same URL',
    )
    assert.equal(
      text(await client.callTool({ name: 'echo', arguments: { message: 'b' } })),
      'Echo: b',
    )
  })

  it('the relay killed and restarted: the client reconnects and the session goes on', async () => {
    const client = await sdkClient('restart-test')
    assert.equal(
      text(await client.callTool({ name: 'echo', arguments: { message: 'c' } })),
      'Echo: c',
    )
    const port = relayPort
    relay.child.kill('SIGKILL')
    await once(relay.child, 'exit')
    // Said in words: a bare "1006" told an operator nothing.
    await until(
      () =>
        /tunnel connection lost \(the connection dropped without a close \(1006\): relay stopped or network lost\); reconnecting/.test(
          portico.stderr(),
        ),
      5000,
      'the lost connection logged',
    )
    relay = await startRelay(port, true)
    const took = await waitForTunnel('the tunnel to come back after the relay restart')
    assert.ok(took < 15_000, `reconnected in ${took} ms`)
    assert.equal(
      text(await client.callTool({ name: 'echo', arguments: { message: 'd' } })),
      'Echo: d',
    )
  })
})
