/**
 * Requests that break MCP's message shape, sent to the gateway in front of a stdio backend
 * built on the official SDK (which drops such a message without answering): each gets
 * -32602 with its id at once, nothing is forwarded, and the backend's health does not count
 * the client's mistake as its failure. And the other way: a backend whose list items or error
 * answers break the shape does not make an SDK client's merged list unreadable or its call
 * wait for a timeout.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { Logger } from '../../src/observe/logger.ts'
import { MCP_ACCEPT, modernHeaders, openSession } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { rpc } from '../helpers/rpc.ts'
import { until } from '../helpers/wait.ts'

let gateway: RunningPortico
let session: Record<string, string>
const logs: string[] = []

before(async () => {
  gateway = await startPortico(
    {
      proxy: { admin_tools: false },
      backends: [
        {
          name: 'sub',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('subscribable-stdio')],
          // Short, so that a forwarded message the backend drops fails this test quickly.
          timeout: 3,
        },
        {
          name: 'raw',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
          env: { RAW_MALFORMED_LISTS: '1' },
        },
      ],
    },
    { logger: new Logger({ level: 'warn', write: (line) => logs.push(line) }) },
  )
  session = { 'mcp-session-id': await openSession(gateway.url) }
})

after(async () => {
  await gateway?.close()
})

const call = (id: number | string, params: unknown, method = 'tools/call') =>
  rpc(gateway.url, { jsonrpc: '2.0', id, method, params }, session)

it('answers -32602 with the id for params, _meta or a progress token of the wrong shape', async () => {
  // A well-formed call works (and starts the backend).
  const fine = await call('ok', { name: 'sub__state', _meta: { progressToken: 'p' } })
  assert.equal(fine.message?.id, 'ok')
  assert.ok(fine.message?.result)
  const cases: Array<[unknown, RegExp]> = [
    [['sub__state'], /params must be an object/],
    [{ name: 'sub__state', _meta: 'x' }, /"_meta" must be an object/],
    [{ name: 'sub__state', _meta: [] }, /"_meta" must be an object/],
    [{ name: 'sub__state', _meta: { progressToken: { a: 1 } } }, /progressToken/],
    [{ name: 'sub__state', arguments: 'text' }, /"arguments" must be an object/],
    [{ name: 'sub__state', arguments: [1] }, /"arguments" must be an object/],
  ]
  for (const [index, [params, message]] of cases.entries()) {
    // Forwarded, the backend would drop it and the call end in its 3 s timeout (-32603).
    const { status, message: answer } = await call(`m${index}`, params)
    assert.equal(status, 200)
    assert.equal(answer?.id, `m${index}`)
    assert.equal(answer?.error?.code, -32602, JSON.stringify(answer))
    assert.match(answer?.error?.message ?? '', message)
  }
  const resource = await call('r', { uri: 'memo://sub__a', _meta: 7 }, 'resources/read')
  assert.equal(resource.message?.error?.code, -32602)
  const prompt = await call('p', { name: 'sub__p', arguments: 'x' }, 'prompts/get')
  assert.match(prompt.message?.error?.message ?? '', /"arguments" must be an object/)
  // The backend was never blamed for them.
  const ready = (await (await fetch(new URL('/readyz', gateway.origin))).json()) as {
    backends: Array<{ name: string; state: string; lastFailure?: unknown }>
  }
  assert.deepEqual(
    ready.backends.filter((b) => b.name === 'sub').map((b) => [b.name, b.state, b.lastFailure]),
    [['sub', 'up', undefined]],
  )
})

it('answers methods named after Object members as unknown, not as a list', async () => {
  for (const method of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const { status, message } = await call(method, {}, method)
    assert.equal(status, 200)
    assert.deepEqual([message?.id, message?.error?.code], [method, -32601], JSON.stringify(message))
  }
})

it('checks logging/setLevel’s level itself: the backends’ answers are not relayed', async () => {
  const loud = await call('l1', { level: 'loud' }, 'logging/setLevel')
  assert.equal(loud.message?.error?.code, -32602)
  assert.match(loud.message?.error?.message ?? '', /"level" must be one of debug, info/)
  const info = await call('l2', { level: 'info' }, 'logging/setLevel')
  assert.deepEqual(info.message, { jsonrpc: '2.0', id: 'l2', result: {} })
})

it('refuses a subscriptions/listen whose filter is not an object, instead of a stream that carries nothing', async () => {
  const modern = {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'subscriptions/listen',
  }
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  }
  for (const notifications of [undefined, 'all', ['toolsListChanged']]) {
    const answer = await rpc(
      gateway.url,
      {
        jsonrpc: '2.0',
        id: 'listen',
        method: 'subscriptions/listen',
        params: { ...(notifications === undefined ? {} : { notifications }), _meta: meta },
      },
      modern,
    )
    assert.equal(answer.message?.id, 'listen')
    assert.equal(answer.message?.error?.code, -32602, JSON.stringify(notifications))
    assert.match(answer.message?.error?.message ?? '', /"notifications" must be an object/)
  }
})

it('leaves a backend’s malformed list items out of the merged list, which an SDK client can read', async () => {
  const client = new Client({ name: 'malformed-lists', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  try {
    const tools = (await client.listTools()).tools.map((t) => t.name)
    assert.ok(tools.includes('sub__state'), tools.join(', '))
    assert.ok(tools.includes('raw__bad_result'), tools.join(', '))
    for (const name of ['raw__no_schema', 'raw__string_schema', 'raw__bad_title', 'raw__']) {
      assert.ok(!tools.includes(name), `${name} is listed`)
    }
    assert.equal(tools.filter((name) => name === 'raw__flood').length, 1, 'a repeated tool once')
    const resources = (await client.listResources()).resources.map((r) => r.name)
    assert.deepEqual(
      resources.filter((name) => name !== 'memo://a' && !name.startsWith('memo://')),
      ['fine'],
    )
    const said = logs.join('')
    assert.match(
      said,
      /tools\/list: backend raw's item "no_schema" left out: "inputSchema" is not a JSON Schema of type "object"/,
    )
    assert.match(
      said,
      /resources\/list: backend raw's item "raw:\/\/nameless" left out: "name" is not a string/,
    )
    assert.match(
      said,
      /tools\/list: backend raw's item "flood" left out: repeats an earlier "flood"/,
    )
    // Once each, however often the list is asked for.
    await client.listTools()
    assert.equal(said.split('"no_schema" left out').length, 2)
  } finally {
    await client.close()
  }
})

it('answers a backend error a client could not read as a clear error of the gateway’s own', async () => {
  const client = new Client({ name: 'malformed-error', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  try {
    for (const args of [{}, { huge: true }]) {
      await assert.rejects(
        client.callTool({ name: 'raw__bad_error', arguments: args }, undefined, { timeout: 5000 }),
        /-32603.*Backend raw answered with a malformed error/,
      )
    }
  } finally {
    await client.close()
  }
})

it('drops a backend’s progress notifications whose fields are not numbers', async () => {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...session },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 'p',
      method: 'tools/call',
      params: { name: 'raw__bad_progress', arguments: {}, _meta: { progressToken: 'tok' } },
    }),
    signal: AbortSignal.timeout(10_000),
  })
  const messages = (await response.text())
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as { method?: string; id?: unknown; params?: unknown })
  assert.deepEqual(
    messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params),
    [{ progressToken: 'tok', progress: 2, total: 3 }],
  )
  assert.equal(messages.at(-1)?.id, 'p')
})

it('answers a session request naming a protocol version it does not serve with 400 (POST, GET, DELETE)', async () => {
  // MCP 2025-06-18+: an invalid or unsupported MCP-Protocol-Version is 400 Bad Request.
  for (const version of ['1999-01-01', 'garbage']) {
    const headers = { ...session, 'mcp-protocol-version': version }
    const post = await rpc(gateway.url, { jsonrpc: '2.0', id: 'v', method: 'ping' }, headers)
    assert.equal(post.status, 400, version)
    assert.equal(post.message?.id, 'v')
    assert.equal(post.message?.error?.code, -32022)
    for (const method of ['GET', 'DELETE']) {
      const answer = await fetch(gateway.url, {
        method,
        headers: { ...MCP_ACCEPT, ...headers },
        signal: AbortSignal.timeout(5000),
      })
      assert.equal(answer.status, 400, `${method} ${version}`)
      assert.match(await answer.text(), /Unsupported protocol version/)
    }
  }
  // The session is still there, and a version it serves (or none) is answered.
  for (const headers of [session, { ...session, 'mcp-protocol-version': '2025-11-25' }]) {
    const ping = await rpc(gateway.url, { jsonrpc: '2.0', id: 'ok', method: 'ping' }, headers)
    assert.equal(ping.status, 200)
    assert.deepEqual(ping.message?.result, {})
  }
})

it('a call that times out while its backend answered another id says so in its error', async () => {
  const portico = await startPortico({
    proxy: { admin_tools: false },
    backends: [
      {
        name: 'raw',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('raw-stdio')],
        timeout: 1,
      },
    ],
  })
  try {
    const headers = { 'mcp-session-id': await openSession(portico.url) }
    const answer = await rpc(
      portico.url,
      { jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'raw__wrong_id' } },
      headers,
    )
    assert.equal(answer.message?.id, 41)
    assert.equal(
      answer.message?.error?.message,
      'Backend raw did not answer tools/call within 1000 ms; meanwhile it sent a response to an id no call awaits (the last: 987654)',
    )
  } finally {
    await portico.close()
  }
})

it("says a backend's resource not found in the client's revision, naming the client's URI", async () => {
  const legacy = await call('nf', { uri: 'raw://raw__missing' }, 'resources/read')
  assert.deepEqual(legacy.message?.error, {
    code: -32002,
    message: 'Resource not found',
    data: { uri: 'raw://raw__missing' },
  })
  // 2026-07-28 says -32602 (protocol.md §3.7).
  const modern = await rpc(
    gateway.url,
    {
      jsonrpc: '2.0',
      id: 'nf2',
      method: 'resources/read',
      params: {
        uri: 'raw://raw__missing',
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    },
    modernHeaders('resources/read', 'raw://raw__missing'),
  )
  assert.equal(modern.message?.error?.code, -32602)
  assert.deepEqual((modern.message?.error as { data?: unknown } | undefined)?.data, {
    uri: 'raw://raw__missing',
  })
})

/**
 * A gateway whose one backend, `name`, is raw-stdio with `env`, logging at info into `said`,
 * after one call to a tool of that backend (what it was answered).
 */
