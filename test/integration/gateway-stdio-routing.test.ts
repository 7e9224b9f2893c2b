/**
 * Where the gateway routes what a stdio process sends, with real processes (the route-stdio
 * fixture) and SDK clients: stateless callers of a per-session backend get a process per
 * principal `[auth]` verified (bounded by max_processes, ended after session_ttl), a shared
 * process's log line outside any call is shown to no client, a backend's `ping` is answered by
 * the gateway (during the start too), and a server request for a capability the client did not
 * declare is refused to the backend with `-32601` saying so.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { startElicitServer } from '../fixtures/elicit-server.ts'
import { openListenStream } from '../helpers/listen.ts'
import { CLIENT_META, MODERN_META } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const SERVER = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [fixture('route-stdio')],
}
const KEYS = {
  alice: 'alice-key-0123456789abcdef',
  bob: 'bob-key-0123456789abcdef00',
  carol: 'carol-key-0123456789abcdef',
}

const running: RunningPortico[] = []
const clients: Client[] = []

after(async () => {
  for (const client of clients) await client.close().catch(() => {})
  for (const gateway of running) await gateway.close()
})

async function gateway(config: Record<string, unknown>): Promise<RunningPortico> {
  const started = await startPortico({ proxy: { admin_tools: false }, ...config })
  running.push(started)
  return started
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  // No capabilities: this client cannot be asked for sampling, elicitation or roots.
  const client = new Client({ name: 'routing-test', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  clients.push(client)
  return client
}

/** What a tool of the fixture answered (its text is JSON). */
function answerOf(result: unknown): Record<string, unknown> {
  if (result === undefined) throw new Error('no result (an error answer)')
  const content = (result as { content: { text: string }[] }).content
  return JSON.parse(content[0]?.text ?? 'null') as Record<string, unknown>
}

let nextId = 1

/** A stateless (2026-07-28) tools/call with an API key; the JSON-RPC answer. */
async function stateless(
  url: string,
  key: string,
  tool: string,
  args: Record<string, unknown> = {},
): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${key}`,
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': tool,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'tools/call',
      params: {
        name: tool,
        arguments: args,
        _meta: {
          [MODERN_META]: '2026-07-28',
          [CLIENT_META]: { name: 'stateless', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
    signal: AbortSignal.timeout(15_000),
  })
  const body = await response.text()
  const json = body.trimStart().startsWith('{')
    ? body
    : (body
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5))
        .at(-1) ?? body)
  const parsed = JSON.parse(json)
  if (parsed.result === undefined && parsed.error === undefined) throw new Error(body)
  return parsed
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const AUTH = {
  api_keys: Object.entries(KEYS).map(([name, key]) => ({ name, key })),
}

describe('stateless callers of an isolation = "session" stdio backend', () => {
  it('get a process per verified principal: no state crosses users; max_processes bounds them', async () => {
    const { url } = await gateway({
      auth: AUTH,
      backends: [{ name: 's', ...SERVER, isolation: 'session', max_processes: 2 }],
    })
    const alice = await stateless(url, KEYS.alice, 's__remember', { value: 'alice-secret' })
    assert.ok(alice.result, JSON.stringify(alice))
    const alicePid = answerOf(alice.result).pid
    const bob = answerOf((await stateless(url, KEYS.bob, 's__recall')).result)
    assert.notEqual(bob.pid, alicePid, 'alice and bob were served by the same process')
    assert.equal(bob.memory, null, "bob's process knew what alice told hers")
    const again = answerOf((await stateless(url, KEYS.alice, 's__recall')).result)
    assert.deepEqual(again, { pid: alicePid, memory: 'alice-secret' })
    const carol = await stateless(url, KEYS.carol, 's__whoami')
    assert.match(carol.error?.message ?? '', /maximum of 2 processes/)
    // A legacy session still gets a process of its own (here refused too: the bound is shared).
    const session = await connect(url, { authorization: `Bearer ${KEYS.alice}` })
    const refused = await session.callTool({ name: 's__whoami', arguments: {} }).catch((e) => e)
    assert.match(String(refused?.message ?? JSON.stringify(refused)), /maximum of 2 processes/)
  })

  it("ends a principal's process once it sat idle for session_ttl", async () => {
    const { url } = await gateway({
      auth: AUTH,
      proxy: { admin_tools: false, session_ttl: '1s' },
      backends: [{ name: 's', ...SERVER, isolation: 'session' }],
    })
    const pid = answerOf((await stateless(url, KEYS.alice, 's__whoami')).result).pid as number
    assert.ok(alive(pid))
    await until(() => !alive(pid), 20_000, `alice's idle process ${pid} to be ended`)
    // Her next call starts a new one.
    const next = answerOf((await stateless(url, KEYS.alice, 's__whoami')).result).pid
    assert.notEqual(next, pid)
  })

  it('without [auth], share the one process of the gateway (nothing tells them apart)', async () => {
    const { url } = await gateway({ backends: [{ name: 's', ...SERVER, isolation: 'session' }] })
    const first = answerOf((await stateless(url, 'x', 's__whoami')).result).pid
    const second = answerOf((await stateless(url, 'y', 's__whoami')).result).pid
    assert.equal(first, second)
  })
})

