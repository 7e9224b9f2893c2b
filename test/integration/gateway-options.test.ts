/**
 * Backend and `[proxy]` options of the gateway, end to end with real backends (the probe
 * fixture over HTTP and over stdio): `headers` and `bearer_token` reach an HTTP backend, a
 * backend's own `timeout` ends a call long before `request_timeout`, a stdio backend runs in
 * its `cwd`, `hide_resources` / `expose_prompts` / `hide_prompts` filter lists and routing,
 * `session_ttl` ends idle client sessions and `max_sessions` bounds them.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { PROBE_PROMPTS, startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { initializeBody, MCP_ACCEPT, openSession, postInitialize } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'
import { until } from '../helpers/wait.ts'

const node = process.execPath
let probe: Served

before(async () => {
  probe = await startProbeHttp()
})
after(async () => {
  await probe?.close()
})

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'gateway-options', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

describe('backend options', () => {
  let cwd: string
  let gateway: RunningPortico
  let client: Client

  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'portico-probe-cwd-'))
    gateway = await startPortico({
      request_timeout: 60,
      backends: [
        {
          name: 'remote',
          transport: 'http',
          url: probe.url,
          headers: { 'x-probe': 'from-config' },
          bearer_token: 'probe-token',
        },
        { name: 'brief', transport: 'http', url: probe.url, timeout: '2s' },
        {
          name: 'local',
          transport: 'stdio',
          command: node,
          args: [fixture('probe-stdio')],
          cwd,
          hide_resources: ['probe://secret/*'],
          expose_prompts: ['greet'],
        },
        {
          name: 'other',
          transport: 'stdio',
          command: node,
          args: [fixture('probe-stdio')],
          hide_prompts: ['internal-*'],
        },
      ],
    })
    client = await connect(gateway.url)
  })
  after(async () => {
    await client?.close()
    await gateway?.close()
    rmSync(cwd, { recursive: true, force: true })
  })

  it('sends the configured headers and bearer token to an HTTP backend', async () => {
    const headers = JSON.parse(
      text(await client.callTool({ name: 'remote__headers', arguments: {} })),
    ) as Record<string, string>
    assert.equal(headers.authorization, 'Bearer probe-token')
    assert.equal(headers['x-probe'], 'from-config')
    // Another backend on the same server, configured without them, sends neither.
    const plain = JSON.parse(
      text(await client.callTool({ name: 'brief__headers', arguments: {} })),
    ) as Record<string, string>
    assert.equal(plain.authorization, undefined)
    assert.equal(plain['x-probe'], undefined)
  })

  it("ends a call at the backend's own timeout, not request_timeout, and keeps serving", async () => {
    // request_timeout is 60 s and the client waits up to 30 s: only the backend's 2 s can end it.
    await assert.rejects(
      client.callTool({ name: 'brief__wait', arguments: {} }, undefined, { timeout: 30_000 }),
      /within 2000 ms/,
    )
    assert.match(text(await client.callTool({ name: 'brief__cwd', arguments: {} })), /\//)
  })

  it('starts a stdio backend in its cwd (and another in Portico’s own)', async () => {
    const local = JSON.parse(text(await client.callTool({ name: 'local__cwd', arguments: {} })))
    assert.equal(local, realpathSync(cwd))
    const other = JSON.parse(text(await client.callTool({ name: 'other__cwd', arguments: {} })))
    assert.equal(other, process.cwd())
  })

  it('hide_resources leaves matching resources and templates out, and refuses to read them', async () => {
    const uris = (await client.listResources()).resources.map((r) => r.uri)
    assert.ok(uris.includes('probe://local__public/readme'), uris.join(' '))
    assert.ok(!uris.includes('probe://local__secret/key'), uris.join(' '))
    // Without the filter the same server's secret is listed.
    assert.ok(uris.includes('probe://other__secret/key'), uris.join(' '))
    const templates = (await client.listResourceTemplates()).resourceTemplates.map(
      (t) => t.uriTemplate,
    )
    assert.ok(templates.includes('probe://local__public/{id}'), templates.join(' '))
    assert.ok(!templates.includes('probe://local__secret/{id}'), templates.join(' '))
    assert.ok(templates.includes('probe://other__secret/{id}'), templates.join(' '))
    const read = await client.readResource({ uri: 'probe://local__public/readme' })
    assert.equal((read.contents[0] as { text?: string }).text, 'content of probe://public/readme')
    await assert.rejects(client.readResource({ uri: 'probe://local__secret/key' }))
    await assert.rejects(client.readResource({ uri: 'probe://local__secret/42' }))
  })

  it('expose_prompts lists only the matching prompts; hide_prompts leaves the matching ones out', async () => {
    const names = (await client.listPrompts()).prompts.map((p) => p.name)
    const of = (backend: string) =>
      names.filter((n) => n.startsWith(`${backend}__`)).map((n) => n.slice(backend.length + 2))
    assert.deepEqual(of('local'), ['greet'])
    assert.deepEqual(of('other'), ['greet'])
    // The HTTP backends have no prompt filter: both of the server's prompts.
    assert.deepEqual(of('remote').sort(), [...PROBE_PROMPTS].sort())
    const greet = await client.getPrompt({ name: 'local__greet' })
    assert.deepEqual(greet.messages[0]?.content, { type: 'text', text: 'prompt greet' })
    await assert.rejects(client.getPrompt({ name: 'local__internal-debug' }), /Unknown prompt/)
    await assert.rejects(client.getPrompt({ name: 'other__internal-debug' }), /Unknown prompt/)
  })
})

/** A raw `initialize`; the session id when the gateway opened one. */
async function initialize(url: string): Promise<{ status: number; sessionId: string | null }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: MCP_ACCEPT,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      },
    }),
  })
  await response.text()
  return { status: response.status, sessionId: response.headers.get('mcp-session-id') }
}

