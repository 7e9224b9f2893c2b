/**
 * The admin API and the admin MCP tools through real clients: every route over real HTTP on
 * its own listener (`admin_bind`), with the token, without it, with a wrong one and from a
 * foreign Origin; mcp-proxy's admin tools through an SDK client, `add_backend` (HTTP and
 * stdio) refused without the token and surviving a hot reload of the file; the status board
 * behind `/admin/circuit-breakers` and `/admin/cache/*`; transparent mode's view.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfig } from '../../src/config/load.ts'
import { createPortico, type Portico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { startFaultyHttp } from '../fixtures/faulty-http.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const TOKEN = 'admin-token-for-tests-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const NODE = JSON.stringify(process.execPath)
const PROBE = JSON.stringify(fixture('probe-stdio'))

function fileConfig(extra = ''): string {
  return `port = 0
admin_bind = "127.0.0.1:0"
access_log = false
drain_timeout = 2
[store]
enabled = false
[admin]
token = "${TOKEN}"
[observability.metrics]
enabled = true
process = false
[proxy]
hot_reload = true
version = "2.3.4"
[[backends]]
name = "p"
transport = "stdio"
command = ${NODE}
args = [${PROBE}]
bearer_token = "backend-secret-never-shown"
${extra}`
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'admin-test', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  return client
}

function text(result: unknown): string {
  return (result as { content: Array<{ text: string }> }).content[0]?.text ?? ''
}

async function call(
  url: string,
  method = 'GET',
  body?: unknown,
  headers: Record<string, string> = AUTH,
) {
  const response = await fetch(url, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  })
  const raw = await response.text()
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    json = raw
  }
  return {
    status: response.status,
    json: json as Record<string, unknown> & unknown[],
    raw,
    headers: response.headers,
  }
}

/** Every route of the API with a method it serves. */
const ROUTES: Array<[string, string]> = [
  ['GET', '/health'],
  ['GET', '/backends'],
  ['POST', '/backends/add'],
  ['GET', '/backends/p/health'],
  ['GET', '/backends/p/health/history'],
  ['PUT', '/backends/p'],
  ['DELETE', '/backends/p'],
  ['GET', '/sessions'],
  ['GET', '/sessions/detail'],
  ['DELETE', '/sessions/x'],
  ['GET', '/stats'],
  ['GET', '/circuit-breakers'],
  ['GET', '/cache/stats'],
  ['POST', '/cache/clear'],
  ['GET', '/config'],
  ['POST', '/config/validate'],
  ['PUT', '/config'],
  ['GET', '/metrics'],
  ['GET', '/openapi.json'],
]

/** A raw request's whole answer (head and body), read until the server closes. */
async function rawAnswer(port: number, request: string): Promise<string> {
  const { connect } = await import('node:net')
  const socket = connect(port, '127.0.0.1')
  socket.write(request)
  let text = ''
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1')
  })
  await new Promise((resolve, reject) => {
    socket.on('close', resolve)
    socket.on('error', reject)
  })
  return text
}

