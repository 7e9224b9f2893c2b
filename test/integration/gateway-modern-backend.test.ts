/**
 * A gateway backend reached in 2026-07-28, its own revision: the v2 SDK's `createMcpHandler`
 * (both eras, and the strict 2026-07-28-only mode) behind a real gateway, with a v1 SDK client
 * on a 2025-11-25 session and raw stateless 2026-07-28 requests in front. The backend's
 * `input_required` answers reach a session's client as elicitation requests and a stateless
 * client as they are; its list changes come over one `subscriptions/listen` stream.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  ElicitRequestSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { startElicitServer } from '../fixtures/elicit-server.ts'
import { type ModernServer, startModernServer } from '../fixtures/modern-server.ts'
import { statelessRequest } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const MODERN = '2026-07-28'

/** A stateless request from a client that declared elicitation. */
function stateless(url: string, method: string, params: Record<string, unknown>) {
  return statelessRequest(url, method, params, { capabilities: { elicitation: { form: {} } } })
}

async function sessionClient(url: string, confirm?: boolean): Promise<Client> {
  const capabilities = confirm === undefined ? {} : { elicitation: {} }
  const client = new Client({ name: 'session-client', version: '1.0.0' }, { capabilities })
  if (confirm !== undefined) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      assert.match(String(request.params.message), /Deploy to prod\?/)
      return { action: 'accept', content: { confirm } }
    })
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content
  return content?.[0]?.text ?? ''
}

describe('a 2026-07-28 backend behind the gateway', () => {
  let backend: ModernServer
  let gateway: RunningPortico

  before(async () => {
    backend = await startModernServer()
    gateway = await startPortico({
      admin: { enabled: true },
      backends: [{ name: 'm', transport: 'http', url: backend.url }],
    })
  })
  after(async () => {
    await gateway?.close()
    await backend?.close()
  })

  it('is reached in its own revision: discover, never initialize, the mirrored headers', async () => {
    const client = await sessionClient(gateway.url)
    try {
      const tools = await client.listTools()
      const names = tools.tools.map((tool) => tool.name).filter((name) => name.startsWith('m__'))
      assert.deepEqual(names.sort(), ['m__deploy', 'm__echo'])
      const result = await client.callTool({ name: 'm__echo', arguments: { text: 'hi' } })
      assert.equal(textOf(result), 'echo: hi')
    } finally {
      await client.close()
    }
    const posted = backend.seen.filter((seen) => seen.httpMethod === 'POST')
    assert.ok(
      posted.every((seen) => seen.body?.method !== 'initialize'),
      'no initialize was sent',
    )
    assert.equal(posted[0]?.body?.method, 'server/discover')
    const call = posted.find((seen) => seen.body?.method === 'tools/call')
    assert.equal(call?.headers['mcp-protocol-version'], MODERN)
    assert.equal(call?.headers['mcp-method'], 'tools/call')
    assert.equal(call?.headers['mcp-name'], 'echo')
    const meta = call?.body?.params?._meta as Record<string, unknown>
    assert.equal(meta['io.modelcontextprotocol/protocolVersion'], MODERN)
    assert.deepEqual(meta['io.modelcontextprotocol/clientInfo'], {
      name: 'session-client',
      version: '1.0.0',
    })
    assert.ok(
      backend.seen.every((seen) => seen.httpMethod === 'POST'),
      'no GET stream, no DELETE: the revision has no sessions',
    )
    // Operators see which revision each backend is reached in.
    const health = await fetch(`${gateway.origin}/admin/backends/m/health`)
    assert.equal(((await health.json()) as { protocol_version?: string }).protocol_version, MODERN)
  })

  it("answers a session without the 2026-07-28 members, and never names the backend's software", async () => {
    const client = await sessionClient(gateway.url)
    try {
      const result = await client.callTool({ name: 'm__echo', arguments: { text: 'hi' } })
      assert.equal(textOf(result), 'echo: hi')
      // Before (N8-01): `resultType`, and `_meta` naming the backend's serverInfo
      // (modern-fixture 2.0.0) where the session's initialize had named the gateway.
      assert.equal((result as Record<string, unknown>).resultType, undefined)
      assert.doesNotMatch(JSON.stringify(result), /modern-fixture|serverInfo/)
    } finally {
      await client.close()
    }
  })

  it("asks a session's client for the input the backend needs, and retries with it", async () => {
    const client = await sessionClient(gateway.url, true)
    try {
      const result = await client.callTool({ name: 'm__deploy', arguments: { env: 'prod' } })
      assert.equal(textOf(result), 'deployed to prod')
    } finally {
      await client.close()
    }
    const calls = backend.seen.filter(
      (seen) => seen.body?.method === 'tools/call' && seen.body.params?.name === 'deploy',
    )
    const retry = calls.at(-1)?.body?.params
    assert.deepEqual(retry?.inputResponses, {
      confirm: { action: 'accept', content: { confirm: true } },
    })
  })

  it("a session's client that declines gets the backend's own answer to that", async () => {
    const client = await sessionClient(gateway.url, false)
    try {
      // The fixture asks again while the answer is not a confirmation: after the gateway's
      // rounds run out, the call fails with a message that says so.
      await assert.rejects(
        client.callTool({ name: 'm__deploy', arguments: { env: 'prod' } }),
        /still asked for input after 16 rounds/,
      )
    } finally {
      await client.close()
    }
  })

  it('refuses the call of a client that cannot answer, naming the capability', async () => {
    const client = await sessionClient(gateway.url)
    try {
      const answer = await client.callTool({ name: 'm__deploy', arguments: { env: 'prod' } }).then(
        (result) => JSON.stringify(result),
        (error: Error) => error.message,
      )
      // The backend itself refuses (-32021) a call whose client declared no elicitation, or
      // asks and the gateway refuses: either way the client is told, not left waiting.
      assert.match(answer, /elicitation/i)
    } finally {
      await client.close()
    }
  })

  it("passes input_required to a stateless client, whose retry carries the backend's state", async () => {
    const first = await stateless(gateway.url, 'tools/call', {
      name: 'm__deploy',
      arguments: { env: 'qa' },
    })
    assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
    assert.equal(
      first.result?.inputRequests?.confirm?.method,
      'elicitation/create',
      JSON.stringify(first),
    )
    const state = first.result?.requestState
    assert.ok(state === undefined || !state.startsWith('portico-'), "the backend's own state")
    const retry = await stateless(gateway.url, 'tools/call', {
      name: 'm__deploy',
      arguments: { env: 'qa' },
      inputResponses: { confirm: { action: 'accept', content: { confirm: true } } },
      ...(state === undefined ? {} : { requestState: state }),
    })
    assert.equal(retry.result?.content?.[0]?.text, 'deployed to qa')
  })

  it("tells sessions of the backend's list changes, from its listen stream", async () => {
    const client = await sessionClient(gateway.url)
    let changed = 0
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++
    })
    try {
      await client.listTools()
      await until(() => backend.seen.some((seen) => seen.body?.method === 'subscriptions/listen'))
      backend.toolsChanged()
      await until(() => changed > 0)
      const listen = backend.seen.find((seen) => seen.body?.method === 'subscriptions/listen')
      const asked = (listen?.body?.params?.notifications ?? {}) as Record<string, unknown>
      assert.equal(asked.toolsListChanged, true)
    } finally {
      await client.close()
    }
  })
})

