/**
 * Requests that break MCP's message shape, sent to the gateway in front of a stdio backend
 * built on the official SDK (which drops such a message without answering): each gets
 * -32602 with its id at once, nothing is forwarded, and the backend's health does not count
 * the client's mistake as its failure.
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { openSession } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { rpc } from '../helpers/rpc.ts'

let gateway: RunningPortico
let session: Record<string, string>

before(async () => {
  gateway = await startPortico({
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
    ],
  })
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
  ]
  for (const [index, [params, message]] of cases.entries()) {
    const started = Date.now()
    const { status, message: answer } = await call(`m${index}`, params)
    assert.equal(status, 200)
    assert.equal(answer?.id, `m${index}`)
    assert.equal(answer?.error?.code, -32602, JSON.stringify(answer))
    assert.match(answer?.error?.message ?? '', message)
    // Answered by the gateway, not after the backend's 3 s timeout.
    assert.ok(Date.now() - started < 2000, `${JSON.stringify(params)} waited`)
  }
  const resource = await call('r', { uri: 'memo://sub__a', _meta: 7 }, 'resources/read')
  assert.equal(resource.message?.error?.code, -32602)
  // The backend was never blamed for them.
  const ready = (await (await fetch(new URL('/readyz', gateway.origin))).json()) as {
    backends: Array<{ name: string; state: string; lastFailure?: unknown }>
  }
  assert.deepEqual(
    ready.backends.map((b) => [b.name, b.state, b.lastFailure]),
    [['sub', 'up', undefined]],
  )
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