describe('admin API and admin tools (gateway, own listener, token)', () => {
  let dir: string
  let file: string
  let portico: Portico
  let mcpUrl: string
  let admin: string
  let http: Served
  const lines: string[] = []

  before(async () => {
    http = await startProbeHttp()
    dir = mkdtempSync(join(tmpdir(), 'portico-admin-'))
    file = join(dir, 'portico.toml')
    writeFileSync(file, fileConfig())
    const config = loadConfig({ file, env: {} }).config
    portico = createPortico(config, {
      logger: new Logger({ level: 'info', write: (line) => lines.push(line) }),
      reload: { file, load: () => loadConfig({ file, env: {} }).config },
    })
    const listening = await portico.listen()
    mcpUrl = listening.url
    admin = listening.admin ?? ''
    assert.match(admin, /^http:\/\/127\.0\.0\.1:\d+\/admin$/)
  })

  after(async () => {
    await portico?.close()
    await http?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses every route without the token, with a wrong one, and from a foreign Origin', async () => {
    for (const [method, path] of ROUTES) {
      const none = await call(`${admin}${path}`, method, undefined, {})
      assert.equal(none.status, 401, `${method} ${path} without a token`)
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="portico-admin"')
      // The admin API's own error shape (mcp-proxy's), refusals of its filters included.
      assert.equal(none.json.ok, false, JSON.stringify(none.json))
      assert.equal(typeof none.json.message, 'string')
      const wrong = await call(`${admin}${path}`, method, undefined, {
        authorization: 'Bearer wrong-token-0123456789',
      })
      assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`)
      const foreign = await call(`${admin}${path}`, method, undefined, {
        ...AUTH,
        origin: 'https://evil.example',
      })
      assert.equal(foreign.status, 403, `${method} ${path} from a foreign Origin`)
      assert.equal(foreign.json.ok, false, JSON.stringify(foreign.json))
    }
    // The admin API is on its own listener only; the MCP listener does not serve it.
    const onMain = await call(`${new URL(mcpUrl).origin}/admin/health`)
    assert.equal(onMain.status, 404)
    // Refused before the mount, still in its shape (before: a JSON-RPC error object).
    const { port } = new URL(admin)
    for (const head of [
      `GET /admin/./health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${AUTH.authorization}\r\n`,
      `GET /admin/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: other:1\r\nAuthorization: ${AUTH.authorization}\r\n`,
    ]) {
      const answer = await rawAnswer(Number(port), `${head}Connection: close\r\n\r\n`)
      assert.match(answer, /^HTTP\/1\.1 400 /, answer)
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<
        string,
        unknown
      >
      assert.equal(body.ok, false, answer)
      assert.equal(typeof body.message, 'string', answer)
    }
  })

  it('serves health, backends, stats, history, config, validation, metrics and OpenAPI', async () => {
    await until(
      async () => (await call(`${admin}/health`)).json.status === 'healthy' || undefined,
      10_000,
      'a healthy gateway',
    )
    const backends = await call(`${admin}/backends`)
    assert.equal(backends.status, 200)
    assert.equal((backends.json.proxy as Record<string, unknown>).backend_count, 1)
    // [proxy] version, as mcp-proxy reports it (and as list_backends does).
    assert.equal((backends.json.proxy as Record<string, unknown>).version, '2.3.4')
    const [p] = backends.json.backends as Array<Record<string, unknown>>
    assert.equal(p?.namespace, 'p')
    assert.equal(p?.healthy, true)
    assert.equal(p?.transport, 'stdio')
    assert.equal(p?.consecutive_failures, 0)
    assert.equal((await call(`${admin}/backends/p/health`)).json.namespace, 'p')
    assert.equal((await call(`${admin}/backends/p/`)).status, 405)
    assert.equal((await call(`${admin}/backends/nope/health`)).status, 404)
    const history = await call(`${admin}/backends/p/health/history`)
    assert.deepEqual(
      (history.json as Array<Record<string, unknown>>).map((h) => [h.namespace, h.healthy]),
      [['p', true]],
    )
    const stats = await call(`${admin}/stats`)
    assert.deepEqual(stats.json, {
      total_backends: 1,
      healthy_backends: 1,
      unhealthy_backends: 0,
      active_sessions: 0,
    })
    const config = await call(`${admin}/config`)
    assert.equal(config.status, 200)
    assert.ok(!config.raw.includes('backend-secret-never-shown'))
    assert.ok(!config.raw.includes(TOKEN))
    const valid = await call(
      `${admin}/config/validate`,
      'POST',
      'upstream = "http://127.0.0.1:9/mcp"\n',
    )
    assert.deepEqual(valid.json, { ok: true, message: 'Valid config (transparent mode)' })
    // Valid, with what `portico check` would warn about: the same texts, in the answer.
    const warned = await call(
      `${admin}/config/validate`,
      'POST',
      'upstream = "http://127.0.0.1:9/mcp"\n[observability.tracing]\nenabled = true\nendpoint = "http://127.0.0.1:4317"\n',
    )
    assert.equal(warned.status, 200)
    assert.equal(warned.json.ok, true)
    assert.deepEqual(warned.json.warnings, [
      "observability.tracing.endpoint http://127.0.0.1:4317: port 4317 is OTLP/gRPC's; Portico exports OTLP/HTTP (usually port 4318, e.g. http://localhost:4318)",
    ])
    const invalid = await call(
      `${admin}/config/validate`,
      'POST',
      'upstream = "http://x"\nport = "eighty"\n',
    )
    assert.equal(invalid.status, 400)
    assert.match(String(invalid.json.message), /^Invalid config: config:2: port: /)
    const metrics = await call(`${admin}/metrics`)
    assert.match(metrics.raw, /# TYPE portico_requests_total counter/)
    const openapi = await call(`${admin}/openapi.json`)
    assert.equal(openapi.json.openapi, '3.1.0')
    const paths = Object.keys(openapi.json.paths as object)
    for (const [, path] of ROUTES) {
      const templated = path
        .replace('/backends/p', '/backends/{name}')
        .replace('/sessions/x', '/sessions/{id}')
      assert.ok(paths.includes(`/admin${templated}`), `OpenAPI lacks /admin${templated}`)
    }
    // The answers the routes give beyond success (before: no 409 on a removal a mirror
    // blocks, no 503 on a cache Redis could not clear, no 403 or 413 anywhere).
    type Operations = Record<string, Record<string, { responses: Record<string, unknown> }>>
    const documented = openapi.json.paths as Operations
    const codes = (path: string, method: string) =>
      Object.keys(documented[path]?.[method]?.responses ?? {})
    assert.ok(codes('/admin/backends/{name}', 'delete').includes('409'))
    assert.ok(codes('/admin/cache/clear', 'post').includes('503'))
    // A body that is not a JSON object, one naming another backend, a bad name in the path:
    // 400, answered but not documented before.
    for (const [path, method] of [
      ['/admin/backends/add', 'post'],
      ['/admin/backends/{name}', 'put'],
      ['/admin/backends/{name}', 'delete'],
      ['/admin/backends/{name}/health', 'get'],
      ['/admin/sessions/{id}', 'delete'],
    ] as const) {
      assert.ok(codes(path, method).includes('400'), `${method} ${path} lacks 400`)
    }
    for (const [path, operations] of Object.entries(documented)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const code of ['401', '403', '413']) {
          assert.ok(code in operation.responses, `${method} ${path} lacks ${code}`)
        }
      }
    }
  })

  it('answers a route whose name segment is not valid percent-encoding 400, not 500', async () => {
    // `%E0%A4%A` is a cut UTF-8 sequence: decoding it throws, which is the client's mistake.
    for (const [method, path] of [
      ['GET', '/backends/%E0%A4%A/health'],
      ['GET', '/backends/%ZZ/health/history'],
      ['PUT', '/backends/%E0%A4%A'],
      ['DELETE', '/backends/%'],
      ['DELETE', '/sessions/%C0'],
    ] as const) {
      const answer = await call(`${admin}${path}`, method, method === 'PUT' ? {} : undefined)
      assert.equal(answer.status, 400, `${method} ${path}`)
      assert.equal(answer.json.ok, false)
      assert.match(String(answer.json.message), /percent-encoding/)
    }
    // The backend is still there, untouched.
    assert.equal((await call(`${admin}/backends/p/health`)).json.namespace, 'p')
  })

  it('adds, replaces and removes backends over the API; clients see them', async () => {
    const client = await connect(mcpUrl)
    const added = await call(`${admin}/backends/add`, 'POST', { name: 'h', url: http.url })
    assert.equal(added.status, 201)
    assert.deepEqual(added.json, { ok: true, message: "Backend 'h' added" })
    assert.equal(
      (await call(`${admin}/backends/add`, 'POST', { name: 'h', url: http.url })).status,
      409,
    )
    assert.equal(
      (await call(`${admin}/backends/add`, 'POST', { name: 'bad name', url: http.url })).status,
      409,
    )
    // Deeper than any file can nest: before, added (201), it then broke /admin/config (500)
    // and every call of the backend.
    let deep: object = {}
    for (let i = 0; i < 1000; i++) deep = { a: deep }
    const tooDeep = { name: 'deep', url: http.url, default_args: { x: deep } }
    const refused = await call(`${admin}/backends/add`, 'POST', tooDeep)
    assert.equal(refused.status, 409)
    assert.match(String(refused.json.message), /nested deeper than 100 levels/)
    assert.equal((await call(`${admin}/config`)).status, 200)
    assert.match(text(await client.callTool({ name: 'h__cwd', arguments: {} })), /\//)
    const replaced = await call(`${admin}/backends/h`, 'PUT', { url: http.url, timeout: 5 })
    assert.deepEqual(replaced.json, { ok: true, message: "Backend 'h' updated" })
    // A body naming another backend is refused (before: replaced under the URL's name).
    const renamed = await call(`${admin}/backends/h`, 'PUT', { name: 'other', url: http.url })
    assert.equal(renamed.status, 400)
    assert.match(
      String((renamed.json as { message?: string }).message),
      /^The body names backend "other" and the URL 'h'/,
    )
    const same = await call(`${admin}/backends/h`, 'PUT', { name: 'h', url: http.url })
    assert.equal(same.status, 200)
    assert.equal((await call(`${admin}/backends/zz`, 'PUT', { url: http.url })).status, 404)
    assert.equal((await call(`${admin}/backends/h`, 'DELETE')).status, 200)
    assert.equal((await call(`${admin}/backends/h`, 'DELETE')).status, 404)
    await assert.rejects(client.callTool({ name: 'h__cwd', arguments: {} }), /Unknown tool/)
    await client.close()
  })

  it("keeps each backend's own health history: another backend's churn does not erase it", async () => {
    const historyOfP = async () =>
      ((await call(`${admin}/backends/p/health/history`)).json as Array<{ healthy: boolean }>)
        .length
    const kept = await until(
      async () => ((await historyOfP()) >= 1 ? historyOfP() : undefined),
      10_000,
      "p's first transition",
    )
    // A backend added, up, and removed 51 times: two transitions each. Before, they filled the
    // one list of 100 all backends shared, and p's history was emptied.
    for (let i = 0; i < 51; i++) {
      const added = await call(`${admin}/backends/add`, 'POST', { name: 'churn', url: http.url })
      assert.equal(added.status, 201)
      await until(
        async () => (await call(`${admin}/backends/churn/health`)).json.healthy === true,
        5000,
        'churn up',
      )
      assert.equal((await call(`${admin}/backends/churn`, 'DELETE')).status, 200)
    }
    assert.equal(await historyOfP(), kept)
  })

  it('refuses a backend `portico check` refuses, and a refusal leaves adding possible', async () => {
    const add = (body: Record<string, unknown>) => call(`${admin}/backends/add`, 'POST', body)
    const refused = [
      [{ name: 'nu', transport: 'http' }, /url: http backends need a url/],
      [{ name: 'nc', transport: 'stdio' }, /command: stdio backends need a command/],
      [{ name: 'ws', transport: 'websocket', url: http.url }, /websocket backends need a ws/],
      [{ name: 'hw', url: 'wss://127.0.0.1:3/' }, /http backends need an http/],
      [
        { name: 'eh', url: http.url, expose_tools: ['a'], hide_tools: ['b'] },
        /expose_tools and hide_tools/,
      ],
      // The running backend p's prefix "p__" begins "p___".
      [{ name: 'p_', url: http.url }, /prefix "p___" starts with "p__".*ambiguous/],
    ] as const
    for (const [body, message] of refused) {
      const answer = await add(body)
      assert.equal(answer.status, 409, JSON.stringify(body))
      assert.match(String(answer.json.message), message)
    }
    // The other way round: the new backend's prefix begins a running one's (the problem is
    // filed under the running one, and was let through).
    assert.equal((await add({ name: 'q_', url: http.url })).status, 201)
    const shorter = await add({ name: 'q', url: http.url })
    assert.equal(shorter.status, 409)
    assert.match(
      String(shorter.json.message),
      /^Invalid backend: prefix "q___" starts with "q__".*ambiguous/,
    )
    assert.equal((await call(`${admin}/backends/q_`, 'DELETE')).status, 200)
    // Nothing of them stayed in the running config: the next add works.
    assert.equal((await add({ name: 'ok', url: http.url })).status, 201)
    const config = JSON.stringify((await call(`${admin}/config`)).json)
    assert.doesNotMatch(config, /"nu"|"nc"/)
    assert.equal((await call(`${admin}/backends/ok`, 'DELETE')).status, 200)
    // What no process can be given (a NUL in an argument) is refused as the file's key is,
    // without quoting it: before, it was added and each start failed quoting the value.
    const nul = { name: 'nul', transport: 'stdio', command: process.execPath, args: ['a\u0000b'] }
    const refusedNul = await add({ ...nul, max_restarts: 1, start: 'eager' })
    assert.equal(refusedNul.status, 409)
    assert.match(String(refusedNul.json.message), /args(\[0\]|\.0): holds a NUL character/)
    assert.ok(!String(refusedNul.json.message).includes('a\u0000b'))
  })

  it('refuses routing that `portico check` refuses, and removing a primary its canary needs', async () => {
    const add = (body: Record<string, unknown>) => call(`${admin}/backends/add`, 'POST', body)
    const refused = [
      [{ name: 'm', url: http.url, mirror_of: 'm' }, /'m' mirror_of: names the backend itself/],
      [{ name: 'n', url: http.url, canary_of: 'nosuch' }, /no backend is named "nosuch"/],
      [{ name: 'c', url: http.url, canary_of: 'p', weight: 0 }, /a canary needs a weight/],
    ] as const
    for (const [body, message] of refused) {
      const answer = await add(body)
      assert.equal(answer.status, 409, JSON.stringify(body))
      assert.match(String(answer.json.message), message)
    }
    assert.equal((await add({ name: 'c', url: http.url, canary_of: 'p', weight: 1 })).status, 201)
    const failoverOfCanary = await add({ name: 'f', url: http.url, failover_for: 'c' })
    assert.match(String(failoverOfCanary.json.message), /itself a/)
    const primary = await call(`${admin}/backends/p`, 'DELETE')
    assert.equal(primary.status, 409)
    assert.match(String(primary.json.message), /primary of 'c'/)
    assert.equal((await call(`${admin}/backends/c`, 'DELETE')).status, 200)
    const listed = (await call(`${admin}/backends`)).json.backends as Array<{ namespace: string }>
    assert.deepEqual(
      listed.map((b) => b.namespace),
      ['p'],
    )
  })

  it('reports an ejected backend unhealthy everywhere, the gateway degraded but ready', async () => {
    const failing = await startFaultyHttp('E')
    const client = await connect(mcpUrl)
    try {
      const outlier = {
        consecutive_errors: 1,
        base_ejection_seconds: 60,
        max_ejection_percent: 100,
      }
      const added = await call(`${admin}/backends/add`, 'POST', {
        name: 'e',
        url: failing.url,
        outlier_detection: outlier,
      })
      assert.equal(added.status, 201)
      await client.listTools()
      failing.server.plan([{ mode: 'http500', times: 5, tool: 'echo' }])
      await assert.rejects(client.callTool({ name: 'e__echo', arguments: { text: 'x' } }))
      await assert.rejects(client.callTool({ name: 'e__echo', arguments: { text: 'y' } }), /eject/i)
      // Before: healthy everywhere while every call got 503.
      const listed = (await call(`${admin}/backends`)).json.backends as Array<{
        namespace: string
        healthy: boolean
        ejected: boolean
      }>
      const ejected = listed.find((b) => b.namespace === 'e')
      assert.equal(ejected?.healthy, false)
      assert.equal(ejected?.ejected, true)
      const health = (await call(`${admin}/health`)).json as unknown as {
        status: string
        unhealthy_backends: string[]
      }
      assert.equal(health.status, 'degraded')
      assert.ok(health.unhealthy_backends.includes('e'), JSON.stringify(health))
      const ready = await fetch(`${new URL(mcpUrl).origin}/readyz`)
      const detail = (await ready.json()) as { state?: string; degraded?: boolean }
      assert.equal(ready.status, 200, 'still ready: p serves')
      assert.equal(detail.degraded, true, JSON.stringify(detail))
    } finally {
      await client.close()
      await call(`${admin}/backends/e`, 'DELETE')
      await failing.close()
    }
  })

  it('a call queued on a backend the API replaces or removes is served by it, not failed', async () => {
    const first = await startFaultyHttp('A')
    const second = await startFaultyHttp('B')
    const client = await connect(mcpUrl)
    try {
      const narrow = { concurrency: { max_concurrent: 1 } }
      assert.equal(
        (await call(`${admin}/backends/add`, 'POST', { name: 'q', url: first.url, ...narrow }))
          .status,
        201,
      )
      await client.listTools()
      for (const change of ['PUT', 'DELETE'] as const) {
        const serving = change === 'PUT' ? 'A' : 'B'
        const busy = client.callTool({ name: 'q__slow', arguments: { ms: 600 } })
        const backend = change === 'PUT' ? first : second
        await until(() => (backend.server.runs.get('slow') ? true : undefined), 5000, 'slow runs')
        // Waits for the one slot the slow call holds.
        const queued = client.callTool({ name: 'q__echo', arguments: { text: change } })
        await new Promise((resolve) => setTimeout(resolve, 100))
        const changed =
          change === 'PUT'
            ? await call(`${admin}/backends/q`, 'PUT', { url: second.url, ...narrow })
            : await call(`${admin}/backends/q`, 'DELETE')
        assert.equal(changed.status, 200)
        assert.equal(text(await busy), `${serving}: slow done`)
        assert.equal(text(await queued), `${serving}: ${change}`)
      }
    } finally {
      await client.close()
      await first.close()
      await second.close()
    }
  })

  it('lists and ends sessions', async () => {
    // SDK clients that closed left their sessions open (no DELETE): end them first.
    for (const old of (await call(`${admin}/sessions/detail`)).json as Array<{ id: string }>)
      assert.equal((await call(`${admin}/sessions/${old.id}`, 'DELETE')).status, 200)
    const client = await connect(mcpUrl)
    assert.equal((await call(`${admin}/sessions`)).json.active_sessions, 1)
    const detail = (await call(`${admin}/sessions/detail`)).json as Array<Record<string, unknown>>
    assert.equal(detail.length, 1)
    assert.equal(typeof detail[0]?.uptime_seconds, 'number')
    assert.equal(typeof detail[0]?.idle_seconds, 'number')
    const id = String(detail[0]?.id)
    assert.deepEqual((await call(`${admin}/sessions/${id}`, 'DELETE')).json, {
      ok: true,
      message: 'Session terminated',
    })
    assert.equal((await call(`${admin}/sessions/${id}`, 'DELETE')).status, 404)
    assert.equal((await call(`${admin}/sessions`)).json.active_sessions, 0)
    await client.close().catch(() => {})
  })

  it('shows what policies report on the status board', async () => {
    assert.deepEqual((await call(`${admin}/circuit-breakers`)).json, [])
    assert.deepEqual((await call(`${admin}/cache/stats`)).json, [])
    assert.equal((await call(`${admin}/cache/clear`, 'POST')).raw, 'no caches configured')
    let cleared = 0
    portico.status.add({
      breakers: () => [{ backend: 'p', state: 'open' }],
      caches: () => [{ backend: 'p', hits: 3, misses: 1, entries: 2 }],
      clearCaches: () => ++cleared,
      retries: () => [{ backend: 'p', retries: 4 }],
    })
    assert.deepEqual((await call(`${admin}/circuit-breakers`)).json, [
      { backend: 'p', state: 'Open', health: 'unhealthy' },
    ])
    assert.deepEqual((await call(`${admin}/cache/stats`)).json, [
      { namespace: 'p', hits: 3, misses: 1, hit_rate: 0.75, entry_count: 2 },
    ])
    assert.equal((await call(`${admin}/cache/clear`, 'POST')).raw, 'caches cleared')
    assert.equal(cleared, 1)
    const metrics = (await call(`${admin}/metrics`)).raw
    assert.match(metrics, /portico_circuit_breaker_state\{backend="p"\} 2/)
    assert.match(metrics, /portico_cache_hits_total\{backend="p"\} 3/)
    assert.match(metrics, /portico_retries_total\{backend="p"\} 4/)
  })

  it("serves mcp-proxy's admin tools with their result shapes", async () => {
    const client = await connect(mcpUrl)
    const tools = (await client.listTools()).tools.map((t) => t.name)
    for (const name of [
      'list_backends',
      'health_check',
      'session_count',
      'add_backend',
      'config',
      'backends',
      'sessions',
    ])
      assert.ok(tools.includes(`portico__${name}`), `portico__${name} listed`)
    const list = JSON.parse(
      text(await client.callTool({ name: 'portico__list_backends', arguments: {} })),
    )
    assert.equal(list.backend_count, 1)
    assert.equal(list.backends[0].namespace, 'p')
    assert.equal(list.backends[0].healthy, true)
    assert.equal(list.proxy_version, '2.3.4')
    const health = JSON.parse(
      text(await client.callTool({ name: 'portico__health_check', arguments: {} })),
    )
    assert.deepEqual([health.status, health.healthy_count, health.total_count], ['healthy', 1, 1])
    const sessions = JSON.parse(
      text(await client.callTool({ name: 'portico__session_count', arguments: {} })),
    )
    assert.deepEqual(sessions, { active_sessions: 1 })
    const config = text(await client.callTool({ name: 'portico__config', arguments: {} }))
    assert.ok(!config.includes('backend-secret-never-shown'))
    await client.close()
  })

  it('add_backend needs the admin token; added backends (HTTP and stdio) survive a reload', async () => {
    const anonymous = await connect(mcpUrl)
    const refused = await anonymous.callTool({
      name: 'portico__add_backend',
      arguments: { name: 'w', url: http.url },
    })
    assert.equal(refused.isError, true)
    assert.match(text(refused), /needs the admin token/)
    await anonymous.close()
    const operator = await connect(mcpUrl, AUTH)
    const web = await operator.callTool({
      name: 'portico__add_backend',
      arguments: { name: 'w', url: http.url },
    })
    assert.equal(text(web), `Backend 'w' added successfully at ${http.url}`)
    // Logged as the admin API logs its adds: the tool starts processes too.
    assert.ok(
      lines.some((line) => /admin: backend added backend=w .*via=portico__add_backend/.test(line)),
      lines.join('\n'),
    )
    // Credentials in the url are not echoed back (as `config` shows it).
    const withSecret = await operator.callTool({
      name: 'portico__add_backend',
      arguments: { name: 'wc', url: http.url.replace('://', '://usr:pw-secret@') },
    })
    assert.match(text(withSecret), /added successfully/)
    assert.doesNotMatch(text(withSecret), /pw-secret/)
    assert.equal((await call(`${admin}/backends/wc`, 'DELETE')).status, 200)
    const local = await operator.callTool({
      name: 'portico__add_backend',
      arguments: {
        name: 's',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('probe-stdio')],
      },
    })
    assert.match(text(local), /^Backend 's' added successfully \(stdio: /)
    const failed = await operator.callTool({
      name: 'portico__add_backend',
      arguments: { name: 's', url: http.url },
    })
    assert.equal(failed.isError, true)
    assert.match(text(failed), /^Failed to add backend 's': Backend 's' already exists/)
    assert.match(text(await operator.callTool({ name: 'w__cwd', arguments: {} })), /\//)
    assert.match(text(await operator.callTool({ name: 's__cwd', arguments: {} })), /\//)
    // The file changes (a new backend): the runtime-added ones stay.
    writeFileSync(
      file,
      fileConfig(
        `[[backends]]\nname = "q"\ntransport = "stdio"\ncommand = ${NODE}\nargs = [${PROBE}]\n`,
      ),
    )
    const names = async () =>
      ((await call(`${admin}/backends`)).json.backends as Array<{ namespace: string }>)
        .map((b) => b.namespace)
        .sort()
    await until(
      async () => ((await names()).includes('q') ? true : undefined),
      10_000,
      'the reloaded backend q',
    )
    assert.deepEqual(await names(), ['p', 'q', 's', 'w'])
    assert.match(text(await operator.callTool({ name: 's__cwd', arguments: {} })), /\//)
    assert.match(text(await operator.callTool({ name: 'q__cwd', arguments: {} })), /\//)
    await operator.close()
  })

  it('PUT /admin/config validates the text, writes it over the file, and hot reload applies it', async () => {
    const before = readFileSync(file, 'utf8')
    const invalid = await call(`${admin}/config`, 'PUT', `${fileConfig()}\n[proxy.nope]\nx = 1\n`)
    assert.equal(invalid.status, 400)
    assert.match(String(invalid.json.message), /^Invalid config: .*portico\.toml:\d+: /s)
    assert.equal(readFileSync(file, 'utf8'), before, 'an invalid config was written')
    const next = fileConfig(
      `[[backends]]\nname = "r"\ntransport = "stdio"\ncommand = ${NODE}\nargs = [${PROBE}]\n`,
    )
    const put = await call(`${admin}/config`, 'PUT', next)
    assert.equal(put.status, 200)
    assert.deepEqual(put.json, {
      ok: true,
      message: 'Config updated (2 backends). Hot reload applies it.',
      // The file's stdio backend holds a bearer_token (to show it redacted), which it never sends.
      warnings: [
        'backend "p": bearer_token does nothing for transport = "stdio" (they are for http, sse and websocket backends)',
      ],
    })
    assert.equal(readFileSync(file, 'utf8'), next)
    await until(
      async () =>
        ((await call(`${admin}/backends`)).json.backends as Array<{ namespace: string }>).some(
          (b) => b.namespace === 'r',
        ) || undefined,
      10_000,
      'the backend of the new file',
    )
    // What hot reload refuses is written, and the answer says it needs a restart.
    const tightened = await call(
      `${admin}/config`,
      'PUT',
      `${next}\n[security]\nmax_argument_size = 100\n`,
    )
    assert.equal(tightened.status, 200)
    assert.equal(
      tightened.json.message,
      'Config updated (2 backends). Hot reload will not apply it ([auth] or [security] changed): restart Portico.',
    )
    const widened = await call(`${admin}/config`, 'PUT', `${next}\n[csp]\ndomain = "a.example"\n`)
    assert.equal(
      widened.json.message,
      // mcpr's [csp] domain is a public_url too, which takes a restart as well.
      'Config updated (2 backends). Hot reload will not apply it (csp, public_url cannot change while Portico runs): restart Portico.',
    )
  })
})

/** A Portico run from a config file it reloads (SIGHUP's path), with its admin API's URL. */
async function fromFile(prefix: string, text: string, name = 'portico.toml') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const file = join(dir, name)
  writeFileSync(file, text)
  const portico = createPortico(loadConfig({ file, env: {} }).config, {
    logger: new Logger({ level: 'silent' }),
    reload: { file, load: () => loadConfig({ file, env: {} }).config },
  })
  const admin = (await portico.listen()).admin ?? ''
  return { dir, file, portico, admin }
}

describe('validate reads a text as PUT does', () => {
  it("as the running file's format, imports from its folder, and not UTF-8 refused by line", async () => {
    const yaml = [
      'port: 0',
      'admin_bind: "127.0.0.1:0"',
      'store: { enabled: false }',
      `admin: { token: "${TOKEN}" }`,
      'proxy: { import_backends: mcp.json }',
      '',
    ].join('\n')
    const start = yaml.replace(
      'proxy: { import_backends: mcp.json }',
      'upstream: "http://127.0.0.1:9/mcp"',
    )
    const { dir, portico, admin } = await fromFile('portico-admin-yaml-', start, 'portico.yaml')
    try {
      writeFileSync(
        join(dir, 'mcp.json'),
        JSON.stringify({
          mcpServers: { p: { command: process.execPath, args: [fixture('probe-stdio')] } },
        }),
      )
      // Before: validate read every text as TOML, and import_backends from Portico's working
      // directory, where PUT reads it as the file it replaces.
      for (const path of ['/config/validate', '/config']) {
        const method = path === '/config' ? 'PUT' : 'POST'
        const answer = await call(`${admin}${path}`, method, yaml)
        assert.equal(answer.status, 200, `${path}: ${answer.raw}`)
      }
      const latin1 = Buffer.concat([
        Buffer.from('port: 0\ninstructions: "Caf'),
        Buffer.from([0xe9, 0x22, 0x0a]),
      ])
      const raw = await fetch(`${admin}/config/validate`, {
        method: 'POST',
        headers: AUTH,
        body: latin1,
      })
      assert.equal(raw.status, 400)
      assert.match(await raw.text(), /line 2: the text is not UTF-8/)
    } finally {
      await portico.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('PUT /admin/config says when the hot reload will not apply the file', () => {
  it('names a backend added at runtime that no longer fits the file', async () => {
    const { dir, portico, admin } = await fromFile('portico-admin-clash-', fileConfig())
    try {
      const added = await call(`${admin}/backends/add`, 'POST', {
        name: 'f',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('probe-stdio')],
        failover_for: 'p',
      })
      assert.equal(added.status, 201, added.raw)
      // The file without `p`: the reload refuses it, f's failover target gone.
      const put = await call(
        `${admin}/config`,
        'PUT',
        fileConfig().replace('name = "p"', 'name = "q"'),
      )
      assert.equal(put.status, 200, put.raw)
      // Before: "Hot reload applies it.", then the reload refused it in the log.
      assert.match(
        String(put.json.message),
        /Hot reload will not apply it \(Backend 'f', added at runtime, no longer fits the file/,
      )
    } finally {
      await portico.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('config changes that cannot be built are refused whole', () => {
  let dir: string
  let file: string
  let portico: Portico
  let admin: string
  const badGroups = `expose_tools = ["re:(?<v>echo)", "re:(?<v>add)"]\n`

  before(async () => {
    ;({ dir, file, portico, admin } = await fromFile('portico-admin-refuse-', fileConfig()))
  })

  after(async () => {
    await portico?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('PUT and validate run what a start runs: nothing written, 400 with the problem', async () => {
    const before = readFileSync(file, 'utf8')
    // Each pattern compiles alone; together (one expression per backend) they do not.
    for (const path of ['/config', '/config/validate']) {
      const method = path === '/config' ? 'PUT' : 'POST'
      const refused = await call(`${admin}${path}`, method, fileConfig(badGroups))
      assert.equal(refused.status, 400, path)
      assert.match(String(refused.json.message), /backends\.p: .*Duplicate capture group name/)
    }
    const empty = await call(`${admin}/config`, 'PUT', '')
    assert.equal(empty.status, 400)
    assert.match(String(empty.json.message), /no upstream/)
    assert.equal(readFileSync(file, 'utf8'), before, 'a refused config was written')
  })

  it('two PUTs at once: each file is written whole, one after the other', async () => {
    const texts = ['a', 'b'].map((name) =>
      fileConfig(
        `[[backends]]\nname = "${name}"\ntransport = "stdio"\ncommand = ${NODE}\nargs = [${PROBE}]\n`,
      ),
    )
    const answers = await Promise.all(texts.map((text) => call(`${admin}/config`, 'PUT', text)))
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [200, 200],
    )
    assert.ok(texts.includes(readFileSync(file, 'utf8')), 'the file is one of the two texts')
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith('.portico-new')),
      [],
      'no file left beside it',
    )
  })

  it('a file hot reload cannot build, or a backend added over the API, leaves the running config', async () => {
    const names = async () =>
      ((await call(`${admin}/backends`)).json.backends as Array<{ namespace: string }>)
        .map((b) => b.namespace)
        .sort()
    await until(async () => ((await names()).length === 2 ? true : undefined), 10_000, 'a + b')
    const running = await names()
    writeFileSync(file, fileConfig(badGroups))
    // The reload is refused (logged); Portico keeps serving what it ran.
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.deepEqual(await names(), running)
    assert.equal((await call(`${admin}/health`)).status, 200)
    const added = await call(`${admin}/backends/add`, 'POST', {
      name: 'q',
      transport: 'stdio',
      command: process.execPath,
      args: [fixture('probe-stdio')],
      expose_tools: ['re:(?<v>echo)', 're:(?<v>add)'],
    })
    assert.equal(added.status, 409)
    assert.match(String(added.json.message), /Invalid backend q: .*Duplicate capture group name/)
    assert.deepEqual(await names(), running, 'the refused backend is not added')
  })
})

describe('admin changes and reloads, one at a time', () => {
  let dir: string
  let portico: Portico
  let admin: string

  before(async () => {
    const text = fileConfig().replace('hot_reload = true', 'hot_reload = false')
    ;({ dir, portico, admin } = await fromFile('portico-admin-order-', text))
  })

  after(async () => {
    await portico?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const names = async () =>
    ((await call(`${admin}/backends`)).json.backends as Array<{ namespace: string }>)
      .map((b) => b.namespace)
      .sort()
  /** A stdio backend whose version shows in GET /config (its `max_restarts`). */
  const stdio = (version: number) => ({
    transport: 'stdio',
    command: process.execPath,
    args: [fixture('probe-stdio')],
    max_restarts: version,
  })

  it('a DELETE sent while a PUT of the backend still closes its old process stays done', async () => {
    assert.equal(
      (await call(`${admin}/backends/add`, 'POST', { name: 'rx', ...stdio(1) })).status,
      201,
    )
    await until(async () => ((await names()).includes('rx') ? true : undefined), 10_000, 'rx')
    const put = call(`${admin}/backends/rx`, 'PUT', stdio(2))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const removed = await call(`${admin}/backends/rx`, 'DELETE')
    assert.equal((await put).status, 200)
    assert.equal(removed.status, 200)
    assert.deepEqual(await names(), ['p'])
    // A reload (SIGHUP, an edit of the file) used to start it again: the PUT, finishing after
    // the DELETE, recorded it as added.
    assert.equal(await portico.reloadConfig(), 'unchanged')
    assert.deepEqual(await names(), ['p'], 'the deleted backend came back')
  })

  it('a reload while a PUT replaces a backend added at runtime keeps it, replaced', async () => {
    assert.equal(
      (await call(`${admin}/backends/add`, 'POST', { name: 'ry', ...stdio(1) })).status,
      201,
    )
    const put = call(`${admin}/backends/ry`, 'PUT', stdio(2))
    await new Promise((resolve) => setTimeout(resolve, 10))
    const reloaded = portico.reloadConfig()
    assert.equal((await put).status, 200)
    await reloaded
    assert.deepEqual(await names(), ['p', 'ry'], 'the reload removed the backend being replaced')
    const shown = (await call(`${admin}/config`)).json as {
      backends?: Array<{ name: string; max_restarts?: number }>
    }
    const ry = shown.backends?.find((b) => b.name === 'ry')
    assert.equal(ry?.max_restarts, 2, 'the replacement is the one running')
  })
})

describe('runtime backends that no longer fit the file, or a composite', () => {
  it('refuses a reload that removes what a runtime mirror mirrors, and an add shadowing a composite', async () => {
    const second = `[[backends]]\nname = "q"\ntransport = "stdio"\ncommand = ${NODE}\nargs = [${PROBE}]\n`
    const composite = `[[composite_tools]]\nname = "mix__all"\ndescription = "both"\ntools = ["p__cwd"]\n`
    const text = fileConfig(`${second}${composite}`).replace(
      'hot_reload = true',
      'hot_reload = false',
    )
    const { dir, file, portico, admin } = await fromFile('portico-admin-fit-', text)
    try {
      const stdio = {
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('probe-stdio')],
      }
      // A backend named after the composite's prefix would hide its own mix__all.
      const shadowing = await call(`${admin}/backends/add`, 'POST', { name: 'mix', ...stdio })
      assert.equal(shadowing.status, 409)
      assert.match(String(shadowing.json.message), /"mix__all" starts with "mix__"/)
      const mirror = await call(`${admin}/backends/add`, 'POST', {
        name: 'mi',
        ...stdio,
        mirror_of: 'q',
      })
      assert.equal(mirror.status, 201)
      // The file drops q: mi would serve clients as a backend of its own. Refused whole.
      writeFileSync(file, fileConfig(composite).replace('hot_reload = true', 'hot_reload = false'))
      assert.equal(await portico.reloadConfig(), 'rejected')
      const names = (
        (await call(`${admin}/backends`)).json.backends as Array<{ namespace: string }>
      )
        .map((b) => b.namespace)
        .sort()
      assert.deepEqual(names, ['mi', 'p', 'q'])
    } finally {
      await portico.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('admin API without a token (loopback only) and in transparent mode', () => {
  it('serves loopback Hosts only, and shows the upstream', async () => {
    const http = await startProbeHttp()
    const portico = await startPortico({ upstream: http.url, admin: { enabled: true } })
    try {
      const backends = await call(`${portico.origin}/admin/backends`, 'GET', undefined, {})
      assert.equal(backends.status, 200)
      const [upstream] = backends.json.backends as Array<Record<string, unknown>>
      assert.equal(upstream?.namespace, 'upstream')
      assert.equal(upstream?.healthy, true)
      assert.equal((backends.json.proxy as Record<string, unknown>).mode, 'transparent')
      const add = await call(
        `${portico.origin}/admin/backends/add`,
        'POST',
        { name: 'x', url: http.url },
        {},
      )
      assert.equal(add.status, 405)
      assert.deepEqual(
        (await call(`${portico.origin}/admin/sessions`, 'GET', undefined, {})).json,
        // Transparent mode keeps no sessions of its own (was a made-up 0).
        { active_sessions: null },
      )
      // A DNS-rebinding page reaches 127.0.0.1 under its own name: refused without a token.
      const { request } = await import('node:http')
      const status = await new Promise<number>((resolve, reject) => {
        const url = new URL(`${portico.origin}/admin/health`)
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            headers: { host: 'rebind.example:80' },
          },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.setTimeout(10_000, () =>
          req.destroy(new Error('timed out waiting for the admin answer to a foreign Host')),
        )
        req.on('error', reject)
        req.end()
      })
      assert.equal(status, 403)
      // A page another local server serves (a dev server on localhost:5173) is another origin:
      // without a token it could add a stdio backend, a command Portico runs. Its own page may.
      const port = new URL(portico.origin).port
      for (const origin of ['http://localhost:5173', `http://127.0.0.1:${Number(port) + 1}`]) {
        const crossSite = await call(`${portico.origin}/admin/health`, 'GET', undefined, { origin })
        assert.equal(crossSite.status, 403, origin)
      }
      const own = await call(`${portico.origin}/admin/health`, 'GET', undefined, {
        origin: portico.origin,
      })
      assert.equal(own.status, 200)
      // A reverse proxy on this host (nginx's default Host: $proxy_host) relays anyone.
      const relays: Array<Record<string, string>> = [
        { 'x-forwarded-for': '203.0.113.7' },
        { forwarded: 'for=203.0.113.7' },
        { 'x-real-ip': '203.0.113.7' },
      ]
      for (const relayed of relays) {
        const answer = await call(`${portico.origin}/admin/health`, 'GET', undefined, relayed)
        assert.equal(answer.status, 403, JSON.stringify(relayed))
      }
    } finally {
      await portico.close()
      await http.close()
    }
  })
})