describe('messages a shared stdio process sends outside any call', () => {
  it("shows a log line to no client (it was broadcast to every session's GET stream)", async () => {
    const { url } = await gateway({ backends: [{ name: 'r', ...SERVER }] })
    const a = await connect(url)
    const b = await connect(url)
    const logs: unknown[] = []
    let changed = false
    b.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params)
    })
    b.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed = true
    })
    await b.listTools() // b has used the process, and holds its list
    await a.callTool({ name: 'r__log_later', arguments: { delayMs: 50 } })
    // The backend writes the log line, then a list change: once b has the change, the log line
    // was routed before it.
    await until(() => changed, 10_000, 'the list change after the log line to reach b')
    assert.deepEqual(logs, [], "b received a log line of a's call")
  })

  it("answers the backend's ping with an empty result (it was refused -32601)", async () => {
    const { url } = await gateway({ backends: [{ name: 'r', ...SERVER }] })
    const client = await connect(url)
    let changed = false
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed = true
    })
    await client.listTools()
    await client.callTool({ name: 'r__ping_later', arguments: { delayMs: 50 } })
    await until(() => changed, 10_000, 'the backend to say its ping was answered')
    const answers = answerOf(await client.callTool({ name: 'r__answers', arguments: {} }))
    assert.deepEqual(answers['late-ping'], { result: {} })
  })

  it('answers a ping the backend sends before answering initialize (the start timed out)', async () => {
    const { url } = await gateway({
      backends: [
        {
          name: 'pf',
          ...SERVER,
          env: { ROUTE_PING_FIRST: '1' },
          startup_timeout: '10s',
          max_restarts: 0,
        },
      ],
    })
    const client = await connect(url)
    const answers = answerOf(await client.callTool({ name: 'pf__answers', arguments: {} }))
    assert.deepEqual(answers['ping-first'], { result: {} })
  })
})