describe('the revision a gateway backend is reached in', () => {
  it('a 2026-07-28-only server works with protocol_version left at auto', async () => {
    const backend = await startModernServer({ legacy: 'reject' })
    const gateway = await startPortico({
      backends: [{ name: 'm', transport: 'http', url: backend.url }],
    })
    try {
      const answer = await stateless(gateway.url, 'tools/call', {
        name: 'm__echo',
        arguments: { text: 'strict' },
      })
      assert.equal(answer.result?.content?.[0]?.text, 'echo: strict')
    } finally {
      await gateway.close()
      await backend.close()
    }
  })

  it('a 2025 server is given sessions after it refuses server/discover', async () => {
    const backend = await startElicitServer()
    const gateway = await startPortico({
      backends: [{ name: 'old', transport: 'http', url: backend.url }],
    })
    try {
      const client = await sessionClient(gateway.url)
      try {
        const tools = await client.listTools()
        assert.ok(tools.tools.length > 0)
      } finally {
        await client.close()
      }
    } finally {
      await gateway.close()
      await backend.close()
    }
  })

  it('mirrors a marked argument as the backend gets it: after inject_args, in Mcp-Param-*', async () => {
    const backend = await startModernServer({ headerTool: true })
    const gateway = await startPortico({
      backends: [
        {
          name: 'm',
          transport: 'http',
          url: backend.url,
          protocol_version: '2026-07-28',
          inject_args: [{ tool: 'route', args: { region: 'zürich' }, overwrite: true }],
        },
      ],
    })
    try {
      const client = await sessionClient(gateway.url)
      try {
        // Called without listing first: the gateway looks the tool's marks up itself.
        const result = await client.callTool({ name: 'm__route', arguments: { region: 'x' } })
        // The SDK server refuses (-32020) a call whose header disagrees with its arguments.
        assert.equal(textOf(result), 'routed to zürich')
      } finally {
        await client.close()
      }
      const call = backend.seen.find((seen) => seen.body?.method === 'tools/call')
      assert.equal(
        call?.headers['mcp-param-region'],
        `=?base64?${Buffer.from('zürich').toString('base64')}?=`,
      )
    } finally {
      await gateway.close()
      await backend.close()
    }
  })

  it('canary, mirror and renamed parameters: each backend gets the Mcp-Param-* its own tool marks', async () => {
    const [primary, canary, mirror] = [
      await startModernServer({ headerTool: true }),
      await startModernServer({ headerTool: true }),
      await startModernServer({ headerTool: true }),
    ]
    const gateway = await startPortico({
      proxy: { tool_exposure: 'search' },
      backends: [
        {
          name: 'm',
          transport: 'http',
          url: primary.url,
          weight: 0,
          // Clients see `where`; the backend's tool marks `region`.
          param_overrides: [{ tool: 'route', rename: { region: 'where' } }],
        },
        { name: 'c', transport: 'http', url: canary.url, canary_of: 'm', weight: 100 },
        { name: 'mi', transport: 'http', url: mirror.url, mirror_of: 'm' },
      ],
    })
    try {
      const client = await sessionClient(gateway.url)
      try {
        const result = await client.callTool({
          name: 'portico__call_tool',
          arguments: { name: 'm__route', arguments: { where: 'eu' } },
        })
        assert.match(textOf(result), /routed to eu/, JSON.stringify(result))
      } finally {
        await client.close()
      }
      // Before: a canary or mirror (never listed to clients) was sent no Mcp-Param-* header and
      // refused the call -32020; a renamed marked parameter had none either.
      const called = (server: ModernServer) =>
        server.seen.find((seen) => seen.body?.method === 'tools/call')?.headers['mcp-param-region']
      assert.equal(called(canary), 'eu')
      await until(() => called(mirror))
      assert.equal(called(mirror), 'eu')
      // A stateless client calls the marked tool through call_tool, which marks nothing:
      // before, it was refused -32020 for a header the revision did not ask it to send.
      const stateless = await statelessRequest(gateway.url, 'tools/call', {
        name: 'portico__call_tool',
        arguments: { name: 'm__route', arguments: { where: 'ap' } },
      })
      assert.match(
        String(stateless.result?.content?.[0]?.text),
        /routed to ap/,
        JSON.stringify(stateless),
      )
    } finally {
      await gateway.close()
      for (const server of [primary, canary, mirror]) await server.close()
    }
  })

  it('protocol_version = "2026-07-28" before a 2025 server: the backend is down, and says why', async () => {
    const backend = await startElicitServer()
    const gateway = await startPortico({
      admin: { enabled: true },
      backends: [
        { name: 'old', transport: 'http', url: backend.url, protocol_version: '2026-07-28' },
      ],
    })
    try {
      const health = async () => {
        const answer = await fetch(`${gateway.origin}/admin/backends/old/health`)
        return (await answer.json()) as { state?: string; error?: string }
      }
      await until(async () => (await health()).state === 'down')
      assert.match(String((await health()).error), /does not serve 2026-07-28/)
      const answer = await stateless(gateway.url, 'tools/call', { name: 'old__anything' })
      assert.ok(answer.error !== undefined, 'a call is refused, not left waiting')
    } finally {
      await gateway.close()
      await backend.close()
    }
  })
})

