/**
 * Bad input and failures: every case gets a clear error (JSON-RPC error object with the
 * right code and id, or an HTTP status) and Portico keeps serving.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { type Misbehaving, startMisbehaving } from '../fixtures/misbehaving-upstream.ts'
import { startCli } from '../helpers/cli.ts'
import { firstLineToExpect } from '../helpers/expect-continue.ts'
import { initializeBody } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'
import { until } from '../helpers/wait.ts'

const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...headers },
    body,
  })
  const text = await response.text()
  const isJson = response.headers.get('content-type')?.includes('application/json') ?? false
  return {
    status: response.status,
    text,
    json: (isJson && text ? JSON.parse(text) : {}) as Record<string, unknown>,
  }
}

/** A POST of raw bytes with a Content-Encoding. */
async function postBytes(url: string, body: Buffer, coding: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, 'content-encoding': coding },
    body,
    signal: AbortSignal.timeout(10_000),
  })
  return { status: response.status, text: await response.text() }
}

/** node:http rather than fetch: fetch refuses to send hop-by-hop headers at all. */
function rawPost(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>))
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

describe('bad input and failures', () => {
  let demo: DemoServer
  let bad: Misbehaving
  let portico: RunningPortico

  before(async () => {
    demo = await startDemoServer()
    bad = await startMisbehaving()
    portico = await startPortico({
      upstream: demo.url,
      max_request_body_size: 1024,
      allowed_origins: ['https://app.example.com'],
    })
  })
  after(async () => {
    await portico?.close()
    await demo?.close()
    await bad?.close()
  })

  it('answers a batch of one with an array of one, as JSON-RPC says', async () => {
    const answer = await post(
      portico.url,
      JSON.stringify([{ jsonrpc: '2.0', id: 'only', method: 'ping' }]),
      { 'mcp-protocol-version': '2025-11-25' },
    )
    // (The demo server answers a ping outside a session with an error: an answer all the same.)
    const body = JSON.parse(answer.text) as unknown
    assert.ok(Array.isArray(body), answer.text)
    assert.equal(body.length, 1)
  })

  it('answers invalid JSON with 400 and -32700', async () => {
    const { status, json } = await post(portico.url, '{"jsonrpc":')
    assert.equal(status, 400)
    assert.equal((json.error as { code: number }).code, -32700)
    assert.equal('id' in json, false, 'no id can be known')
  })

  it('answers a non-JSON-RPC body with 400 and -32600, with the id when it carries one', async () => {
    const { status, json } = await post(portico.url, '{"hello":"world"}')
    assert.equal(status, 400)
    assert.equal((json.error as { code: number }).code, -32600)
    assert.equal('id' in json, false, 'no id to answer with')
    const wrongVersion = await post(portico.url, '{"jsonrpc":"1.0","id":"v1","method":"ping"}')
    assert.equal(wrongVersion.status, 400)
    assert.equal((wrongVersion.json.error as { code: number }).code, -32600)
    assert.equal(wrongVersion.json.id, 'v1')
  })

  it('refuses a body not labelled JSON with 415, naming the request id it holds', async () => {
    const ping = '{"jsonrpc":"2.0","id":"typed","method":"ping"}'
    const plain = await post(portico.url, ping, { 'content-type': 'text/plain' })
    assert.equal(plain.status, 415)
    assert.equal((plain.json.error as { code: number }).code, -32600)
    assert.equal(plain.json.id, 'typed', plain.text)
    // A batch: each of its requests answered under its id.
    const batch = await post(portico.url, `[${ping}]`, { 'content-type': 'text/plain' })
    assert.equal(batch.status, 415)
    assert.deepEqual(
      (JSON.parse(batch.text) as Array<{ id?: unknown }>).map((element) => element.id),
      ['typed'],
    )
    // No JSON-RPC at all: refused without an id.
    const other = await post(portico.url, '{"hello":"world"}', { 'content-type': 'text/plain' })
    assert.equal(other.status, 415)
    assert.equal('id' in other.json, false, other.text)
    // Still serving, and a labelled body passes.
    const ok = await post(portico.url, ping, { 'content-type': 'application/json; charset=utf-8' })
    assert.notEqual(ok.status, 415)
    for (const type of ['APPLICATION/JSON', 'application/vnd.api+json', ' application/json ;x=1']) {
      assert.notEqual((await post(portico.url, ping, { 'content-type': type })).status, 415, type)
    }
    // The media type is read whole: these only begin like JSON's.
    for (const type of ['application/jsonx', 'application/jsonp', 'application/json-seq']) {
      const refused = await post(portico.url, ping, { 'content-type': type })
      assert.equal(refused.status, 415, type)
      assert.equal(refused.json.id, 'typed', type)
    }
  })

  it('reads gzip, deflate and br bodies; refuses other codings, broken ones and bombs clearly', async () => {
    const initialize = (id: number) => Buffer.from(initializeBody({ id, client: 'gzip' }))
    const codings: Array<[string, (body: Buffer) => Buffer]> = [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ]
    for (const [index, [coding, encode]] of codings.entries()) {
      // The upstream gets plain JSON without the coding: it answers the ping.
      const answer = await postBytes(portico.url, encode(initialize(index + 1)), coding)
      assert.equal(answer.status, 200, `${coding}: ${answer.text}`)
      const data = answer.text.replace(/^[\s\S]*?data: /, '')
      const reply = JSON.parse(data) as { id: number; result: { serverInfo: unknown } }
      assert.equal(reply.id, index + 1)
      assert.ok(reply.result.serverInfo, answer.text)
    }
    const broken = await postBytes(portico.url, initialize(9), 'gzip')
    assert.equal(broken.status, 400)
    assert.match(broken.text, /-32600.*not valid gzip/)
    const unknown = await postBytes(portico.url, initialize(9), 'zstd')
    assert.equal(unknown.status, 415)
    assert.match(unknown.text, /Content-Encoding \\"zstd\\"/)
    // Names of Object's own members are no codings either (`constructor` hung the request).
    for (const coding of ['constructor', '__proto__', 'toString']) {
      const odd = await postBytes(portico.url, initialize(9), coding)
      assert.equal(odd.status, 415, coding)
    }
    // 500 KB of spaces is about 0.5 KB gzipped: under the 1,024-byte limit compressed, far over
    // it decoded.
    const bomb = gzipSync(Buffer.concat([initialize(10), Buffer.alloc(500_000, ' ')]))
    assert.ok(bomb.length < 1024, String(bomb.length))
    const refused = await postBytes(portico.url, bomb, 'gzip')
    assert.equal(refused.status, 413)
    // Its id is named as a plain body's is: the decoded body's first 4 KB hold it.
    assert.equal((JSON.parse(refused.text) as { id?: unknown }).id, 10)
  })

  it("records a call's duration from the request's arrival: a body read slowly counts", async () => {
    // The body comes in two parts 400 ms apart: the client waited at least that long.
    const { port, hostname } = new URL(portico.url)
    const body = JSON.stringify({ jsonrpc: '2.0', id: 'slow-body', method: 'ping' })
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname)
      socket.on('connect', () => {
        socket.write(
          `POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2025-11-25\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
        )
        setTimeout(() => socket.write(body.slice(10)), 400)
      })
      socket.on('data', () => {})
      socket.on('end', () => resolve())
      socket.on('error', reject)
    })
    const isPing = (e: { type: string; method?: string; jsonrpcId?: unknown }) =>
      e.type === 'exchange' && e.method === 'ping' && e.jsonrpcId === 'slow-body'
    await portico.sink.waitFor((events) => events.some(isPing))
    const event = portico.sink.exchanges().find(isPing)
    // Counted from the arrival of the head, which the server stamps a moment after the client's
    // `connect` started its 400 ms: half of it tells the body's wait from none (it was a few
    // ms when timing began in the handler); 400 ms exactly was missed by 2 ms under load.
    assert.ok((event?.durationUs ?? 0) >= 200_000, `${event?.durationUs} µs recorded`)
  })

  it('answers a body over the limit with 413', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'x'.repeat(4096) } },
    })
    const { status, json } = await post(portico.url, big)
    assert.equal(status, 413)
    assert.equal((json.error as { code: number }).code, -32600)
  })

  it('Expect: 100-continue: a body declared over the limit gets 413 before any byte of it, one within it 100', async () => {
    const port = Number(new URL(portico.url).port)
    const firstLine = (length: number) =>
      firstLineToExpect(port, {
        method: 'POST',
        path: '/mcp',
        host: `127.0.0.1:${port}`,
        length,
        extra: 'Accept: application/json, text/event-stream\r\n',
      })
    // The body is never sent: Portico must answer without waiting for it.
    assert.equal(await firstLine(50_000_000), 'HTTP/1.1 413 Payload Too Large')
    assert.equal(await firstLine(100), 'HTTP/1.1 100 Continue')
  })

  it('a 413 on a connection the client closes after it reaches the client, not a reset', async () => {
    // 20 MB declared and sent as fast as the socket takes it, with `Connection: close`: closed
    // at once after its answer, the connection met the bytes still coming with a reset, which
    // often discarded the 413 before the client read it (EPIPE, nothing received).
    // A process of its own: in this one, the client read the 413 before the reset came.
    const dir = mkdtempSync(join(tmpdir(), 'portico-linger-'))
    const file = join(dir, 'portico.toml')
    writeFileSync(
      file,
      `upstream = "${demo.url}"\nport = 0\nmax_request_body_size = 1024\n[store]\nenabled = false\n`,
    )
    const own = await startCli(['run', '--config', file])
    try {
      const { port, hostname } = new URL(own.url)
      const size = 20_000_000
      const outcomes: string[] = []
      for (let i = 0; i < 8; i++) {
        outcomes.push(
          await new Promise<string>((resolve) => {
            const socket = connect(Number(port), hostname)
            let received = ''
            const settle = (how: string) => resolve(received.split('\r\n')[0] || how)
            socket.on('connect', () => {
              socket.write(
                `POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n{"jsonrpc":"2.0","id":7,"method":"ping","params":{"x":"`,
              )
              const chunk = Buffer.alloc(64 * 1024, 'a')
              let sent = 0
              const pump = (): void => {
                while (sent < size) {
                  sent += chunk.length
                  if (!socket.write(chunk)) {
                    socket.once('drain', pump)
                    return
                  }
                }
              }
              pump()
            })
            socket.on('data', (data: Buffer) => {
              received += data.toString('latin1')
            })
            socket.on('error', (error: NodeJS.ErrnoException) => settle(`error ${error.code}`))
            socket.on('close', () => settle('closed, nothing received'))
          }),
        )
      }
      assert.deepEqual(outcomes, Array(8).fill('HTTP/1.1 413 Payload Too Large'))
    } finally {
      await own.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('names the request id its first bytes hold in the 413, declared or streamed', async () => {
    const big = (id: string) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'x'.repeat(4096)}"}}}`
    // Declared: Content-Length over the limit, refused after the first chunk only.
    const declared = await post(portico.url, big('"call-7"'))
    assert.equal(declared.status, 413)
    assert.equal(declared.json.id, 'call-7', declared.text)
    // Streamed (chunked): refused once past the limit.
    const streamed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(portico.url, { method: 'POST', headers: MCP_HEADERS }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on('error', reject)
      const body = big('12345678901234567890123')
      req.write(body.slice(0, 600))
      req.end(body.slice(600))
    })
    assert.equal(streamed.status, 413)
    assert.match(streamed.text, /"id":12345678901234567890123,/)
    // A nested "id" is not the request's, and its own is past the first 4 KB: none.
    const nested = await post(
      portico.url,
      `{"jsonrpc":"2.0","params":{"id":5,"text":"${'x'.repeat(5000)}"},"id":9,"method":"m"}`,
    )
    assert.equal(nested.status, 413)
    assert.equal(nested.json.id, undefined, nested.text)
  })

  it('refuses a foreign Origin with 403, accepts localhost and configured origins', async () => {
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'origin-test', version: '1' },
      },
    })
    const refused = await post(portico.url, init, { origin: 'https://evil.example' })
    assert.equal(refused.status, 403)
    const error = refused.json.error as { code: number; message: string }
    assert.equal(error.code, -32600)
    assert.match(error.message, /Origin not allowed/)
    assert.equal(refused.json.result, undefined)
    for (const origin of ['http://localhost:5173', 'https://app.example.com']) {
      const accepted = await post(portico.url, init, { origin })
      assert.equal(accepted.status, 200, `${origin}: ${accepted.text}`)
      // The upstream answered (SSE or JSON): its serverInfo is in the body.
      assert.match(accepted.text, /"serverInfo":\{"name":"portico-demo"/, origin)
    }
  })

  it('forwards a JSON-RPC batch (2025-03-26) and answers every request', async () => {
    const session = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: '2025-03-26',
          capabilities: {},
          clientInfo: { name: 'batcher', version: '1' },
        },
      }),
    })
    const sessionId = session.headers.get('mcp-session-id') ?? ''
    await session.text()
    const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-03-26' }
    const initialized = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    })
    assert.equal(initialized.status, 202)
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...headers },
      body: JSON.stringify([
        {
          jsonrpc: '2.0',
          id: 'a',
          method: 'tools/call',
          params: { name: 'add', arguments: { a: 1, b: 2 } },
        },
        {
          jsonrpc: '2.0',
          id: 'b',
          method: 'tools/call',
          params: { name: 'echo', arguments: { text: 'batched' } },
        },
      ]),
    })
    const text = await response.text()
    assert.equal(response.status, 200)
    assert.match(text, /"id":"a"/)
    assert.match(text, /"id":"b"/)
    assert.match(text, /batched/)
    await portico.sink.waitFor(
      (events) =>
        events.filter((e) => e.type === 'exchange' && (e.jsonrpcId === 'a' || e.jsonrpcId === 'b'))
          .length === 2,
    )
  })

  it('maps a refused upstream to 502 with the request id and the upstream named', async () => {
    const upstream = `${REFUSED_ORIGIN}/mcp`
    const dead = await startPortico({ upstream })
    try {
      const { status, json } = await post(
        dead.url,
        JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
      )
      assert.equal(status, 502)
      assert.equal(json.id, 7)
      const error = json.error as { code: number; message: string; data: { upstream: string } }
      assert.equal(error.code, -32603)
      assert.ok(error.message.includes(upstream.slice('http://'.length)), error.message)
      assert.equal(error.data.upstream, upstream)
      const ready = await fetch(`${dead.origin}/readyz`)
      assert.equal(ready.status, 503)
      assert.equal((await fetch(`${dead.origin}/healthz`)).status, 200, 'still alive')
    } finally {
      await dead.close()
    }
  })

  it('maps an upstream that does not answer in time to 504', async () => {
    const slow = await startPortico({ upstream: `${bad.origin}/slow`, request_timeout: '300ms' })
    try {
      const { status, json } = await post(
        slow.url,
        JSON.stringify({ jsonrpc: '2.0', id: 'late', method: 'tools/list' }),
      )
      assert.equal(status, 504)
      assert.equal(json.id, 'late')
      assert.equal((json.error as { data: { reason: string } }).data.reason, 'timeout')
      await slow.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.reason === 'upstream_timeout'),
      )
    } finally {
      await slow.close()
    }
  })

  it('survives an upstream body that fails while a batch waits for its slowest answer', async () => {
    const batchDies = await startPortico({ upstream: `${bad.origin}/batch-dies` })
    try {
      const call = (id: number, name: string) => ({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name },
      })
      const response = await fetch(batchDies.url, {
        method: 'POST',
        headers: MCP_HEADERS,
        body: JSON.stringify([call(1, 'dies'), call(2, 'slow')]),
      })
      const text = await response.text()
      assert.match(text, /"id":2/, 'the slow answer still comes')
      // The process is alive and serving.
      assert.equal((await fetch(`${batchDies.origin}/healthz`)).status, 200)
    } finally {
      await batchDies.close()
    }
  })

  it('answers every call of a batch when the upstream answers one of them with an HTML page', async () => {
    const htmlOnce = await startPortico({ upstream: `${bad.origin}/batch-html` })
    try {
      const call = (id: number, name: string) => ({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name },
      })
      const mixed = await post(htmlOnce.url, JSON.stringify([call(1, 'html'), call(2, 'ok')]))
      assert.equal(mixed.status, 200)
      const answers = JSON.parse(mixed.text) as Array<Record<string, unknown>>
      assert.equal(answers.length, 2)
      const failed = answers.find((answer) => answer.id === 1) as { error?: { code: number } }
      assert.equal(failed.error?.code, -32603, "the HTML answer is its own call's error")
      assert.deepEqual(
        answers.find((answer) => answer.id === 2),
        { jsonrpc: '2.0', id: 2, result: { ok: true } },
        'the other call keeps its answer',
      )
      // When no call got a JSON-RPC answer, the upstream's HTTP answer is passed through as is.
      const allHtml = await post(htmlOnce.url, JSON.stringify([call(3, 'html'), call(4, 'html')]))
      assert.equal(allHtml.status, 502)
      assert.match(allHtml.text, /Bad Gateway/)
    } finally {
      await htmlOnce.close()
    }
  })

  it("answers an upstream's redirect of a request with an error naming where it points", async () => {
    // Passed on (with its Location moved to Portico, as nginx's proxy_redirect does for other
    // traffic), a client following it POSTed to a path Portico does not serve MCP at: 404.
    const moved = await startPortico({ upstream: `${bad.origin}/redirect` })
    try {
      const response = await fetch(moved.url, {
        method: 'POST',
        headers: MCP_HEADERS,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
        redirect: 'manual',
      })
      assert.equal(response.status, 502)
      const answer = (await response.json()) as { id?: unknown; error?: { message?: string } }
      assert.equal(answer.id, 1)
      assert.match(
        answer.error?.message ?? '',
        /redirected this message \(HTTP 307 to \/moved\/mcp\)/,
      )
    } finally {
      await moved.close()
    }
  })

  it('ends the client stream cleanly when the upstream dies mid-stream, and keeps serving', async () => {
    const dies = await startPortico({ upstream: `${bad.origin}/dies` })
    try {
      const response = await fetch(dies.url, {
        method: 'POST',
        headers: MCP_HEADERS,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'x' },
        }),
      })
      assert.equal(response.status, 200)
      const text = await response.text()
      assert.match(text, /notifications\/progress/, 'the event sent before the crash was relayed')
      await dies.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.reason === 'upstream_stream_ended'),
      )
      assert.equal((await fetch(`${dies.origin}/healthz`)).status, 200)
    } finally {
      await dies.close()
    }
  })

  it('cuts the connection when a forwarded asset breaks off, so the client never takes half for whole', async () => {
    const portico = await startPortico({ upstream: `${bad.origin}/mcp`, widgets: bad.origin })
    try {
      for (const path of ['/assets/dies', '/assets/dies?declared']) {
        const response = await fetch(`${portico.origin}${path}`, {
          signal: AbortSignal.timeout(10_000),
        })
        assert.equal(response.status, 200)
        await assert.rejects(response.text(), (error: Error) => {
          assert.doesNotMatch(String(error.cause ?? error), /TimeoutError|aborted due to timeout/)
          return true
        })
      }
      await portico.sink.waitFor(
        (events) =>
          events.filter((e) => e.type === 'exchange' && e.reason === 'upstream_stream_ended')
            .length === 2,
      )
      assert.equal((await fetch(`${portico.origin}/healthz`)).status, 200)
    } finally {
      await portico.close()
    }
  })

  it('records JSON answers streamed through: JSON-RPC errors and tool errors keep their outcome', async () => {
    for (const [path, id, outcome] of [
      ['/json-error', 3, 'error'],
      ['/json-tool-error', 4, 'tool_error'],
    ] as const) {
      const proxy = await startPortico({ upstream: `${bad.origin}${path}` })
      try {
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { name: 'nope' },
        })
        const { status, text } = await post(proxy.url, body)
        assert.equal(status, 200)
        assert.match(
          text,
          new RegExp(`"id":${id}`),
          'the upstream bytes reach the client unchanged',
        )
        await proxy.sink.waitFor((events) =>
          events.some((e) => e.type === 'exchange' && e.jsonrpcId === id),
        )
        const event = proxy.sink.exchanges().find((e) => e.jsonrpcId === id)
        assert.equal(event?.outcome, outcome)
        if (outcome === 'error') assert.equal(event?.errorCode, -32602)
        else assert.equal(event?.errorMessage, 'it broke')
      } finally {
        await proxy.close()
      }
    }
  })

  it('aborts the upstream request when the client disconnects', async () => {
    const hang = await startPortico({ upstream: `${bad.origin}/hang` })
    try {
      const abort = new AbortController()
      const response = await fetch(hang.url, {
        method: 'POST',
        headers: MCP_HEADERS,
        signal: abort.signal,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'x' },
        }),
      })
      const reader = response.body?.getReader()
      await reader?.read()
      const before = bad.closedHangs
      abort.abort()
      await until(
        () => bad.closedHangs > before || undefined,
        5000,
        'the upstream to see its request aborted',
      )
      await hang.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.outcome === 'cancelled'),
      )
    } finally {
      await hang.close()
    }
  })

  it('passes MCP and unknown headers through and drops hop-by-hop ones', async () => {
    const echo = await startPortico({ upstream: `${bad.origin}/echo-headers` })
    try {
      const json = await rawPost(
        echo.url,
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'n' } }),
        {
          'mcp-session-id': 's-1',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'n',
          'mcp-param-region': 'eu',
          'last-event-id': '42',
          authorization: 'Bearer secret-token',
          'x-custom': 'kept',
          'keep-alive': 'timeout=5',
          te: 'trailers',
        },
      )
      const seen = (json.result as { headers: Record<string, string> }).headers
      for (const [name, value] of Object.entries({
        'mcp-session-id': 's-1',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'n',
        'mcp-param-region': 'eu',
        'last-event-id': '42',
        authorization: 'Bearer secret-token',
        'x-custom': 'kept',
      })) {
        assert.equal(seen[name], value, name)
      }
      assert.equal(seen['keep-alive'], undefined)
      assert.equal(seen.te, undefined)
      assert.ok(seen['x-forwarded-for'])
    } finally {
      await echo.close()
    }
  })

  it('serves /healthz, /readyz and /version', async () => {
    assert.deepEqual(await (await fetch(`${portico.origin}/healthz`)).json(), { status: 'ok' })
    const ready = await fetch(`${portico.origin}/readyz`)
    assert.equal(ready.status, 200)
    const version = (await (await fetch(`${portico.origin}/version`)).json()) as {
      name: string
      version: string
    }
    assert.equal(version.name, 'portico')
    assert.match(version.version, /^\d+\.\d+\.\d+/)
  })
})
