/**
 * Both protocol eras through one transparent Portico: the v2 SDK client speaking stateless
 * 2026-07-28 (`server/discover`, per-request `_meta`, `input_required` retries) and legacy,
 * against a dual-era v2 server. The era is detected per request.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { type ModernServer, startModernServer } from '../fixtures/modern-server.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

describe('2026-07-28 and legacy clients through Portico', () => {
  let server: ModernServer
  let portico: RunningPortico

  before(async () => {
    server = await startModernServer()
    portico = await startPortico({ upstream: server.url })
  })
  after(async () => {
    await portico?.close()
    await server?.close()
  })

  it('serves a modern client: discover, list, call, read', async () => {
    const client = new Client(
      { name: 'modern-client', version: '3.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    )
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    try {
      const tools = await client.listTools()
      assert.deepEqual(tools.tools.map((t) => t.name).sort(), ['deploy', 'echo'])
      const result = await client.callTool({ name: 'echo', arguments: { text: 'stateless' } })
      assert.deepEqual(result.content, [{ type: 'text', text: 'echo: stateless' }])
      const read = await client.readResource({ uri: 'demo://note' })
      assert.equal((read.contents[0] as { text: string }).text, 'a modern note')
    } finally {
      await client.close()
    }
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'echo' && e.era === 'modern'),
    )
    const call = portico.sink.exchanges().find((e) => e.name === 'echo' && e.era === 'modern')
    assert.equal(call?.protocolVersion, '2026-07-28')
    assert.deepEqual(call?.client, { name: 'modern-client', version: '3.0.0' })
    assert.equal(call?.sessionId, undefined, 'modern requests carry no session')
    assert.ok(
      portico.sink.exchanges().some((e) => e.method === 'server/discover' && e.result),
      'discover captured',
    )
  })

  it('passes input_required results through and the retry succeeds', async () => {
    const client = new Client(
      { name: 'modern-client', version: '3.0.0' },
      {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        capabilities: { elicitation: { form: {} } },
      },
    )
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept',
      content: { confirm: true },
    }))
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    try {
      const result = await client.callTool({ name: 'deploy', arguments: { env: 'staging' } })
      assert.deepEqual(result.content, [{ type: 'text', text: 'deployed to staging' }])
    } finally {
      await client.close()
    }
    await portico.sink.waitFor(
      (events) => events.filter((e) => e.type === 'exchange' && e.name === 'deploy').length >= 2,
    )
    assert.ok(
      portico.sink.exchanges().filter((e) => e.name === 'deploy').length >= 2,
      'first call and its retry both recorded',
    )
  })

  it('relays subscriptions/listen: acknowledgement first, then change notifications', async () => {
    const client = new Client(
      { name: 'listener', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    )
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    let changed = 0
    client.setNotificationHandler('notifications/tools/list_changed', () => {
      changed++
    })
    try {
      const subscription = await client.listen({ toolsListChanged: true })
      assert.equal(subscription.honoredFilter.toolsListChanged, true)
      server.toolsChanged()
      await until(
        () => changed > 0 || undefined,
        5000,
        'tools/list_changed through the listen stream',
      )
      await subscription.close()
    } finally {
      await client.close()
    }
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'subscriptions/listen'),
    )
  })

  it('keeps a quiet listen stream open past request_timeout (it lasts until the client closes it)', async () => {
    const strict = await startPortico({ upstream: server.url, request_timeout: '300ms' })
    const client = new Client(
      { name: 'quiet-listener', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    )
    await client.connect(new StreamableHTTPClientTransport(new URL(strict.url)))
    let changed = 0
    client.setNotificationHandler('notifications/tools/list_changed', () => {
      changed++
    })
    try {
      const subscription = await client.listen({ toolsListChanged: true })
      // Quiet for several times request_timeout, which bounds a call's silence, not a listen's.
      await new Promise((resolve) => setTimeout(resolve, 1200))
      server.toolsChanged()
      await until(() => changed > 0 || undefined, 5000, 'the change after a quiet second')
      await subscription.close()
    } finally {
      await client.close()
      await strict.close()
    }
  })

  it('serves a legacy client on the same endpoint', async () => {
    const client = new Client({ name: 'legacy-client', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'legacy' } })
      assert.deepEqual(result.content, [{ type: 'text', text: 'echo: legacy' }])
    } finally {
      await client.close()
    }
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'tools/call' && e.era === 'legacy'),
    )
  })
})

describe('a 2026-07-28 client through the gateway, in front of a dual-era server', () => {
  let server: ModernServer
  let gateway: RunningPortico

  before(async () => {
    server = await startModernServer()
    gateway = await startPortico({ backends: [{ name: 'm', transport: 'http', url: server.url }] })
  })
  after(async () => {
    await gateway?.close()
    await server?.close()
  })

  it('calls and reads: the client’s 2026-07-28 _meta is not sent on the gateway’s session', async () => {
    const client = new Client(
      { name: 'modern-client', version: '3.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    )
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
    try {
      // Before: the backend took the forwarded era keys for a stateless request whose header
      // (2025-11-25, the gateway's session) disagreed, and refused every call with -32020.
      const result = await client.callTool({ name: 'm__echo', arguments: { text: 'bridged' } })
      assert.deepEqual(result.content, [{ type: 'text', text: 'echo: bridged' }])
      const read = await client.readResource({ uri: 'demo://m__note' })
      assert.equal((read.contents[0] as { text: string }).text, 'a modern note')
    } finally {
      await client.close()
    }
  })
})