describe('a gateway behind a gateway (its 2026-07-28 backend)', () => {
  let backend: Awaited<ReturnType<typeof startElicitServer>>
  let inner: RunningPortico
  let outer: RunningPortico

  before(async () => {
    backend = await startElicitServer()
    inner = await startPortico({ backends: [{ name: 'b', transport: 'http', url: backend.url }] })
    outer = await startPortico({
      backends: [{ name: 'inner', transport: 'http', url: inner.url }],
    })
  })
  after(async () => {
    await outer?.close()
    await inner?.close()
    await backend?.close()
  })

  it("a stateless client's retry reaches the inner gateway's parked call", async () => {
    const first = await stateless(outer.url, 'tools/call', { name: 'inner__b__ask' })
    assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first))
    const [key] = Object.keys(first.result?.inputRequests ?? {})
    // Before: the outer gateway took the inner one's `portico-…` state for one of its own
    // expired calls, and refused the retry ("Unknown requestState").
    const retry = await stateless(outer.url, 'tools/call', {
      name: 'inner__b__ask',
      inputResponses: { [String(key)]: { action: 'accept', content: { name: 'zoe' } } },
      requestState: first.result?.requestState,
    })
    assert.match(String(retry.result?.content?.[0]?.text), /user said zoe/, JSON.stringify(retry))
  })

  it("a session's client is asked across both gateways", async () => {
    const client = new Client(
      { name: 'chained', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    )
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { name: 'yann' },
    }))
    await client.connect(new StreamableHTTPClientTransport(new URL(outer.url)))
    try {
      const result = await client.callTool({ name: 'inner__b__ask', arguments: {} })
      assert.match(textOf(result), /user said yann/)
    } finally {
      await client.close()
    }
  })
})