async function rawBackendCalled(name: string, env: Record<string, string>, maxRestarts: number) {
  const said: string[] = []
  const started = await startPortico(
    {
      proxy: { admin_tools: false },
      backends: [
        {
          name,
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('raw-stdio')],
          env,
          max_restarts: maxRestarts,
        },
      ],
    },
    { logger: new Logger({ level: 'info', write: (line) => said.push(line) }) },
  )
  const own = { 'mcp-session-id': await openSession(started.url) }
  const answer = await rpc(
    started.url,
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: `${name}__x` } },
    own,
  )
  return { gateway: started, said, answer }
}

it('clips what a backend refusing initialize says, in the log, its health and the calls refused', async () => {
  // Before: a 1 MB refusal went whole into the log at each failed start, /readyz (twice)
  // and every call refused meanwhile.
  const {
    gateway: refusing,
    said,
    answer,
  } = await rawBackendCalled('loud', { RAW_INIT_ERROR_BYTES: '1000000' }, 1)
  try {
    assert.ok(JSON.stringify(answer.message).length < 10_000, 'the refused call')
    const ready = await (await fetch(new URL('/readyz', refusing.origin))).text()
    assert.ok(ready.length < 10_000, `/readyz is ${ready.length} characters`)
    assert.match(ready, /refused initialize: E+… \(1000000 characters\)/)
    const logged = said.join('\n')
    assert.ok(logged.length < 50_000, `${logged.length} characters logged`)
  } finally {
    await refusing.close()
  }
})

it("logs a backend's last stderr text though no newline ends it", async () => {
  // Before: `fatal: …`, the one line saying why the process died, was held for a newline.
  const { gateway: dying, said } = await rawBackendCalled(
    'dies',
    { RAW_DIE_SAYING: 'fatal: cannot open database /var/lib/x.db' },
    0,
  )
  try {
    await until(
      () => said.some((line) => line.includes('[dies] fatal: cannot open database')) || undefined,
      5000,
      'the last stderr text in the log',
    )
    assert.ok(said.some((line) => line.includes('[dies] starting up')))
  } finally {
    await dying.close()
  }
})

it('refuses a member spelt in another case beside the one it routes by (a Go backend reads it)', async () => {
  // Before: `{"name":"sub__state","Name":"crash"}` reached the backend as
  // `{"name":"state","Name":"crash"}`: a Go server runs `crash`, past hide_tools.
  for (const params of [
    { name: 'sub__state', Name: 'crash' },
    { name: 'sub__state', arguments: {}, Arguments: { x: 1 } },
  ]) {
    const { status, message } = await call('v', params)
    assert.equal(status, 400, JSON.stringify(params))
    assert.deepEqual([message?.id, message?.error?.code], ['v', -32600], JSON.stringify(message))
  }
})
