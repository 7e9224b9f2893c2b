/**
 * Authorization in gateway mode, end to end: the SDK v2 client with API keys in front of real
 * backends (server-everything over stdio, the probe over HTTP). Roles allow and deny tools,
 * resources and prompts by glob and lists are filtered per identity; Portico's admin tools need
 * an admin credential; mcp-proxy's scoped tokens; `forward_auth` really forwards the client's
 * token while the identity headers reach every HTTP backend; sessions stay with their creator;
 * arguments are checked for size and against the tool's inputSchema. Refusals are recorded
 * with the caller.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import { type Served, serveSdkStateless } from '../fixtures/serve.ts'
import { serverBin } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'

const ADMIN_TOKEN = 'admin-secret-0123456789'

/** The reference server, as the `everything` backend over stdio. */
const EVERYTHING = {
  name: 'everything',
  transport: 'stdio' as const,
  command: process.execPath,
  args: [serverBin('everything'), 'stdio'],
}

async function connect(url: string, key: string): Promise<ClientV2> {
  const client = new ClientV2({ name: `client-${key}`, version: '1.0.0' })
  await client.connect(new TransportV2(new URL(url), { authProvider: { token: async () => key } }))
  return client
}

function text(result: { content?: unknown }): string {
  return ((result.content ?? []) as Array<{ text?: string }>)[0]?.text ?? ''
}