/** A `ping` in `session`: 200 while the gateway knows the session. */
async function ping(url: string, session: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
  })
  await response.text()
  return response.status
}

async function sessionCount(gateway: RunningPortico): Promise<number> {
  const ready = await fetch(new URL('/readyz', gateway.origin))
  return ((await ready.json()) as { sessions: number }).sessions
}

describe("a backend's own timeout longer than request_timeout", () => {
  let slow: RawUpstream
  let gateway: RunningPortico

  before(async () => {
    // Answers a call in JSON after 1.5 s: past request_timeout (1 s), within the backend's 5 s.
    slow = await startRawUpstream('slow', (res, request) => {
      const result =
        request.method === 'tools/list'
          ? { tools: [{ name: 'late', inputSchema: { type: 'object' } }] }
          : { content: [{ type: 'text', text: 'late but in time' }] }
      const delay = request.method === 'tools/call' ? 1500 : 0
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }))
      }, delay)
    })
    gateway = await startPortico({
      request_timeout: 1,
      backends: [{ name: 'slow', transport: 'http', url: slow.url, timeout: '5s' }],
    })
  })
  after(async () => {
    await gateway?.close()
    slow?.server.closeAllConnections()
    await slow?.close()
  })

  it("is the call's deadline over HTTP: an answer after request_timeout but within it is served", async () => {
    // The HTTP client's header timeout (request_timeout) ended it at 1 s before, with a vaguer
    // message; under load it also raced an equal backend deadline for the call's error.
    const client = await connect(gateway.url)
    try {
      const result = await client.callTool({ name: 'slow__late', arguments: {} })
      assert.equal(text(result), 'late but in time')
    } finally {
      await client.close()
    }
  })
})