describe('a list change of a shared stdio process', () => {
  it('reaches every session and listen stream, lists served from the cache too; calls and search follow it', async () => {
    const { url } = await gateway({
      proxy: { admin_tools: false, tool_discovery: true },
      backends: [{ name: 'r', ...SERVER, hide_destructive: true }],
    })
    const changes = { a: 0, b: 0 }
    const [a, b, c] = [await connect(url), await connect(url), await connect(url)]
    a.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changes.a++
    })
    b.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changes.b++
    })
    await a.listTools()
    await b.listTools() // from the cache: b never used the process
    const listen = await openListenStream(url, 'listen-stdio', { toolsListChanged: true })
    const search = async () =>
      JSON.parse(
        (
          (await a.callTool({ name: 'portico__search_tools', arguments: { query: 'zebra' } }))
            .content as Array<{ text: string }>
        )[0]?.text ?? '[]',
      ) as Array<{ id: string }>
    assert.deepEqual(await search(), [])
    // A whole listing was read: a name it lacks is refused without asking the backend again.
    const before = await a.callTool({ name: 'r__zebra', arguments: {} }).catch((e: Error) => e)
    assert.match(String((before as Error).message), /Unknown tool: r__zebra/)
    await c.callTool({ name: 'r__add_tool', arguments: { name: 'zebra', description: 'striped' } })
    await until(() => changes.a > 0 && changes.b > 0, 10_000, 'the list change to reach a and b')
    await listen.until(
      (all) => all.some((m) => m.method === 'notifications/tools/list_changed'),
      'the list change on the listen stream',
    )
    assert.deepEqual(changes, { a: 1, b: 1 }, 'each session told once')
    // Neither the catalog's refusal nor the search index outlives the change.
    assert.equal(answerOf(await a.callTool({ name: 'r__zebra', arguments: {} })), 'zebra')
    assert.deepEqual(
      (await search()).map((hit) => hit.id),
      ['r__zebra'],
    )
    listen.close()
  })

  it('reaches a listen stream once a second when the backend announces changes by the thousand', async () => {
    const { url } = await gateway({
      proxy: { admin_tools: false },
      backends: [{ name: 'r', ...SERVER }],
    })
    const client = await connect(url)
    await client.listTools()
    const listen = await openListenStream(url, 'listen-burst', { toolsListChanged: true })
    await client.callTool({ name: 'r__change_burst', arguments: { count: 2000 } })
    const changed = (all: { method?: string }[]) =>
      all.filter((m) => m.method === 'notifications/tools/list_changed').length
    const seen = await listen.until((all) => changed(all) >= 1, 'the list change')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    // Before: one event per announcement, 2,000 on every stream (a ping then took seconds).
    const later = await listen.until(() => true, 'what came since')
    assert.equal(changed(seen), 1)
    assert.ok(changed(later) <= 2, `${changed(later)} list changes`)
    listen.close()
  })

  it('with isolation = "session", each session lists its own process; calls and search follow its change', async () => {
    const { url } = await gateway({
      proxy: { admin_tools: false, tool_discovery: true },
      backends: [{ name: 'r', ...SERVER, isolation: 'session', hide_destructive: true }],
    })
    const [a, b] = [await connect(url), await connect(url)]
    const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name)
    await names(a)
    const search = async () =>
      JSON.stringify(
        await a.callTool({ name: 'portico__search_tools', arguments: { query: 'zebra' } }),
      )
    assert.doesNotMatch(await search(), /r__zebra/) // the index is built, without it
    let changed = false
    a.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed = true
    })
    await a.callTool({ name: 'r__add_tool', arguments: { name: 'zebra' } })
    await until(() => changed, 10_000, "the list change of a's process")
    // Before any new listing: the catalog's refusal of the name, and the index, went with it.
    assert.equal(answerOf(await a.callTool({ name: 'r__zebra', arguments: {} })), 'zebra')
    assert.match(await search(), /r__zebra/)
    assert.ok(!(await names(b)).includes('r__zebra'), "b's process has no zebra")
    assert.ok((await names(a)).includes('r__zebra'), "a's process lists its zebra")
  })
})

describe('tool discovery with isolation = "session"', () => {
  it("lists on the searching session's own process: no process no client owns takes a slot", async () => {
    const { url } = await gateway({
      proxy: { admin_tools: false, tool_discovery: true },
      backends: [{ name: 'r', ...SERVER, isolation: 'session', max_processes: 1 }],
    })
    const a = await connect(url)
    const found = await a.callTool({
      name: 'portico__search_tools',
      arguments: { query: 'whoami' },
    })
    assert.match(JSON.stringify(found), /r__whoami/)
    // The search started a's own process (its one slot), which then serves a's calls.
    const first = answerOf(await a.callTool({ name: 'r__whoami', arguments: {} }))
    assert.equal(typeof first.pid, 'number')
  })
})