describe('authorization in gateway mode (API keys, roles, admin, forward_auth)', () => {
  let probe: Served
  let gateway: RunningPortico
  let alice: ClientV2

  before(async () => {
    probe = await startProbeHttp()
    gateway = await startPortico({
      backends: [
        EVERYTHING,
        {
          name: 'probe',
          transport: 'http',
          url: probe.url,
          forward_auth: true,
          aliases: [{ from: 'env', to: 'environment' }],
        },
      ],
      composite_tools: [
        {
          name: 'echo_and_sum',
          description: 'a member alice may call and one she may not',
          tools: ['everything__echo', 'everything__get-sum'],
        },
        { name: 'not_for_alice', description: 'not in her role', tools: ['everything__echo'] },
      ],
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789', roles: ['reader'] },
          { name: 'root', key: 'root-key-0123456789', admin: true },
        ],
        scoped_tokens: [
          { token: 'ci-token', name: 'ci', deny_tools: ['everything__*', 'probe__environment'] },
          // Denies the aliased tool by its original name, which still routes.
          { token: 'env-token', name: 'no-env', deny_tools: ['probe__env'] },
        ],
        profiles: [{ name: 'readonly', allow_tools: ['probe__*'], deny_prompts: ['*'] }],
        roles: [
          {
            name: 'reader',
            allow_tools: ['everything__echo', 'probe__headers', 'echo_and_sum'],
            deny_prompts: ['probe__internal-*'],
            deny_resources: ['probe://probe__secret/*'],
          },
        ],
      },
      security: { admin_token: ADMIN_TOKEN, max_argument_size: 200, validate_arguments: true },
    })
    alice = await connect(gateway.url, 'alice-key-0123456789')
  })
  after(async () => {
    await alice?.close()
    await gateway?.close()
    await probe?.close()
  })

  it('lists only what the role allows, and never the admin tools', async () => {
    const tools = (await alice.listTools()).tools.map((t) => t.name).sort()
    assert.deepEqual(tools, ['echo_and_sum', 'everything__echo', 'probe__headers'])
    const prompts = (await alice.listPrompts()).prompts.map((p) => p.name)
    assert.ok(prompts.includes('probe__greet'))
    assert.ok(!prompts.includes('probe__internal-debug'))
    const resources = (await alice.listResources()).resources.map((r) => r.uri)
    assert.ok(resources.includes('probe://probe__public/readme'))
    assert.ok(!resources.some((uri) => uri.includes('secret')))
  })

  it('refuses a 2026-07-28 listen asking updates of a denied resource', async () => {
    // Before: acknowledged, the backend subscribed on alice's behalf, and its updates sent.
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    }
    const answer = await rpc(
      gateway.url,
      request(9, 'subscriptions/listen', {
        notifications: { resourceSubscriptions: ['probe://probe__secret/key'] },
        _meta: meta,
      }),
      {
        ...bearer('alice-key-0123456789'),
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'subscriptions/listen',
      },
    )
    assert.equal(answer.status, 403)
    assert.equal(answer.message?.id, 9)
    assert.match(answer.message?.error?.message ?? '', /may not subscribe to resource/)
  })

  it('calls what is allowed; a denied call is refused and the session goes on', async () => {
    assert.match(
      text(await alice.callTool({ name: 'everything__echo', arguments: { message: 'hi' } })),
      /hi/,
    )
    await assert.rejects(
      alice.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } }),
      /403|Forbidden/,
    )
    await assert.rejects(alice.readResource({ uri: 'probe://probe__secret/key' }), /403|Forbidden/)
    // Other spellings of it: the backend reads them as probe://secret/key.
    for (const uri of [
      'probe://probe__u:p@secret/key',
      'probe://probe__SECRET/key',
      'probe://probe__secret/key?x',
      'probe://probe__secret/./key#x',
    ]) {
      await assert.rejects(alice.readResource({ uri }), /403|Forbidden/, uri)
    }
    await assert.rejects(alice.getPrompt({ name: 'probe__internal-debug' }), /403|Forbidden/)
    assert.match(
      text(await alice.callTool({ name: 'everything__echo', arguments: { message: 'again' } })),
      /again/,
    )
    await gateway.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'everything__get-sum'),
    )
    const denied = gateway.sink
      .exchanges()
      .find((e) => e.name === 'everything__get-sum') as ExchangeEvent
    assert.equal(denied.reason, 'forbidden')
    assert.equal(denied.subject, 'alice')
    assert.equal(denied.httpStatus, 403)
  })

  it("a composite tool's members are authorized one by one, as direct calls", async () => {
    const result = await alice.callTool({
      name: 'echo_and_sum',
      arguments: { message: 'both', a: 1, b: 2 },
    })
    assert.equal(result.isError, true)
    const texts = (result.content as Array<{ text: string }>).map((item) => item.text)
    assert.equal(texts.length, 2)
    assert.match(texts[0] ?? '', /both/)
    assert.match(
      texts[1] ?? '',
      /^Error from everything__get-sum: .*(denied|forbidden|not allowed)/i,
    )
    // The composite itself is judged by its own name, like any tool.
    await assert.rejects(
      alice.callTool({ name: 'not_for_alice', arguments: { message: 'x' } }),
      /403|Forbidden/,
    )
  })

  it("HTTP backends get the verified identity; forward_auth never sends Portico's own keys", async () => {
    const seen = JSON.parse(text(await alice.callTool({ name: 'probe__headers', arguments: {} })))
    assert.equal(seen['x-user-id'], 'alice')
    // An API key is Portico's credential, not one the backend could verify: not forwarded
    // (forward_auth passes on tokens an authorization server issued: auth-bypass.test.ts).
    assert.equal(seen.authorization, undefined)
    // Nor the admin token, with which a backend could reconfigure Portico.
    const admin = await connect(gateway.url, ADMIN_TOKEN)
    const adminSeen = JSON.parse(
      text(await admin.callTool({ name: 'probe__headers', arguments: {} })),
    )
    assert.equal(adminSeen.authorization, undefined)
    await admin.close()
  })

  it('admin tools need an admin credential', async () => {
    await assert.rejects(
      alice.callTool({ name: 'portico__config', arguments: {} }),
      /403|Forbidden/,
    )
    for (const key of ['root-key-0123456789', ADMIN_TOKEN]) {
      const admin = await connect(gateway.url, key)
      const names = (await admin.listTools()).tools.map((t) => t.name)
      assert.ok(names.includes('portico__config'), key)
      const config = text(await admin.callTool({ name: 'portico__config', arguments: {} }))
      assert.ok(
        !config.includes('alice-key-0123456789') && !config.includes(ADMIN_TOKEN),
        'no secret shown',
      )
      await admin.close()
    }
  })

  it("mcp-proxy's scoped tokens deny by tool", async () => {
    const ci = await connect(gateway.url, 'ci-token')
    // Composites are tools of their own names (the deny list names none of them).
    const composites = ['echo_and_sum', 'not_for_alice']
    const names = (await ci.listTools()).tools
      .map((t) => t.name)
      .filter((n) => !composites.includes(n))
    assert.ok(names.length > 0 && names.every((n) => n.startsWith('probe__')), names.join())
    await assert.rejects(
      ci.callTool({ name: 'everything__echo', arguments: { message: 'x' } }),
      /403|Forbidden/,
    )
    // A denied alias stays denied under the tool's original name, which still routes.
    assert.ok(!names.includes('probe__environment') && !names.includes('probe__env'))
    for (const name of ['probe__environment', 'probe__env']) {
      await assert.rejects(ci.callTool({ name, arguments: {} }), /403|Forbidden/, name)
    }
    assert.ok(text(await ci.callTool({ name: 'probe__cwd', arguments: {} })).length > 0)
    await ci.close()
    // And the other way round: a deny of the original name holds under the alias.
    const noEnv = await connect(gateway.url, 'env-token')
    for (const name of ['probe__environment', 'probe__env']) {
      await assert.rejects(noEnv.callTool({ name, arguments: {} }), /403|Forbidden/, name)
    }
    assert.ok(text(await noEnv.callTool({ name: 'probe__cwd', arguments: {} })).length > 0)
    await noEnv.close()
  })

  it('arguments over max_argument_size or against the inputSchema are invalid params', async () => {
    await assert.rejects(
      alice.callTool({ name: 'everything__echo', arguments: { message: 'x'.repeat(300) } }),
      /maximum size: \d+ bytes \(limit: 200 bytes\)/,
    )
    await assert.rejects(
      alice.callTool({ name: 'everything__echo', arguments: { message: 42 } }),
      /do not match its inputSchema/,
    )
    await gateway.sink.waitFor(
      (events) =>
        events.filter((e) => e.type === 'exchange' && e.reason === 'invalid_params').length >= 2,
    )
    const invalid = gateway.sink.exchanges().filter((e) => e.reason === 'invalid_params')
    assert.ok(invalid.every((e) => e.subject === 'alice' && e.httpStatus === 200))
  })

  it('a gateway session cannot be used by another identity', async () => {
    const init = await rpc(
      gateway.url,
      request(0, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      }),
      bearer('alice-key-0123456789'),
    )
    const id = init.headers.get('mcp-session-id') ?? ''
    const stolen = await rpc(gateway.url, request(1, 'tools/list'), {
      ...bearer('root-key-0123456789'),
      'mcp-session-id': id,
    })
    assert.equal(stolen.status, 403)
    const own = await rpc(gateway.url, request(1, 'tools/list'), {
      ...bearer('alice-key-0123456789'),
      'mcp-session-id': id,
    })
    assert.equal(own.status, 200)
  })

  it('a URL-path profile (/mcp/{name}) narrows what any caller sees, admins included', async () => {
    const scoped = new ClientV2({ name: 'profile-client', version: '1.0.0' })
    await scoped.connect(
      new TransportV2(new URL(`${gateway.url}/readonly`), {
        authProvider: { token: async () => 'root-key-0123456789' },
      }),
    )
    const names = (await scoped.listTools()).tools.map((t) => t.name)
    assert.ok(names.length > 0 && names.every((n) => n.startsWith('probe__')), names.join())
    await assert.rejects(
      scoped.callTool({ name: 'everything__echo', arguments: { message: 'x' } }),
      /403|Forbidden/,
    )
    assert.deepEqual((await scoped.listPrompts()).prompts, [])
    assert.match(text(await scoped.callTool({ name: 'probe__headers', arguments: {} })), /root/)
    await scoped.close()
    const unknown = await rpc(
      `${gateway.url}/nope`,
      request(1, 'tools/list'),
      bearer('root-key-0123456789'),
    )
    assert.equal(unknown.status, 404, 'only configured profiles are served')
  })
})

