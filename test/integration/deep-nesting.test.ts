/**
 * Messages nested deeper than JSON.stringify can write back. JSON.parse reads any depth, but
 * the gateway writes every message again (to a backend, to the client), and so does the
 * argument size check of `[security]` in both modes; writing recurses. A client's request is
 * its own error (-32602 with its id): never sent, and not the backend's failure, so a client
 * cannot open a backend's breaker for everyone by sending such calls. A backend's answer is a
 * bad response (502, -32603 with the id), a backend's message outside a call is dropped and
 * logged (it once took the process down), and a listed tool nested that deep is left out of
 * the merged list; in transparent mode, a widget answer whose CSP is rewritten is a bad response
 * too. Real sockets, a real stdio process and real HTTP servers, the gateway's backends each
 * behind a breaker that opens after two failures.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { ConfigInput } from '../../src/config/schema.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { MCP_ACCEPT, openSession } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

/** Deep enough to overflow JSON.stringify's recursion on any stack Node starts with. */
const DEPTH = 100_000
/** JSON text of arrays nested DEPTH levels deep. */
const DEEP = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`
const breaker = { minimum_calls: 2, failure_rate_threshold: 0.5, wait_duration_seconds: 60 }
const retry = { max_retries: 2, initial_backoff_ms: 1, max_backoff_ms: 2 }

interface Answer {
  status: number
  id?: unknown
  result?: { content?: Array<{ text?: string }> }
  error?: { code: number; message: string }
}

describe('gateway: messages nested too deeply to write back', () => {
  let http: FaultyHttp
  let portico: RunningPortico
  let session: string
  const logs: string[] = []

  before(async () => {
    http = await startFaultyHttp('deep-http')
    const logger = new Logger({ level: 'warn', write: (line) => logs.push(line) })
    portico = await startPortico(
      {
        proxy: { admin_tools: false },
        backends: [
          { name: 'web', transport: 'http', url: http.url, circuit_breaker: breaker, retry },
          {
            name: 'raw',
            transport: 'stdio',
            command: process.execPath,
            args: [fixture('raw-stdio')],
            env: { RAW_DEEP_TOOL: '1' },
            circuit_breaker: breaker,
            retry,
            // Its key is made from the arguments, its entry from the answer: both written.
            cache: { tool_ttl_seconds: 60 },
          },
          {
            // A process of the session's own: what it sends outside a call is that session's
            // (a shared process's log line outside any call goes to no client at all).
            name: 'own',
            transport: 'stdio',
            command: process.execPath,
            args: [fixture('raw-stdio')],
            isolation: 'session',
          },
        ],
      } as ConfigInput,
      { logger },
    )
    session = await openSession(portico.url)
  })
  after(async () => {
    await portico?.close()
    await http?.close()
  })

  async function post(body: string): Promise<Answer> {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
      body,
    })
    return { status: response.status, ...((await response.json()) as object) }
  }

  function call(id: string, name: string, args: object): Promise<Answer> {
    const params = { name, arguments: args }
    return post(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }))
  }

  /** A `tools/call` whose `arguments.deep` is DEPTH arrays deep, written as text. */
  function deepCall(id: string, name: string): Promise<Answer> {
    const params = `{"name":"${name}","arguments":{"deep":${DEEP}}}`
    return post(`{"jsonrpc":"2.0","id":"${id}","method":"tools/call","params":${params}}`)
  }

  it("refuses a client's arguments as invalid params, unsent, without opening the backend's breaker", async () => {
    for (const name of ['web__echo', 'raw__huge']) {
      for (let i = 0; i < 4; i++) {
        const answer = await deepCall(`${name}-${i}`, name)
        assert.equal(answer.status, 200)
        assert.equal(answer.id, `${name}-${i}`)
        assert.equal(answer.error?.code, -32602, JSON.stringify(answer.error))
        assert.match(answer.error?.message ?? '', /cannot be forwarded as JSON.*nested too deeply/)
      }
    }
    // Four failures each would have opened both breakers (two failures in two calls).
    const echoed = await call('after-web', 'web__echo', { text: 'still here' })
    assert.equal(echoed.error, undefined, JSON.stringify(echoed.error))
    assert.match(echoed.result?.content?.[0]?.text ?? '', /still here/)
    const huge = await call('after-raw', 'raw__huge', { bytes: 5 })
    assert.equal(huge.error, undefined, JSON.stringify(huge.error))
    assert.equal(huge.result?.content?.[0]?.text, 'xxxxx')
    assert.equal(http.server.runs.get('echo'), 1, 'the HTTP backend ran only the well-formed call')
    const refused = portico.sink.exchanges().filter((e) => String(e.jsonrpcId).includes('__'))
    assert.equal(refused.length, 8)
    for (const event of refused) assert.equal(event.reason, 'invalid_params')
  })

  it("answers a backend's answer as a bad response, with the call's id, and serves the next call", async () => {
    const answer = await call('deep-answer', 'raw__deep', { depth: DEPTH })
    assert.equal(answer.status, 502)
    assert.equal(answer.id, 'deep-answer')
    assert.equal(answer.error?.code, -32603)
    assert.match(answer.error?.message ?? '', /cannot be relayed as JSON.*nested too deeply/)
    const recorded = portico.sink.exchanges().find((e) => e.jsonrpcId === 'deep-answer')
    assert.equal(recorded?.reason, 'upstream_bad_response')
    const shallow = await call('shallow-answer', 'raw__deep', { depth: 3 })
    assert.equal(shallow.error, undefined, JSON.stringify(shallow.error))
    assert.equal(shallow.result?.content?.[0]?.text, 'deep')
  })

  it("drops a backend's log message nested too deeply, says so, and keeps serving", async () => {
    const answer = await call('log', 'own__deep_log', {})
    assert.equal(answer.result?.content?.[0]?.text, 'logging')
    await until(() => logs.some((line) => line.includes('a message it sent was dropped')), 5000)
    const line = logs.find((l) => l.includes('a message it sent was dropped')) ?? ''
    assert.match(line, /backend own: .*nested too deeply/)
    const next = await call('after-log', 'raw__huge', { bytes: 3 })
    assert.equal(next.result?.content?.[0]?.text, 'xxx')
  })

  it('leaves a listed tool nested too deeply out of the merged list, and lists the rest', async () => {
    const listed = (await post('{"jsonrpc":"2.0","id":"list","method":"tools/list"}')) as Answer & {
      result?: { tools?: Array<{ name: string }> }
    }
    const names = (listed.result?.tools ?? []).map((tool) => tool.name)
    assert.ok(names.includes('raw__huge'), names.join(', '))
    assert.ok(names.includes('web__echo'), names.join(', '))
    assert.ok(!names.includes('raw__deep_schema'), 'the deep tool is listed')
    assert.ok(
      logs.some((l) =>
        /backend raw's item "deep_schema" left out: is nested deeper than 256/.test(l),
      ),
      logs.join('\n'),
    )
  })

  it('refuses an initialize nested too deeply, before any session or backend start', async () => {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_ACCEPT,
      body: `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"x":${DEEP}},"clientInfo":{"name":"deep","version":"1"}}}`,
    })
    const answer = (await response.json()) as Answer
    assert.equal(answer.id, 'init')
    assert.equal(answer.error?.code, -32602, JSON.stringify(answer.error))
    assert.match(answer.error?.message ?? '', /nested deeper than 256 levels/)
    assert.equal(response.headers.get('mcp-session-id'), null)
  })

  it('refuses an initialize whose capabilities a session would keep are too large', async () => {
    // A session keeps them for its life: before, 3 MB each from one client grew the process by
    // gigabytes (and went to every backend the session started).
    const big = JSON.stringify({ x: 'x'.repeat(70_000) })
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_ACCEPT,
      body: `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":${big},"clientInfo":{"name":"big","version":"1"}}}`,
    })
    const answer = (await response.json()) as Answer
    assert.equal(answer.id, 'init')
    assert.equal(answer.error?.code, -32602, JSON.stringify(answer.error))
    assert.match(answer.error?.message ?? '', /capabilities and clientInfo of \d+ characters/)
    assert.equal(response.headers.get('mcp-session-id'), null)
  })

  it('takes a cancel whose requestId is nested too deeply as naming no call', async () => {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-session-id': session },
      body: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${DEEP}}}`,
    })
    assert.equal(response.status, 202, await response.text())
    const next = await call('after-cancel', 'raw__huge', { bytes: 2 })
    assert.equal(next.result?.content?.[0]?.text, 'xx')
  })
})

describe('[security] max_argument_size, both modes: arguments nested too deeply', () => {
  let upstream: FaultyHttp
  let gateway: RunningPortico
  let transparent: RunningPortico
  const security = { max_argument_size: 1_048_576 }

  before(async () => {
    upstream = await startFaultyHttp('sized-http')
    transparent = await startPortico({ upstream: upstream.url, security } as ConfigInput)
    gateway = await startPortico({
      proxy: { admin_tools: false },
      security,
      backends: [
        {
          name: 'raw',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
        },
      ],
    } as ConfigInput)
  })
  after(async () => {
    await gateway?.close()
    await transparent?.close()
    await upstream?.close()
  })

  it('are refused as invalid params by the size check, with the id, and not forwarded', async () => {
    for (const [portico, tool] of [
      [gateway, 'raw__huge'],
      [transparent, 'echo'],
    ] as const) {
      // The fault server keeps no sessions; the gateway does.
      const session: Record<string, string> = {}
      if (portico === gateway) session['mcp-session-id'] = await openSession(portico.url)
      const response = await fetch(portico.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, ...session },
        body: `{"jsonrpc":"2.0","id":"sized","method":"tools/call","params":{"name":"${tool}","arguments":{"d":${DEEP}}}}`,
      })
      const answer = (await response.json()) as Answer
      assert.equal(response.status, 200)
      assert.equal(answer.id, 'sized')
      assert.equal(answer.error?.code, -32602, JSON.stringify(answer.error))
      assert.match(answer.error?.message ?? '', /nested too deeply/)
    }
    assert.equal(upstream.server.runs.get('echo') ?? 0, 0, 'the upstream was not asked')
  })
})

describe('transparent with [auth] roles (a body repeating a member is written again): arguments nested too deeply', () => {
  it("are the client's invalid params, never the upstream's bad response: the breaker stays closed", async () => {
    const upstream = await startFaultyHttp('judged-http')
    const key = 'reader-key-0123456789'
    const portico = await startPortico({
      upstream: upstream.url,
      circuit_breaker: breaker,
      auth: {
        api_keys: [{ name: 'reader', key, roles: ['reader'] }],
        roles: [{ name: 'reader', allow_tools: ['echo'] }],
      },
    } as ConfigInput)
    try {
      const send = (id: string, args: string) =>
        fetch(portico.url, {
          method: 'POST',
          headers: { ...MCP_ACCEPT, authorization: `Bearer ${key}` },
          body: `{"jsonrpc":"2.0","id":"${id}","method":"tools/call","params":{"name":"echo","arguments":${args}}}`,
        })
      for (let i = 0; i < 4; i++) {
        // `"name"` twice: the body goes upstream written again from what the roles judged,
        // and arguments nested this deep cannot be written.
        const response = await send(`deep-${i}`, `{"d":${DEEP}},"name":"echo"`)
        const answer = (await response.json()) as Answer
        // Before: 502 -32603 "Upstream sent an invalid response", counted against the breaker.
        assert.equal(answer.id, `deep-${i}`)
        assert.equal(answer.error?.code, -32602, JSON.stringify(answer.error))
        assert.match(answer.error?.message ?? '', /cannot be forwarded as JSON.*nested too deeply/)
      }
      // Another caller's call still reaches the upstream (before: 503, the circuit open).
      const next = await send('plain', '{"text":"hi"}')
      assert.equal(next.status, 200, await next.text())
    } finally {
      await portico.close()
      await upstream.close()
    }
  })
})

describe('transparent with [csp]: an upstream widget’s _meta nested too deeply', () => {
  let upstream: Server
  let portico: RunningPortico

  before(async () => {
    // A stateless upstream whose widget resource carries `_meta` nested DEPTH levels deep.
    upstream = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk) => {
        body += chunk
      })
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: unknown; method: string }
        if (message.id === undefined) return void res.writeHead(202).end()
        const result =
          message.method === 'resources/read'
            ? `{"contents":[{"uri":"ui://widget/w.html","mimeType":"text/html;profile=mcp-app","text":"<p>","_meta":{"ui":{"csp":{}},"deep":${DEEP}}}]}`
            : '{"protocolVersion":"2025-06-18","capabilities":{"resources":{}},"serverInfo":{"name":"d","version":"1"}}'
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(`{"jsonrpc":"2.0","id":${JSON.stringify(message.id)},"result":${result}}`)
      })
    })
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const { port } = upstream.address() as AddressInfo
    portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/mcp`,
      csp: { connectDomains: { domains: ['https://api.example.com'] } },
    } as ConfigInput)
  })
  after(async () => {
    await portico?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  it('is answered as a bad response with the id, where it was an internal error', async () => {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_ACCEPT,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'read',
        method: 'resources/read',
        params: { uri: 'ui://widget/w.html' },
      }),
    })
    const answer = (await response.json()) as Answer
    assert.equal(response.status, 502)
    assert.equal(answer.id, 'read')
    assert.equal(answer.error?.code, -32603)
    assert.match(answer.error?.message ?? '', /cannot be relayed as JSON.*nested too deeply/)
  })
})