describe('tool discovery and search mode', () => {
  it('lists only Portico tools, finds backend tools by meaning, and call_tool passes the chain', async () => {
    const http = await startProbeHttp()
    const seen: string[] = []
    const portico = await startPortico(
      {
        backends: [
          {
            name: 'p',
            transport: 'stdio',
            command: process.execPath,
            args: [fixture('probe-stdio')],
          },
          { name: 'h', transport: 'http', url: http.url, hide_tools: ['wait'] },
        ],
        proxy: { tool_exposure: 'search', admin_tools: false },
        composite_tools: [
          { name: 'cwd_everywhere', description: 'both cwds', tools: ['p__cwd', 'h__cwd'] },
        ],
      },
      {
        // A policy in the global chain: every tools/call it sees is noted; one tool is denied.
        middleware: [
          async (c, next) => {
            if (c.method === 'tools/call') seen.push(c.target?.name ?? '')
            if (c.target?.name === 'p__headers') {
              const { PorticoError } = await import('../../src/errors.ts')
              throw new PorticoError('forbidden', { message: 'Forbidden: p__headers is denied' })
            }
            return next(c)
          },
        ],
      },
    )
    try {
      const client = await connect(portico.url)
      const listed = (await client.listTools()).tools.map((t) => t.name).sort()
      assert.deepEqual(listed, [
        'cwd_everywhere',
        'portico__call_tool',
        'portico__search_tools',
        'portico__similar_tools',
        'portico__tool_categories',
      ])
      const hits = JSON.parse(
        text(
          await client.callTool({
            name: 'portico__search_tools',
            arguments: { query: 'working directory', top_k: 2 },
          }),
        ),
      ) as Array<Record<string, unknown>>
      assert.deepEqual(hits.map((h) => h.id).sort(), ['h__cwd', 'p__cwd'])
      assert.equal(hits[0]?.name, 'cwd')
      assert.equal(typeof hits[0]?.score, 'number')
      assert.ok(['p', 'h'].includes(String(hits[0]?.server)))
      // Hidden tools stay hidden from search.
      const waits = JSON.parse(
        text(
          await client.callTool({
            name: 'portico__search_tools',
            arguments: { query: 'cancelled wait' },
          }),
        ),
      ) as Array<{ id: string }>
      assert.deepEqual(
        waits.map((w) => w.id),
        ['p__wait'],
      )
      const similar = JSON.parse(
        text(
          await client.callTool({
            name: 'portico__similar_tools',
            arguments: { tool_id: 'p__cwd' },
          }),
        ),
      ) as Array<{ id: string }>
      assert.equal(similar[0]?.id, 'h__cwd')
      const unknown = await client
        .callTool({ name: 'portico__similar_tools', arguments: { tool_id: 'nope' } })
        .catch((e: unknown) => e)
      assert.match(String(unknown), /Unknown tool: nope/)
      const categories = JSON.parse(
        text(await client.callTool({ name: 'portico__tool_categories', arguments: {} })),
      )
      assert.equal(categories.total_categories, 2)
      assert.deepEqual(
        categories.categories.map((c: { name: string; tool_count: number }) => [
          c.name,
          c.tool_count,
        ]),
        [
          // probe: cwd, env, headers, meta, wait (h hides wait)
          ['p', 5],
          ['h', 4],
        ],
      )
      // call_tool runs the named tool through the same chain as a direct call.
      const viaSearch = await client.callTool({
        name: 'portico__call_tool',
        arguments: { name: 'p__cwd', arguments: {} },
      })
      assert.match(text(viaSearch), /\//)
      assert.deepEqual(seen.slice(-2), ['portico__call_tool', 'p__cwd'])
      // Arguments that are no object are refused as a direct call's are, not run as {}.
      for (const args of ['everything', ['x']]) {
        await assert.rejects(
          client.callTool({
            name: 'portico__call_tool',
            arguments: { name: 'p__cwd', arguments: args },
          }),
          /"arguments" must be an object/,
        )
      }
      // So does each member of a composite tool, which search mode lists as mcp-proxy does.
      const both = await client.callTool({ name: 'cwd_everywhere', arguments: {} })
      assert.equal((both.content as unknown[]).length, 2)
      assert.equal(seen.at(-3), 'cwd_everywhere')
      assert.deepEqual(seen.slice(-2).sort(), ['h__cwd', 'p__cwd'])
      await assert.rejects(
        client.callTool({ name: 'p__headers', arguments: {} }),
        /p__headers is denied/,
      )
      await assert.rejects(
        client.callTool({ name: 'portico__call_tool', arguments: { name: 'p__headers' } }),
        /p__headers is denied/,
      )
      // Backend tools stay callable by name.
      assert.match(text(await client.callTool({ name: 'h__cwd', arguments: {} })), /\//)
      await client.close()
      // Recorded (and so audited and counted) under the tool each call_tool ran, as a direct
      // call is: before, all four were `portico__call_tool`, whatever they ran.
      await portico.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.name === 'h__cwd'),
      )
      const calls = portico.sink.exchanges().filter((e) => e.method === 'tools/call')
      assert.ok(!calls.some((e) => e.name === 'portico__call_tool'))
      const ran = (name: string) =>
        calls.filter((e) => e.name === name).map((e) => [e.outcome, e.backend, e.errorCode])
      assert.deepEqual(ran('p__cwd'), [
        ['ok', 'p', undefined],
        ['error', undefined, -32602],
        ['error', undefined, -32602],
      ])
      assert.deepEqual(ran('p__headers'), [
        ['error', undefined, -32600],
        ['error', undefined, -32600],
      ])
    } finally {
      await portico.close()
      await http.close()
    }
  })
})

describe('a backend added at runtime that a rule names with the other separator', () => {
  it('is refused 409, as portico check refuses it in the file: the deny would deny nothing', async () => {
    const http = await startProbeHttp()
    // Loaded: no backend "files" yet, so the role's mcp-proxy-style name named nothing.
    const portico = await startPortico({
      admin: { enabled: true },
      backends: [{ name: 'a', transport: 'http', url: http.url }],
      proxy: { admin_tools: false, rate_limit: { per_tool: [{ tool: 'files/cwd', requests: 1 }] } },
    })
    try {
      const add = (name: string) =>
        fetch(`${portico.origin}/admin/backends/add`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, transport: 'http', url: http.url }),
        })
      const refused = await add('files')
      assert.equal(refused.status, 409)
      assert.match(
        ((await refused.json()) as { message: string }).message,
        /^Invalid backend: proxy\.rate_limit\.per_tool\.0\.tool: "files\/cwd" names backend files with the separator "\/".*Write "files__cwd"/,
      )
      // Another name is not concerned.
      assert.equal((await add('other')).status, 201)
    } finally {
      await portico.close()
      await http.close()
    }
  })
})