describe('tool discovery under roles: a caller finds only what it may call', () => {
  let gateway: RunningPortico
  let alice: ClientV2

  before(async () => {
    gateway = await startPortico({
      backends: [EVERYTHING],
      proxy: { tool_discovery: true },
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789', roles: ['reader'] },
          { name: 'root', key: 'root-key-0123456789', admin: true },
        ],
        roles: [{ name: 'reader', allow_tools: ['everything__echo'] }],
      },
    })
    alice = await connect(gateway.url, 'alice-key-0123456789')
  })
  after(async () => {
    await alice?.close()
    await gateway?.close()
  })

  const search = async (client: ClientV2, name: string, args: Record<string, unknown>) =>
    JSON.parse(text(await client.callTool({ name: `portico__${name}`, arguments: args })))

  it('search_tools, similar_tools and tool_categories leave out the tools a role denies', async () => {
    const hits = (await search(alice, 'search_tools', {
      query: 'echo sum add',
      top_k: 50,
    })) as Array<{
      id: string
    }>
    assert.deepEqual(
      hits.map((h) => h.id),
      ['everything__echo'],
    )
    const similar = (await search(alice, 'similar_tools', {
      tool_id: 'everything__echo',
    })) as Array<{
      id: string
    }>
    assert.deepEqual(similar, [])
    // A denied tool is as unknown to her as one that does not exist.
    const probing = await alice
      .callTool({ name: 'portico__similar_tools', arguments: { tool_id: 'everything__get-sum' } })
      .catch((error: unknown) => error)
    assert.match(String(probing), /Unknown tool: everything__get-sum/)
    const categories = await search(alice, 'tool_categories', {})
    assert.deepEqual(categories.categories, [
      { name: 'everything', tool_count: 1, tools: ['everything__echo'] },
    ])
    // An admin still finds every tool.
    const root = await connect(gateway.url, 'root-key-0123456789')
    const all = (await search(root, 'search_tools', {
      query: 'echo sum add',
      top_k: 50,
    })) as Array<{
      id: string
    }>
    assert.ok(
      all.some((h) => h.id === 'everything__get-sum'),
      JSON.stringify(all),
    )
    await root.close()
  })
})

