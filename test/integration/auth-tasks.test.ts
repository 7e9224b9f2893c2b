/**
 * Tasks (2025-11-25) through transparent mode with `[auth]`, in front of a stateless SDK server
 * whose one task store serves every caller: a task is answered only to the caller that created
 * it through Portico, for a tool its roles allow, and `tasks/list` shows each caller its own.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js'
import type { ConfigInput } from '../../src/config/schema.ts'
import type { Served } from '../fixtures/serve.ts'
import { startTaskServer } from '../fixtures/task-server.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'

const ALICE = 'alice-key-0123456789'
const BOB = 'bob-key-01234567890'
const VERSION = { 'mcp-protocol-version': '2025-11-25' }

/** The task server and a Portico in front of it (`config` names the server's URL), per describe. */
function taskServerBehind(config: (url: string) => ConfigInput): () => RunningPortico {
  const running: { upstream?: Served; portico?: RunningPortico } = {}
  before(async () => {
    running.upstream = await startTaskServer()
    running.portico = await startPortico(config(running.upstream.url))
  })
  after(async () => {
    await running.portico?.close()
    await running.upstream?.close()
  })
  return () => running.portico as RunningPortico
}

describe('tasks belong to the caller that created them (transparent mode)', () => {
  const portico = taskServerBehind((url) => ({
    upstream: url,
    auth: {
      api_keys: [
        { name: 'alice', key: ALICE, roles: ['reader'] },
        { name: 'bob', key: BOB },
      ],
      roles: [{ name: 'reader', allow_tools: ['open', 'echo'] }],
    },
  }))

  const as = (key: string, id: number, method: string, params: Record<string, unknown>) =>
    rpc(portico().url, request(id, method, params), { ...bearer(key), ...VERSION })

  async function taskOf(key: string, tool: string, text: string): Promise<string> {
    const created = await as(key, 1, 'tools/call', {
      name: tool,
      arguments: { text },
      task: { ttl: 60_000 },
    })
    const taskId = (created.message?.result?.task as { taskId?: string } | undefined)?.taskId
    assert.ok(taskId, JSON.stringify(created.message))
    return taskId
  }

  it('answers a task to its creator only: another caller neither lists nor reads it', async () => {
    const bobs = await taskOf(BOB, 'secret', 'bob-private-data')
    const own = await as(BOB, 2, 'tasks/result', { taskId: bobs })
    assert.match(JSON.stringify(own.message?.result), /SECRET-RESULT bob-private-data/)
    // Before: alice, whose role forbids `secret`, listed bob's task and read its result.
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
      const refused = await as(ALICE, 3, method, { taskId: bobs })
      assert.equal(refused.message?.id, 3, method)
      assert.equal(refused.message?.error?.code, -32602, method)
      assert.doesNotMatch(JSON.stringify(refused.message), /SECRET-RESULT/, method)
    }
    const alices = await taskOf(ALICE, 'open', 'hers')
    const listed = await as(ALICE, 4, 'tasks/list', {})
    const tasks = (listed.message?.result?.tasks ?? []) as Array<{ taskId: string }>
    const ids = tasks.map((t) => t.taskId)
    assert.deepEqual(ids, [alices])
    const mine = await as(ALICE, 5, 'tasks/result', { taskId: alices })
    assert.match(JSON.stringify(mine.message?.result), /OPEN-RESULT hers/)
    // A task named twice, in another case (a Go server reads the last one): refused.
    const sneaky = await rpc(
      portico().url,
      JSON.parse(
        `{"jsonrpc":"2.0","id":6,"method":"tasks/result","params":{"taskId":"${alices}","TaskId":"${bobs}"}}`,
      ),
      { ...bearer(ALICE), ...VERSION },
    )
    assert.equal(sneaky.message?.error?.code, -32600)
  })

  it('refuses tasks/* sent as a notification: a server runs it all the same (R16-01)', async () => {
    const bobs = await taskOf(BOB, 'secret', 'keep me')
    const response = await fetch(portico().url, {
      method: 'POST',
      headers: {
        ...bearer(ALICE),
        ...VERSION,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'tasks/cancel', params: { taskId: bobs } }),
    })
    // Before: 202, and the upstream cancelled bob's task.
    assert.equal(response.status, 400)
    assert.match(await response.text(), /tasks\/cancel is a request and needs an id/)
    const still = await as(BOB, 8, 'tasks/result', { taskId: bobs })
    assert.match(JSON.stringify(still.message?.result), /SECRET-RESULT keep me/)
  })

  it('refuses a task Portico did not see created (fail closed)', async () => {
    const unknown = await as(BOB, 7, 'tasks/get', { taskId: 'made-up' })
    assert.equal(unknown.message?.error?.code, -32602)
    assert.match(unknown.message?.error?.message ?? '', /no task "made-up" of this caller/)
  })
})

describe('a task-augmented call through the gateway, which relays no tasks', () => {
  const gateway = taskServerBehind((url) => ({
    proxy: { admin_tools: false },
    backends: [{ name: 's', transport: 'http', url }],
  }))

  it('runs as a plain call, its result in the answer, and no tool is listed as taking tasks', async () => {
    const client = new Client({ name: 'gateway-tasks', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway().url)))
    try {
      const { tools } = await client.listTools()
      const secret = tools.find((tool) => tool.name === 's__secret')
      assert.ok(secret, JSON.stringify(tools))
      assert.equal(secret.execution?.taskSupport, undefined)
      // Before: the backend ran it as a task, and the client, which cannot ask the gateway
      // for tasks/result, never got what it returned.
      const called = await client.request(
        {
          method: 'tools/call',
          params: { name: 's__secret', arguments: { text: 'hi' }, task: { ttl: 60_000 } },
        },
        CallToolResultSchema,
      )
      assert.match(JSON.stringify(called), /SECRET-RESULT hi/)
    } finally {
      await client.close()
    }
  })
})

describe("a task's result carries the widget CSP the policy writes (R16-02)", () => {
  const portico = taskServerBehind((url) => ({
    upstream: url,
    public_url: 'https://mcp.example.com',
    csp: { frameDomains: { domains: [], mode: 'replace' } },
  }))

  it('rewrites tasks/result as it rewrites the tools/call it answers', async () => {
    const created = await rpc(
      portico().url,
      request(1, 'tools/call', { name: 'open', arguments: { text: 'w' }, task: { ttl: 60_000 } }),
      VERSION,
    )
    const taskId = (created.message?.result?.task as { taskId?: string } | undefined)?.taskId
    assert.ok(taskId)
    const result = await rpc(portico().url, request(2, 'tasks/result', { taskId }), VERSION)
    const meta = result.message?.result?._meta as
      | { ui?: { csp?: { frameDomains?: string[] } } }
      | undefined
    // Before: the app's frame domain came through as written.
    assert.deepEqual(meta?.ui?.csp?.frameDomains, [], JSON.stringify(result.message))
  })
})
