/**
 * Gateway mode end to end with real npm MCP servers: server-everything over stdio and over
 * HTTP, server-memory, server-filesystem on a temporary folder and a paginating fixture, one
 * backend that never starts; SDK v1 and v2 clients (both eras).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListPromptsResultSchema,
  ListToolsResultSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import type { ExchangeEvent, PorticoEvent } from '../../src/observe/event.ts'
import { openListenStream } from '../helpers/listen.ts'
import { modernHeadersOf, recordingFetch, type WireExchange } from '../helpers/mcp-http.ts'
import { fixture, serverBin } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const node = process.execPath
let web: Spawned & { url: string }
let gateway: RunningPortico
let folder: string

before(async () => {
  folder = mkdtempSync(join(tmpdir(), 'portico-gw-files-'))
  writeFileSync(join(folder, 'hello.txt'), 'hello from the filesystem backend\n')
  web = await startEverything('streamableHttp')
  gateway = await startPortico({
    request_timeout: 20,
    proxy: { list_timeout: '3s' },
    backends: [
      {
        name: 'ev',
        transport: 'stdio',
        command: node,
        args: [serverBin('everything'), 'stdio'],
        hide_tools: ['get-env'],
        aliases: [{ from: 'echo', to: 'say', description: 'Says it back' }],
        inject_args: [{ tool: 'get-sum', args: { b: 100 }, overwrite: true }],
      },
      {
        name: 'web',
        transport: 'http',
        url: web.url,
        // Secrets the config admin tool must never show (server-everything ignores them).
        headers: { 'x-api-key': 'header-secret-value' },
        bearer_token: 'bearer-secret-value',
      },
      {
        name: 'mem',
        transport: 'stdio',
        command: node,
        args: [serverBin('memory')],
        env: { MEMORY_FILE_PATH: join(folder, 'memory.jsonl') },
      },
      { name: 'files', transport: 'stdio', command: node, args: [serverBin('filesystem'), folder] },
      {
        name: 'paged',
        transport: 'stdio',
        command: node,
        args: [fixture('paged-server')],
        default_args: { limit: 10, mode: 'default' },
        inject_args: [{ tool: 'beta', args: { mode: 'per-tool' } }],
        param_overrides: [
          {
            tool: 'gamma',
            hide: ['password'],
            rename: { query: 'q' },
            defaults: { password: 'from-config' },
          },
        ],
      },
      {
        name: 'ghost',
        transport: 'stdio',
        command: join(folder, 'no-such-binary'),
        max_restarts: 1,
      },
    ],
    composite_tools: [
      {
        name: 'fan_out',
        description: 'alpha and beta at once',
        tools: ['paged__alpha', 'paged__beta'],
      },
      {
        name: 'half_broken',
        description: 'one member is hidden',
        tools: ['paged__alpha', 'ev__get-env'],
      },
    ],
  })
})

after(async () => {
  await gateway?.close()
  await web?.stop()
  rmSync(folder, { recursive: true, force: true })
})

async function v1Client(label = 'main'): Promise<Client> {
  const client = new Client(
    { name: 'gateway-test', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {} } },
  )
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
    role: 'assistant',
    model: 'test-model',
    content: {
      type: 'text',
      text: `sampled by ${label}: ${JSON.stringify(request.params.messages[0]?.content)}`,
    },
  }))
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }))
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  return client
}

function text(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('\n')
}

/** What a raw 2026-07-28 request is answered with (the fields these tests read). */
interface StatelessAnswer {
  id?: unknown
  result?: { resultType?: string; requestState?: string; inputRequests?: object }
  error?: { code: number; message: string; data?: { supported?: string[]; requested?: string } }
}

/** `_meta` of a 2026-07-28 request whose client declares `capabilities`. */
function statelessMeta(capabilities: object = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': capabilities,
  }
}

/** A stateless POST sent from another loopback address than fetch's (127.0.0.2). */
function postStatelessFrom(
  localAddress: string,
  message: Record<string, unknown>,
): Promise<StatelessAnswer> {
  const url = new URL(gateway.url)
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...modernHeadersOf(message),
        },
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () => resolve(JSON.parse(body) as StatelessAnswer))
      },
    )
    request.on('error', reject)
    request.end(JSON.stringify({ jsonrpc: '2.0', ...message }))
  })
}

/** One raw stateless request to the gateway, JSON answers only: its HTTP status and answer. */
async function postStateless(
  message: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; answer: StatelessAnswer }> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...modernHeadersOf(message),
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', ...message }),
    signal: AbortSignal.timeout(30_000),
  })
  return { status: response.status, answer: (await response.json()) as StatelessAnswer }
}