describe('tool discovery per caller: each searches the list its backends give it', () => {
  let notes: Served
  let gateway: RunningPortico

  before(async () => {
    // A backend that lists each user a tool of their own (it is told who calls: x-user-id).
    notes = await serveSdkStateless((req) => {
      const user = String(req.headers['x-user-id'] ?? 'nobody')
      const server = new McpServer({ name: 'notes', version: '1.0.0' })
      server.registerTool(`notes_${user}`, { description: `private notes of ${user}` }, () => ({
        content: [{ type: 'text' as const, text: user }],
      }))
      return server
    })
    gateway = await startPortico({
      backends: [{ name: 'h', transport: 'http', url: notes.url }],
      proxy: { tool_discovery: true },
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'bob', key: 'bob-key-0123456789ab' },
        ],
      },
      security: { admin_token: ADMIN_TOKEN },
    })
  })
  after(async () => {
    await gateway?.close()
    await notes?.close()
  })

  it("one caller's private tools never show in another's search, and a huge query is refused", async () => {
    const search = async (client: ClientV2, name: string, args: Record<string, unknown>) =>
      JSON.parse(text(await client.callTool({ name: `portico__${name}`, arguments: args })))
    const alice = await connect(gateway.url, 'alice-key-0123456789')
    const bob = await connect(gateway.url, 'bob-key-0123456789ab')
    try {
      // Alice searches first: her index must not answer Bob.
      const hers = (await search(alice, 'search_tools', { query: 'private notes' })) as Array<{
        id: string
      }>
      assert.deepEqual(
        hers.map((h) => h.id),
        ['h__notes_alice'],
      )
      const his = (await search(bob, 'search_tools', { query: 'private notes' })) as Array<{
        id: string
      }>
      assert.deepEqual(
        his.map((h) => h.id),
        ['h__notes_bob'],
      )
      const categories = await search(bob, 'tool_categories', {})
      assert.deepEqual(categories.categories, [
        { name: 'h', tool_count: 1, tools: ['h__notes_bob'] },
      ])
      const huge = await bob
        .callTool({ name: 'portico__search_tools', arguments: { query: 'word '.repeat(1000) } })
        .catch((error: unknown) => error)
      assert.match(String(huge), /"query" is at most 1000 characters \(it has 5000\)/)
    } finally {
      await alice.close()
      await bob.close()
    }
  })
})