describe('a shared stdio process past max_response_body_size', () => {
  it('an answer over the bound (in bytes) fails its own call only: the process and other calls go on', async () => {
    const { url } = await gateway({
      max_response_body_size: 65_536,
      backends: [{ name: 'r', ...SERVER }],
    })
    const [a, b] = [await connect(url), await connect(url)]
    const pid = answerOf(await a.callTool({ name: 'r__whoami', arguments: {} })).pid
    const slow = a.callTool({ name: 'r__slow', arguments: { delayMs: 1500 } })
    // 40,000 "é": 80,000 bytes in 40,000 characters, in one line.
    const big = await b
      .callTool({ name: 'r__big', arguments: { chars: 40_000, char: 'é' } })
      .catch((error: Error) => error)
    assert.match(String((big as Error).message), /wrote a message over 65536 bytes/)
    assert.deepEqual((await slow).content, [{ type: 'text', text: JSON.stringify('slow') }])
    assert.equal(answerOf(await b.callTool({ name: 'r__whoami', arguments: {} })).pid, pid)
    // Under the bound in bytes, it is relayed whole.
    const fits = await b.callTool({ name: 'r__big', arguments: { chars: 30_000, char: 'é' } })
    assert.equal(String(answerOf(fits)).length, 30_000)
  })

  it('a process that reads none of its input is given up and restarted', async () => {
    const { url } = await gateway({
      max_response_body_size: 65_536,
      backends: [{ name: 'r', ...SERVER, timeout: { seconds: 2 } }],
    })
    const client = await connect(url)
    const pid = answerOf(await client.callTool({ name: 'r__whoami', arguments: {} })).pid
    await client.callTool({ name: 'r__deafen', arguments: {} })
    // Calls it never reads pile up past the bound; then the process is stopped and restarted.
    const padding = 'p'.repeat(400_000)
    const unread = Array.from({ length: 6 }, () =>
      client.callTool({ name: 'r__whoami', arguments: { padding } }).catch(() => undefined),
    )
    const restarted = await until(
      async () => {
        const answer = await client
          .callTool({ name: 'r__whoami', arguments: {} })
          .catch(() => undefined)
        const now = answer === undefined ? undefined : answerOf(answer).pid
        return now !== undefined && now !== pid ? now : undefined
      },
      20_000,
      'a new process answering',
    )
    assert.notEqual(restarted, pid)
    await Promise.all(unread)
  })
})

describe('a server request for a capability the client did not declare', () => {
  for (const isolation of ['shared', 'session'] as const) {
    it(`is refused to the backend with -32601 naming the capability (isolation = "${isolation}")`, async () => {
      const { url } = await gateway({
        request_timeout: '10s',
        backends: [{ name: 'q', ...SERVER, isolation }],
      })
      const client = await connect(url)
      const answer = answerOf(await client.callTool({ name: 'q__ask', arguments: {} }))
      const error = answer.error as { code: number; message: string } | undefined
      assert.equal(error?.code, -32601, JSON.stringify(answer))
      assert.match(error?.message ?? '', /did not declare the sampling capability/)
    })

    if (isolation === 'shared') {
      it('is refused the same on the call of an HTTP backend, which sends it on the call’s stream', async () => {
        const backend = await startElicitServer()
        try {
          const { url } = await gateway({
            request_timeout: '10s',
            backends: [{ name: 'e', transport: 'http', url: backend.url }],
          })
          const client = await connect(url)
          // Before: passed to this client, which never declared elicitation (a client that
          // ignores such a request left the call waiting for its deadline).
          const result = await client.callTool({ name: 'e__ask', arguments: {} })
          assert.equal(result.isError, true, JSON.stringify(result))
          assert.match(JSON.stringify(result), /did not declare the elicitation capability/)
        } finally {
          await backend.close()
        }
      })
    }

    it(`answers roots/list with an empty list, as outside any call (isolation = "${isolation}")`, async () => {
      const { url } = await gateway({
        request_timeout: '10s',
        backends: [{ name: 'q', ...SERVER, isolation }],
      })
      const client = await connect(url)
      const args = { method: 'roots/list' }
      const answer = answerOf(await client.callTool({ name: 'q__ask', arguments: args }))
      assert.deepEqual(answer, { result: { roots: [] } })
    })
  }
})