describe('gateway with SDK v1 client (legacy sessions)', () => {
  let client: Client
  before(async () => {
    client = await v1Client()
  })
  after(() => client?.close())

  it('lists namespaced tools from every live backend, with filters, aliases and admin tools', async () => {
    const names: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await client.listTools(cursor ? { cursor } : {})
      names.push(...page.tools.map((t) => t.name))
      cursor = page.nextCursor
      pages++
    } while (cursor && pages < 10)
    assert.ok(pages >= 3, `the paged backend needs 3 pages, got ${pages}`)
    for (const name of [
      'ev__say',
      'ev__get-sum',
      'web__echo',
      'mem__read_graph',
      'files__read_text_file',
      'paged__alpha',
      'paged__epsilon',
      'portico__backends',
    ]) {
      assert.ok(names.includes(name), `${name} missing from ${names.join(' ')}`)
    }
    assert.ok(!names.includes('ev__get-env'), 'hidden tool listed')
    assert.ok(!names.includes('ev__echo'), 'aliased tool listed under its old name')
    assert.equal(new Set(names).size, names.length, 'a name appeared twice across pages')
    assert.ok(names.every((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n)))
    const say = (await client.listTools()).tools.find((t) => t.name === 'ev__say')
    assert.equal(say?.description, 'Says it back')
  })

  it('paginates prompts across backends and serves namespaced resources', async () => {
    const prompts: string[] = []
    let cursor: string | undefined
    do {
      const page = await client.listPrompts(cursor ? { cursor } : {})
      prompts.push(...page.prompts.map((p) => p.name))
      cursor = page.nextCursor
    } while (cursor)
    assert.deepEqual(
      prompts.filter((p) => p.startsWith('paged__')),
      ['paged__one', 'paged__two', 'paged__three'],
    )
    assert.ok(prompts.some((p) => p.startsWith('ev__')))
    const prompt = await client.getPrompt({ name: 'paged__two' })
    assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'prompt two' })
    const resources = await client.listResources()
    const ev = resources.resources.find((r) => r.uri.includes('ev__'))
    assert.ok(ev, 'no ev resource')
    const read = await client.readResource({ uri: ev.uri })
    assert.equal(read.contents[0]?.uri, ev.uri)
    await assert.rejects(client.readResource({ uri: 'demo://nobody__x' }), /Unknown resource/)
  })

  it('refuses a cursor it did not mint, a stale one, or one a backend refuses: -32602', async () => {
    const cursorOf = (position: unknown, method = 'tools/list') =>
      Buffer.from(JSON.stringify({ v: 1, m: method, p: position })).toString('base64url')
    const listWith = (cursor: unknown) =>
      client.request(
        { method: 'tools/list', params: { cursor } as { cursor: string } },
        ListToolsResultSchema,
      )
    const refused = (pattern: RegExp) => (error: Error & { code?: number }) => {
      assert.equal(error.code, -32602)
      assert.match(error.message, pattern)
      return true
    }
    // Not a string, not Portico's, or naming only backends that are not there (any more).
    await assert.rejects(listWith(5), refused(/Invalid cursor/))
    await assert.rejects(listWith('!!!'), refused(/Invalid cursor/))
    await assert.rejects(listWith(cursorOf({ removed: '2' })), refused(/Invalid cursor/))
    // A backend refusing its part: an error, not an empty last page that ends the list.
    await assert.rejects(
      listWith(cursorOf({ paged: 'bogus' })),
      refused(/Invalid cursor: backend paged refused it/),
    )
    const next = await listWith(cursorOf({ paged: '2' }))
    assert.deepEqual(
      next.tools.map((t) => t.name),
      ['paged__gamma', 'paged__delta'],
    )
    // Another list's cursor: before, prompts/list paged from the tools' position and the
    // client lost the prompts before it without an error.
    const { nextCursor } = await client.listTools()
    assert.ok(nextCursor)
    await assert.rejects(
      client.request(
        { method: 'prompts/list', params: { cursor: nextCursor } },
        ListPromptsResultSchema,
      ),
      refused(/Invalid cursor/),
    )
  })

  it('routes calls to each backend, with aliases and argument injection', async () => {
    assert.match(
      text(await client.callTool({ name: 'ev__say', arguments: { message: 'hi' } })),
      /hi/,
    )
    // inject_args with overwrite replaces the client's b.
    assert.match(
      text(await client.callTool({ name: 'ev__get-sum', arguments: { a: 1, b: 2 } })),
      /sum of 1 and 100 is 101/,
    )
    assert.match(
      text(await client.callTool({ name: 'web__echo', arguments: { message: 'web' } })),
      /web/,
    )
    await client.callTool({
      name: 'mem__create_entities',
      arguments: {
        entities: [{ name: 'Portico', entityType: 'proxy', observations: ['gateway'] }],
      },
    })
    assert.match(text(await client.callTool({ name: 'mem__read_graph', arguments: {} })), /Portico/)
    assert.match(
      text(
        await client.callTool({
          name: 'files__read_text_file',
          arguments: { path: join(folder, 'hello.txt') },
        }),
      ),
      /hello from the filesystem backend/,
    )
    const echoed = JSON.parse(
      text(await client.callTool({ name: 'paged__beta', arguments: { limit: 3 } })),
    )
    assert.deepEqual(echoed, { tool: 'beta', arguments: { limit: 3, mode: 'per-tool' } })
    await assert.rejects(client.callTool({ name: 'ev__get-env', arguments: {} }), /Unknown tool/)
  })

  it('shows param_overrides in the schema and turns calls back into the backend names', async () => {
    // gamma is on the paged backend's second page.
    const tools = []
    let cursor: string | undefined
    do {
      const page = await client.listTools(cursor ? { cursor } : {})
      tools.push(...page.tools)
      cursor = page.nextCursor
    } while (cursor && tools.length < 1000)
    const gamma = tools.find((tool) => tool.name === 'paged__gamma')
    assert.deepEqual(gamma?.inputSchema, {
      type: 'object',
      properties: { q: { type: 'string' }, limit: { type: 'number' } },
      required: ['q'],
    })
    const call = async (args?: Record<string, unknown>) =>
      JSON.parse(
        text(await client.callTool({ name: 'paged__gamma', ...(args ? { arguments: args } : {}) })),
      )
    // The renamed parameter goes back under its own name; a hidden one the client sends anyway
    // is replaced by the configured default (mcp-proxy would pass the client's value on).
    assert.deepEqual(await call({ q: 'find me', password: 'client-guess', limit: 2 }), {
      tool: 'gamma',
      arguments: { query: 'find me', password: 'from-config', limit: 2, mode: 'default' },
    })
    // No arguments at all: defaults are still filled (mcp-proxy fills nothing then).
    assert.deepEqual(await call(), {
      tool: 'gamma',
      arguments: { password: 'from-config', limit: 10, mode: 'default' },
    })
  })

  it('answers a composite tool with every member called through the chain', async () => {
    const { tools } = await client.listTools()
    assert.deepEqual(
      tools.find((tool) => tool.name === 'fan_out'),
      { name: 'fan_out', description: 'alpha and beta at once', inputSchema: { type: 'object' } },
    )
    const result = await client.callTool({ name: 'fan_out', arguments: { x: 1 } })
    assert.equal(result.isError, undefined)
    // Each member got the same arguments plus its own injection, in the configured order.
    assert.deepEqual(
      (result.content as Array<{ text: string }>).map((item) => JSON.parse(item.text)),
      [
        { tool: 'alpha', arguments: { x: 1, limit: 10, mode: 'default' } },
        { tool: 'beta', arguments: { x: 1, limit: 10, mode: 'per-tool' } },
      ],
    )
    // With a progress token: members do not get it (their progress would interleave under
    // one token and go backwards); a direct call does.
    const progress = { onprogress: () => {} }
    const tracked = await client.callTool({ name: 'fan_out', arguments: {} }, undefined, progress)
    for (const item of tracked.content as Array<{ text: string }>) {
      assert.equal(JSON.parse(item.text).progressToken, undefined, item.text)
    }
    const direct = await client.callTool(
      { name: 'paged__alpha', arguments: {} },
      undefined,
      progress,
    )
    assert.notEqual(
      JSON.parse((direct.content as Array<{ text: string }>)[0]?.text ?? '{}').progressToken,
      undefined,
    )
    // A member the chain refuses (a hidden tool) fails the composite, named, and the other
    // member's content is still there.
    const broken = await client.callTool({ name: 'half_broken', arguments: {} })
    assert.equal(broken.isError, true)
    const texts = (broken.content as Array<{ text: string }>).map((item) => item.text)
    assert.deepEqual(JSON.parse(texts[0] ?? ''), {
      tool: 'alpha',
      arguments: { limit: 10, mode: 'default' },
    })
    assert.match(texts[1] ?? '', /^Error from ev__get-env: .*Unknown tool/)
    await gateway.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'fan_out' && e.backend === 'portico'),
    )
  })

  it('answers subscriptions/listen from a JSON-only client with an error, not a wait without end', async () => {
    const { answer } = await postStateless({
      id: 7,
      method: 'subscriptions/listen',
      params: { notifications: { toolsListChanged: true }, _meta: statelessMeta() },
    })
    assert.equal(answer.id, 7)
    assert.match(answer.error?.message ?? '', /Accept must include text\/event-stream/)
  })

  it('checks every stateless request: its version, its _meta, and a method it may call', async () => {
    const post = async (method: string, meta: Record<string, unknown>, version = '2026-07-28') => {
      const { status, answer } = await postStateless(
        { id: 'm1', method, params: { _meta: meta } },
        { 'mcp-protocol-version': version, 'mcp-method': method },
      )
      assert.equal(answer.id, 'm1')
      return { status, error: answer.error }
    }
    const future = await post(
      'tools/list',
      { ...statelessMeta(), 'io.modelcontextprotocol/protocolVersion': '2099-01-01' },
      '2099-01-01',
    )
    assert.equal(future.status, 400)
    assert.equal(future.error?.code, -32022)
    assert.equal(future.error?.data?.requested, '2099-01-01')
    // What a stateless request may retry with: 2026-07-28 alone (the others need a session).
    assert.deepEqual(future.error?.data?.supported, ['2026-07-28'])
    const bare = await post('tools/list', {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    })
    assert.deepEqual([bare.status, bare.error?.code], [400, -32602])
    const unknown = await post('foo/bar', statelessMeta())
    assert.deepEqual([unknown.status, unknown.error?.code], [404, -32601])
  })

  it('routes completions by prompt name', async () => {
    for (const backend of ['ev', 'web']) {
      const result = await client.complete({
        ref: { type: 'ref/prompt', name: `${backend}__completable-prompt` },
        argument: { name: 'department', value: 'S' },
      })
      assert.deepEqual(result.completion.values, ['Sales', 'Support'], backend)
    }
  })

  it('streams progress from stdio and HTTP backends', async () => {
    for (const name of [
      'ev__trigger-long-running-operation',
      'web__trigger-long-running-operation',
    ]) {
      const progress: number[] = []
      const result = await client.callTool(
        { name, arguments: { duration: 1, steps: 3 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      )
      assert.match(text(result), /completed/)
      assert.deepEqual(progress, [1, 2, 3], name)
    }
  })

  it('cancels a call on the backend when the client cancels it', async () => {
    const abort = new AbortController()
    const call = client.callTool(
      { name: 'web__trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
      undefined,
      { signal: abort.signal, onprogress: () => abort.abort() },
    )
    await assert.rejects(call, /abort/i)
    await gateway.sink.waitFor((events) =>
      events.some(
        (e) =>
          e.type === 'exchange' &&
          e.name === 'web__trigger-long-running-operation' &&
          e.outcome === 'cancelled' &&
          e.backend === 'web',
      ),
    )
    // A client's cancel says nothing about the backend: it stays up (it once was marked down).
    const ready = (await (await fetch(new URL('/readyz', gateway.url))).json()) as {
      backends: Array<{ name: string; state: string }>
    }
    assert.equal(ready.backends.find((b) => b.name === 'web')?.state, 'up')
    // The gateway still serves that backend for this session.
    assert.match(
      text(await client.callTool({ name: 'web__echo', arguments: { message: 'ok' } })),
      /ok/,
    )
  })

  it('relays sampling and elicitation round trips to the client that caused them', async () => {
    for (const backend of ['ev', 'web']) {
      const sampled = await client.callTool({
        name: `${backend}__trigger-sampling-request`,
        arguments: { prompt: 'ping', maxTokens: 5 },
      })
      assert.match(text(sampled), /sampled by main:.*ping/, backend)
      const elicited = await client.callTool({
        name: `${backend}__trigger-elicitation-request`,
        arguments: {},
      })
      assert.match(text(elicited), /decline/i, backend)
    }
  })

  it('keeps clients apart on one shared stdio process (ids, progress, sampling)', async () => {
    const a = await v1Client('A')
    const b = await v1Client('B')
    try {
      const progress: Record<string, number[]> = { A: [], B: [] }
      const call = (client: Client, label: string) =>
        client.callTool(
          { name: 'ev__trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
          undefined,
          { onprogress: (p) => progress[label]?.push(p.progress) },
        )
      const [ra, rb] = await Promise.all([call(a, 'A'), call(b, 'B')])
      assert.match(text(ra), /completed/)
      assert.match(text(rb), /completed/)
      assert.deepEqual(progress, { A: [1, 2], B: [1, 2] })
      for (const [client, label] of [
        [a, 'A'],
        [b, 'B'],
      ] as const) {
        const sampled = await client.callTool({
          name: 'ev__trigger-sampling-request',
          arguments: { prompt: label, maxTokens: 5 },
        })
        assert.match(text(sampled), new RegExp(`sampled by ${label}`))
      }
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('relays resource subscriptions: updates arrive with the namespaced URI', async () => {
    const updates: string[] = []
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updates.push(notification.params.uri)
    })
    const resource = (await client.listResources()).resources.find((r) =>
      r.uri.startsWith('demo://ev__'),
    )
    assert.ok(resource)
    await client.subscribeResource({ uri: resource.uri })
    // A stateless client listens for the same resource with subscriptions/listen.
    const listen = await openListenStream(gateway.url, 'l-1', {
      resourceSubscriptions: [resource.uri, 'demo://nobody__x'],
    })
    await client.callTool({ name: 'ev__toggle-subscriber-updates', arguments: {} })
    try {
      await until(() => (updates.includes(resource.uri) ? true : undefined), 12_000, 'update')
      const events = await listen.until((all) =>
        all.some((m) => m.method === 'notifications/resources/updated'),
      )
      const ack = events[0]?.params as { notifications?: object } | undefined
      assert.deepEqual(ack?.notifications, { resourceSubscriptions: [resource.uri] })
      const update = events.find((m) => m.method === 'notifications/resources/updated')
      assert.deepEqual(update?.params, {
        uri: resource.uri,
        _meta: { 'io.modelcontextprotocol/subscriptionId': 'l-1' },
      })
    } finally {
      listen.close()
      await client.callTool({ name: 'ev__toggle-subscriber-updates', arguments: {} })
      await client.unsubscribeResource({ uri: resource.uri })
    }
  })

  it('reports the backend that never starts without failing lists', async () => {
    const result = await client.callTool({ name: 'portico__backends', arguments: {} })
    const { backends } = result.structuredContent as {
      backends: Array<{ name: string; state: string; error?: string }>
    }
    const ghost = backends.find((b) => b.name === 'ghost')
    assert.ok(ghost && ghost.state !== 'up', JSON.stringify(ghost))
    // Said as the user would fix it, not as Node's `spawn … ENOENT`.
    assert.equal(
      ghost.error,
      `Backend ghost could not start: ${join(folder, 'no-such-binary')} does not exist`,
    )
    assert.ok(backends.filter((b) => b.name !== 'ghost').every((b) => b.state === 'up'))
    const ready = await fetch(new URL('/readyz', gateway.origin))
    assert.equal(ready.status, 200)
    const body = (await ready.json()) as { degraded: boolean }
    assert.equal(body.degraded, true)
  })

  it('names the backend in the events of calls and of answers to its requests', async () => {
    const own = await v1Client('events')
    const session = (own.transport as StreamableHTTPClientTransport).sessionId
    assert.ok(session)
    try {
      await own.callTool({ name: 'web__echo', arguments: { message: 'named' } })
      await own.callTool({ name: 'mem__read_graph', arguments: {} })
      await own.callTool({ name: 'ev__get-sum', arguments: { a: 1, b: 1 } })
      for (const backend of ['ev', 'web']) {
        await own.callTool({
          name: `${backend}__trigger-sampling-request`,
          arguments: { prompt: 'who asked', maxTokens: 5 },
        })
      }
    } finally {
      await own.close()
    }
    const mine = (events: PorticoEvent[]) =>
      events.filter((e): e is ExchangeEvent => e.type === 'exchange' && e.sessionId === session)
    await gateway.sink.waitFor(
      (events) => mine(events).filter((e) => e.kind === 'response').length === 2,
    )
    const seen = mine(gateway.sink.events)
    const backendOf = (name: string) =>
      seen.filter((e) => e.method === 'tools/call' && e.name === name).map((e) => e.backend)
    assert.deepEqual(backendOf('web__echo'), ['web'])
    assert.deepEqual(backendOf('mem__read_graph'), ['mem'])
    assert.deepEqual(backendOf('ev__get-sum'), ['ev'])
    assert.ok(seen.every((e) => e.kind !== 'request' || e.outcome === 'ok'))
    // The client's answers to sampling requests are recorded with the backend that asked.
    const answers = seen.filter((e) => e.kind === 'response').map((e) => e.backend)
    assert.deepEqual(answers.sort(), ['ev', 'web'])
  })

  it('redacts secrets in the config admin tool: env values, header values, bearer tokens, parameter defaults', async () => {
    const result = await client.callTool({ name: 'portico__config', arguments: {} })
    const config = result.structuredContent as {
      backends: Array<{ name: string; env: object; headers: object; bearer_token?: string }>
    }
    const mem = config.backends.find((b) => b.name === 'mem')
    assert.deepEqual(mem?.env, { MEMORY_FILE_PATH: '[redacted]' })
    const web = config.backends.find((b) => b.name === 'web')
    assert.deepEqual(web?.headers, { 'x-api-key': '[redacted]' })
    assert.equal(web?.bearer_token, '[redacted]')
    const shown = JSON.stringify(result)
    const paged = (config.backends as Array<{ name: string; param_overrides?: unknown }>).find(
      (b) => b.name === 'paged',
    )
    assert.deepEqual(paged?.param_overrides, [
      {
        tool: 'gamma',
        hide: ['password'],
        rename: { query: 'q' },
        defaults: { password: '[redacted]' },
      },
    ])
    for (const secret of [
      'header-secret-value',
      'bearer-secret-value',
      'memory.jsonl',
      'from-config',
    ]) {
      assert.ok(!shown.includes(secret), `${secret} shown by portico__config`)
    }
  })
})

describe('gateway with SDK v2 client', () => {
  it("a requestState resumes only the call it was given for, not another tool's", async () => {
    const call = async (id: number, name: string, extra: Record<string, unknown> = {}) => {
      const params = { name, arguments: { prompt: 'bound', maxTokens: 5 } }
      const { answer } = await postStateless({
        id,
        method: 'tools/call',
        params: { ...params, _meta: statelessMeta({ sampling: {} }), ...extra },
      })
      return answer
    }
    const first = await call(1, 'ev__trigger-sampling-request')
    assert.equal(first.result?.resultType, 'input_required')
    const state = first.result?.requestState as string
    const key = Object.keys(first.result?.inputRequests ?? {})[0] as string
    const answer = {
      requestState: state,
      inputResponses: {
        [key]: { role: 'assistant', model: 'm', content: { type: 'text', text: 'bound answer' } },
      },
    }
    // Another tool presenting the token is refused, and the parked call is left alone.
    const other = await call(2, 'ev__echo', answer)
    assert.equal(other.error?.code, -32602)
    assert.match(other.error?.message ?? '', /requestState belongs to another request/)
    // Nor may another client (without [auth]: another address) answer it for its caller.
    const elsewhere = await postStatelessFrom('127.0.0.2', {
      id: 4,
      method: 'tools/call',
      params: {
        name: 'ev__trigger-sampling-request',
        arguments: { prompt: 'bound', maxTokens: 5 },
        _meta: statelessMeta({ sampling: {} }),
        ...answer,
      },
    })
    assert.equal(elsewhere.error?.code, -32602)
    assert.match(elsewhere.error?.message ?? '', /requestState belongs to another request/)
    const retry = await call(3, 'ev__trigger-sampling-request', answer)
    assert.match(JSON.stringify(retry.result), /bound answer/)
  })

  it('refuses a stateless request without its standard headers (400, -32020), and initialize (404)', async () => {
    const send = async (message: Record<string, unknown>, drop: string) => {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
        ...modernHeadersOf(message),
      }
      delete headers[drop]
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', ...message }),
      })
      const answer = (await response.json()) as StatelessAnswer
      return [response.status, answer.id, answer.error?.code, answer.error?.message]
    }
    const list = { id: 'h1', method: 'tools/list', params: { _meta: statelessMeta() } }
    assert.deepEqual(await send(list, 'mcp-protocol-version'), [
      400,
      'h1',
      -32020,
      'Header mismatch: the required MCP-Protocol-Version header is absent',
    ])
    assert.deepEqual(await send(list, 'mcp-method'), [
      400,
      'h1',
      -32020,
      'Header mismatch: the required Mcp-Method header is absent',
    ])
    const call = {
      id: 'h2',
      method: 'tools/call',
      params: { name: 'ev__echo', arguments: { message: 'x' }, _meta: statelessMeta() },
    }
    assert.deepEqual(await send(call, 'mcp-name'), [
      400,
      'h2',
      -32020,
      'Header mismatch: the required Mcp-Name header is absent',
    ])
    assert.equal((await send(call, 'none'))[0], 200)
    // 2026-07-28 removed initialize: in that revision's envelope it is an unknown method.
    const initialize = {
      id: 'h3',
      method: 'initialize',
      params: {
        protocolVersion: '2026-07-28',
        capabilities: {},
        clientInfo: { name: 'c', version: '1' },
        _meta: statelessMeta(),
      },
    }
    assert.deepEqual((await send(initialize, 'none')).slice(0, 3), [404, 'h3', -32601])
  })

  it('refuses the methods 2026-07-28 removed, as unknown: none reaches the shared session', async () => {
    const removed: Array<[string, Record<string, unknown>]> = [
      ['ping', {}],
      ['logging/setLevel', { level: 'emergency' }],
      ['resources/subscribe', { uri: 'test://ev__static/resource/1' }],
      ['resources/unsubscribe', { uri: 'test://ev__static/resource/1' }],
    ]
    for (const [n, [method, params]] of removed.entries()) {
      const { status, answer } = await postStateless({
        id: 100 + n,
        method,
        params: { ...params, _meta: statelessMeta() },
      })
      assert.equal(status, 404, method)
      assert.equal(answer.error?.code, -32601, method)
      assert.equal(answer.id, 100 + n)
    }
    // A legacy ping without a session is still answered (MCP: at any time).
    const legacy = await fetch(gateway.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'ping' }),
    })
    assert.equal(legacy.status, 200)
    assert.deepEqual(await legacy.json(), { jsonrpc: '2.0', id: 'p', result: {} })
  })

  it('serves a 2026-07-28 request statelessly whatever Mcp-Session-Id it carries', async () => {
    // A live legacy session whose client could answer sampling, and a session id never issued:
    // the stateless request is not served on either (the header is ignored), so the backend's
    // sampling request comes back as input_required, not pushed to a session's stream.
    const legacy = new StreamableHTTPClientTransport(new URL(gateway.url))
    const other = new Client({ name: 'session-holder', version: '1.0.0' }, { capabilities: {} })
    await other.connect(legacy)
    try {
      for (const [n, session] of [legacy.sessionId ?? 'none', 'never-issued'].entries()) {
        const call = (id: number, extra: Record<string, unknown> = {}) =>
          postStateless(
            {
              id,
              method: 'tools/call',
              params: {
                name: 'ev__trigger-sampling-request',
                arguments: { prompt: 'stateless', maxTokens: 5 },
                _meta: statelessMeta({ sampling: {} }),
                ...extra,
              },
            },
            { 'mcp-session-id': session },
          )
        const { status, answer } = await call(10 + 2 * n)
        assert.equal(status, 200, `${session}: ${JSON.stringify(answer)}`)
        assert.equal(answer.result?.resultType, 'input_required', JSON.stringify(answer))
        // Answered, so the parked backend call ends here (the process is shared).
        const key = Object.keys(answer.result?.inputRequests ?? {})[0] as string
        const sampled = { role: 'assistant', model: 'm', content: { type: 'text', text: 'ok' } }
        const retry = await call(11 + 2 * n, {
          requestState: answer.result?.requestState,
          inputResponses: { [key]: sampled },
        })
        assert.match(JSON.stringify(retry.answer.result), /ok/, JSON.stringify(retry.answer))
      }
    } finally {
      await other.close()
    }
  })

  it("a backend request while several clients' calls share a process reaches none of them", async () => {
    // X: a stateless call parked on its sampling request (input_required, not answered yet).
    const stateless = async (id: number, extra: Record<string, unknown> = {}) => {
      const params = { name: 'ev__trigger-sampling-request', arguments: { prompt: 'X secret' } }
      const { answer } = await postStateless({
        id,
        method: 'tools/call',
        params: { ...params, _meta: statelessMeta({ sampling: {} }), ...extra },
      })
      return answer
    }
    const first = await stateless(1)
    assert.equal(first.result?.resultType, 'input_required')
    // Y: a legacy session without sampling calls the same tool on the same (shared) process.
    const other = new Client({ name: 'no-sampling', version: '1.0.0' })
    await other.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      const outcome = await other
        .callTool({ name: 'ev__trigger-sampling-request', arguments: { prompt: 'Y private' } })
        .then(
          (result) => JSON.stringify(result),
          (error: Error) => error.message,
        )
      // Y's sampling request is refused (not handed to X, nor left to time out: that would
      // be another message, and 20 s later).
      assert.match(outcome, /several clients/)
      const key = Object.keys(first.result?.inputRequests ?? {})[0] as string
      const answer = { role: 'assistant', model: 'm', content: { type: 'text', text: 'X answer' } }
      const retry = await stateless(2, {
        requestState: first.result?.requestState,
        inputResponses: { [key]: answer },
      })
      assert.notEqual(retry.result?.resultType, 'input_required', JSON.stringify(retry))
      assert.match(JSON.stringify(retry.result), /X answer/)
      assert.doesNotMatch(JSON.stringify(retry.result), /Y private/)
    } finally {
      await other.close()
    }
  })

  it('bridges sampling and elicitation to a 2026-07-28 client as input_required rounds', async () => {
    const wire = recordingFetch()
    const client = new ClientV2(
      { name: 'gateway-v2-input', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' }, capabilities: { sampling: {}, elicitation: {} } },
    )
    client.setRequestHandler('sampling/createMessage', async () => ({
      role: 'assistant',
      model: 'test-model',
      content: { type: 'text', text: 'sampled by v2' },
    }))
    client.setRequestHandler('elicitation/create', async () => ({ action: 'decline' }))
    await client.connect(new TransportV2(new URL(gateway.url), { fetch: wire.fetch }))
    const tools: string[] = []
    try {
      for (const backend of ['ev', 'web']) {
        const sampled = await client.callTool({
          name: `${backend}__trigger-sampling-request`,
          arguments: { prompt: 'modern', maxTokens: 5 },
        })
        assert.match(text(sampled), /sampled by v2/, backend)
        const elicited = await client.callTool({
          name: `${backend}__trigger-elicitation-request`,
          arguments: {},
        })
        assert.match(text(elicited), /decline/i, backend)
        tools.push(
          `${backend}__trigger-sampling-request`,
          `${backend}__trigger-elicitation-request`,
        )
      }
    } finally {
      await client.close()
    }
    // On the wire, each call took two rounds: an input_required result carrying the backend's
    // request, then the retry answering it with the requestState it was given.
    const calls = (await wire.settled()).filter((e) => e.request.method === 'tools/call')
    for (const tool of tools) {
      const rounds = calls.filter((e) => e.request.params?.name === tool)
      assert.equal(rounds.length, 2, `${tool}: ${JSON.stringify(rounds)}`)
      const [first, retry] = rounds as [WireExchange, WireExchange]
      assert.equal(first.response?.result?.resultType, 'input_required', tool)
      const asked = Object.values(first.response?.result?.inputRequests ?? {}) as Array<{
        method: string
      }>
      assert.deepEqual(
        asked.map((r) => r.method),
        [tool.endsWith('sampling-request') ? 'sampling/createMessage' : 'elicitation/create'],
      )
      const state = first.response?.result?.requestState
      assert.ok(typeof state === 'string' && state !== '', tool)
      assert.equal(retry.request.params?.requestState, state, tool)
      assert.ok(retry.request.params?.inputResponses, `${tool}: the retry answers the request`)
      assert.notEqual(retry.response?.result?.resultType, 'input_required', tool)
    }
    // Portico recorded both rounds of each call, in the modern era.
    await gateway.sink.waitFor(
      (events) =>
        events.filter(
          (e) =>
            e.type === 'exchange' &&
            e.method === 'tools/call' &&
            e.client?.name === 'gateway-v2-input',
        ).length ===
        2 * tools.length,
    )
    const recorded = gateway.sink.exchanges().filter((e) => e.client?.name === 'gateway-v2-input')
    for (const tool of tools) {
      const rounds = recorded.filter((e) => e.method === 'tools/call' && e.name === tool)
      assert.deepEqual(
        rounds.map((e) => [e.era, e.outcome]),
        [
          ['modern', 'ok'],
          ['modern', 'ok'],
        ],
        tool,
      )
    }
  })

  for (const mode of ['auto', 'legacy'] as const) {
    const name = `gateway-v2-${mode}`
    it(`lists and calls in the ${mode === 'auto' ? '2026-07-28 (stateless)' : 'legacy'} era`, async () => {
      const client = new ClientV2({ name, version: '1.0.0' }, { versionNegotiation: { mode } })
      await client.connect(new TransportV2(new URL(gateway.url)))
      try {
        const tools = await client.listTools()
        assert.ok(tools.tools.some((t) => t.name === 'web__echo'))
        const sum = await client.callTool({ name: 'ev__get-sum', arguments: { a: 2, b: 3 } })
        assert.match(text(sum), /sum of 2 and 100/)
        const progress: number[] = []
        await client.callTool(
          { name: 'web__trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
          { onprogress: (p) => progress.push(p.progress) },
        )
        assert.deepEqual(progress, [1, 2])
      } finally {
        await client.close()
      }
      // What Portico saw: how this client connected, and the era of each of its exchanges.
      const ofClient = (events: PorticoEvent[]) => {
        const exchanges = events.filter((e): e is ExchangeEvent => e.type === 'exchange')
        const opened = exchanges.find((e) => e.client?.name === name)
        // A legacy session names its client once (initialize); later requests carry its id.
        const session = opened?.method === 'initialize' ? opened.sessionId : undefined
        return exchanges.filter(
          (e) => e.client?.name === name || (session !== undefined && e.sessionId === session),
        )
      }
      await gateway.sink.waitFor((events) =>
        ofClient(events).some((e) => e.name === 'web__trigger-long-running-operation'),
      )
      const seen = ofClient(gateway.sink.events)
      const methods = [...new Set(seen.map((e) => e.method))]
      if (mode === 'auto') {
        assert.deepEqual(methods, ['server/discover', 'tools/list', 'tools/call'])
        assert.ok(
          seen.every((e) => e.era === 'modern' && e.sessionId === undefined),
          JSON.stringify(seen),
        )
      } else {
        assert.deepEqual(methods, [
          'initialize',
          'notifications/initialized',
          'tools/list',
          'tools/call',
        ])
        assert.ok(
          seen.every((e) => e.era === 'legacy' && e.sessionId !== undefined),
          JSON.stringify(seen),
        )
      }
    })
  }
})