describe('client sessions', () => {
  it('session_ttl ends a session that stays idle', async () => {
    const gateway = await startPortico({
      proxy: { session_ttl: '300ms' },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    try {
      const session = await openSession(gateway.url)
      assert.equal(await sessionCount(gateway), 1)
      // /readyz does not touch the session; any request in it would keep it alive.
      await until(
        async () => ((await sessionCount(gateway)) === 0 ? true : undefined),
        10_000,
        'the idle session to expire',
      )
      assert.equal(await ping(gateway.url, session), 404)
    } finally {
      await gateway.close()
    }
  })

  it('a request after session_ttl finds the session gone, before the next sweep', async () => {
    // Sweeps run every 3 s from the start; the session opens just after it, so 3.2 s after
    // it opened it is past its ttl, and the sweep of 6 s is still to come (one that came first
    // would end it too: the 404 holds either way).
    const gateway = await startPortico({
      proxy: { session_ttl: '3s' },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    try {
      const session = await openSession(gateway.url)
      await new Promise((resolve) => setTimeout(resolve, 3_200))
      assert.equal(await ping(gateway.url, session), 404, 'an idle session past its ttl is gone')
    } finally {
      await gateway.close()
    }
  })

  it('session_ttl spares a session holding its stream open, however long since its last request', async () => {
    const gateway = await startPortico({
      // Long enough for the stream to open after initialize on a loaded machine.
      proxy: { session_ttl: '1500ms' },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    const listening = new AbortController()
    try {
      const streaming = await openSession(gateway.url)
      const stream = await fetch(gateway.url, {
        headers: {
          accept: 'text/event-stream',
          'mcp-session-id': streaming,
          'mcp-protocol-version': '2025-11-25',
        },
        signal: listening.signal,
      })
      assert.equal(stream.status, 200)
      const idle = await openSession(gateway.url)
      assert.equal(await sessionCount(gateway), 2)
      // The idle one, opened after, expires; the older one with its stream open does not.
      await until(
        async () => ((await sessionCount(gateway)) === 1 ? true : undefined),
        10_000,
        'the idle session to expire',
      )
      assert.equal(await ping(gateway.url, idle), 404)
      assert.equal(await ping(gateway.url, streaming), 200)
    } finally {
      listening.abort()
      await gateway.close()
    }
  })

  it('max_sessions: past the bound the least recently used idle session makes room', async () => {
    const gateway = await startPortico({
      proxy: { max_sessions: 2 },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    try {
      const first = await openSession(gateway.url)
      const second = await openSession(gateway.url)
      assert.equal(await ping(gateway.url, first), 200) // first is now the more recent
      const admitted = await initialize(gateway.url)
      assert.equal(admitted.status, 200)
      assert.ok(admitted.sessionId)
      assert.equal(await sessionCount(gateway), 2)
      assert.equal(await ping(gateway.url, second), 404, 'the least recently used one ended')
      assert.equal(await ping(gateway.url, first), 200)
    } finally {
      await gateway.close()
    }
  })

  it('max_sessions refuses 503 with Retry-After when every session is busy', async () => {
    const gateway = await startPortico({
      proxy: { max_sessions: 1 },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    const abort = new AbortController()
    try {
      const busy = await openSession(gateway.url)
      // An open stream makes the session busy: it is never evicted.
      const stream = await fetch(gateway.url, {
        headers: { accept: 'text/event-stream', 'mcp-session-id': busy },
        signal: abort.signal,
      })
      assert.equal(stream.status, 200)
      const refused = await postInitialize(gateway.url, { id: 3 })
      assert.equal(refused.status, 503)
      assert.equal(refused.headers.get('retry-after'), '30')
      assert.equal(((await refused.json()) as { id: number }).id, 3)
      assert.equal(await ping(gateway.url, busy), 200)
    } finally {
      abort.abort()
      await gateway.close()
    }
  })

  it('max_sessions_per_client with [auth]: a client is its principal, not an address it shares', async () => {
    const gateway = await startPortico({
      proxy: { max_sessions: 100, max_sessions_per_client: 2 },
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'bob', key: 'bob-key-0123456789ab' },
        ],
      },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    const as = (key: string) => ({ authorization: `Bearer ${key}` })
    const open = async (key: string): Promise<string> => {
      const init = await fetch(gateway.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, ...as(key) },
        body: initializeBody({ id: 1 }),
      })
      await init.text()
      const session = init.headers.get('mcp-session-id')
      assert.ok(session, `initialize answered ${init.status}`)
      return session
    }
    const pingAs = async (key: string, session: string): Promise<number> => {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, ...as(key), 'mcp-session-id': session },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
      })
      await response.text()
      return response.status
    }
    try {
      // Both from this host's one address: by address, Bob's sessions ended Alice's.
      const alice = await open('alice-key-0123456789')
      const bobs: string[] = []
      for (let i = 0; i < 5; i++) bobs.push(await open('bob-key-0123456789ab'))
      assert.equal(await pingAs('alice-key-0123456789', alice), 200, "Alice's session lives")
      assert.equal(await pingAs('bob-key-0123456789ab', bobs[4] as string), 200)
      assert.equal(await pingAs('bob-key-0123456789ab', bobs[0] as string), 404, 'Bob keeps two')
    } finally {
      await gateway.close()
    }
  })

  it('max_sessions_per_client: one address cannot take every session', async () => {
    const gateway = await startPortico({
      proxy: { max_sessions: 100, max_sessions_per_client: 2 },
      backends: [{ name: 'p', transport: 'http', url: probe.url }],
    })
    try {
      const sessions: string[] = []
      for (let i = 0; i < 10; i++) sessions.push(await openSession(gateway.url))
      assert.equal(await sessionCount(gateway), 2, 'this client keeps its two most recent')
      assert.equal(await ping(gateway.url, sessions[9] as string), 200)
      assert.equal(await ping(gateway.url, sessions[0] as string), 404)
    } finally {
      await gateway.close()
    }
  })
})
