/**
 * A legacy HTTP+SSE backend (server-everything `sse` mode, 2024-11-05 transport) behind the
 * gateway: calls, progress and a sampling round trip, each client with its own SSE session.
 * Also a lazy stdio backend with `isolation = "session"`: one process per client session,
 * started on first use and stopped when the session ends.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { MCP_ACCEPT, openSession } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

let old: Spawned & { url: string }
let gateway: RunningPortico

before(async () => {
  old = await startEverything('sse')
  gateway = await startPortico({
    // The slow backend never answers tools/list (PAGED_SLOW_LIST): merged lists leave it out
    // after list_timeout. The timeout is not short on purpose: the other backends, busy or
    // not, must answer within it, and the test waits for it only once.
    proxy: { admin_tools: false, list_timeout: '3s' },
    backends: [
      { name: 'old', transport: 'sse', url: old.url },
      {
        name: 'iso',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('paged-server')],
        isolation: 'session',
        start: 'lazy',
        max_processes: 2,
      },
      {
        name: 'slow',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('paged-server')],
        env: { PAGED_SLOW_LIST: '1' },
      },
    ],
  })
})

after(async () => {
  await gateway?.close()
  await old?.stop()
})

it('relays calls, progress and sampling through a legacy SSE backend', async () => {
  const client = new Client(
    { name: 'sse-test', version: '1.0.0' },
    { capabilities: { sampling: {} } },
  )
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: 'assistant',
    model: 'test-model',
    content: { type: 'text', text: 'sampled through sse' },
  }))
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  try {
    const sum = await client.callTool({ name: 'old__get-sum', arguments: { a: 20, b: 22 } })
    assert.deepEqual(sum.content, [{ type: 'text', text: 'The sum of 20 and 22 is 42.' }])
    const progress: number[] = []
    await client.callTool(
      { name: 'old__trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    )
    assert.deepEqual(progress, [1, 2])
    const sampled = await client.callTool({
      name: 'old__trigger-sampling-request',
      arguments: { prompt: 'x', maxTokens: 3 },
    })
    assert.match(JSON.stringify(sampled.content), /sampled through sse/)
  } finally {
    await client.close()
  }
})

interface Health {
  name: string
  state: string
  connections: number
  lastFailure?: { message: string }
}

async function healthOf(name: string): Promise<Health> {
  const ready = await fetch(new URL('/readyz', gateway.origin))
  const body = (await ready.json()) as { backends: Health[] }
  const found = body.backends.find((b) => b.name === name)
  assert.ok(found)
  return found
}

const isoHealth = () => healthOf('iso')

it('starts an isolated stdio backend per client session, lazily, and stops it with the session', async () => {
  const initial = await isoHealth()
  assert.equal(initial.state, 'idle') // lazy: nothing started yet
  assert.equal(initial.connections, 0)
  const transports = [gateway.url, gateway.url].map(
    (url) => new StreamableHTTPClientTransport(new URL(url)),
  )
  const clients = transports.map(() => new Client({ name: 'iso-test', version: '1.0.0' }))
  for (const [i, client] of clients.entries()) {
    await client.connect(transports[i] as StreamableHTTPClientTransport)
    const result = await client.callTool({ name: 'iso__alpha', arguments: { n: i } })
    assert.match(JSON.stringify(result.content), /alpha/)
  }
  assert.equal((await isoHealth()).connections, 2)
  const names = (await (clients[0] as Client).listTools()).tools.map((t) => t.name)
  assert.ok(names.includes('iso__alpha'))
  assert.ok(!names.some((n) => n.startsWith('portico__')), 'admin tools are disabled')
  // The backend too slow for lists is left out, the others answered, and health says why.
  assert.ok(!names.some((n) => n.startsWith('slow__')))
  assert.ok(names.includes('old__echo'))
  const slow = await healthOf('slow')
  assert.equal(slow.state, 'up')
  assert.match(slow.lastFailure?.message ?? '', /tools\/list/)
  await transports[0]?.terminateSession()
  await until(
    async () => ((await isoHealth()).connections === 1 ? true : undefined),
    5000,
    'release',
  )
  // Sessions end with a DELETE (closing a client alone leaves its session until session_ttl).
  await transports[1]?.terminateSession()
  for (const client of clients) await client.close()
})

it('runs at most max_processes per-session processes: one more session is refused until one ends', async () => {
  const transports = [1, 2, 3].map(() => new StreamableHTTPClientTransport(new URL(gateway.url)))
  const clients = transports.map(() => new Client({ name: 'iso-cap', version: '1.0.0' }))
  for (const [i, client] of clients.entries()) {
    await client.connect(transports[i] as StreamableHTTPClientTransport)
  }
  const call = (i: number) =>
    (clients[i] as Client).callTool({ name: 'iso__alpha', arguments: { n: i } })
  assert.match(JSON.stringify((await call(0)).content), /alpha/)
  assert.match(JSON.stringify((await call(1)).content), /alpha/)
  await assert.rejects(call(2), /iso runs its maximum of 2 processes/)
  // On the wire: HTTP 503 with Retry-After, as the README says (it was 200 with the error).
  const raw = await openSession(gateway.url)
  const refused = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-session-id': raw, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name: 'iso__alpha', arguments: {} },
    }),
  })
  assert.equal(refused.status, 503)
  assert.equal(refused.headers.get('retry-after'), '5')
  assert.equal(((await refused.json()) as { id: number }).id, 9)
  assert.equal((await isoHealth()).connections, 2, 'no third process')
  assert.notEqual((await isoHealth()).state, 'down', 'a full backend is not a failed one')
  await transports[0]?.terminateSession()
  await until(
    async () => ((await isoHealth()).connections === 1 ? true : undefined),
    5000,
    'the first session to release its process',
  )
  assert.match(JSON.stringify((await call(2)).content), /alpha/)
  for (const transport of transports.slice(1)) await transport.terminateSession()
  for (const client of clients) await client.close()
})

it('gives up on an SSE backend whose stream never names its endpoint, at startup_timeout', async () => {
  // Answers the GET as an SSE stream and then says nothing (a comment, no `endpoint` event).
  const mute = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': connected\n\n')
  })
  mute.listen(0, '127.0.0.1')
  await once(mute, 'listening')
  const { port } = mute.address() as AddressInfo
  const quiet = await startPortico({
    request_timeout: 30,
    proxy: { admin_tools: false },
    backends: [
      {
        name: 'mute',
        transport: 'sse',
        url: `http://127.0.0.1:${port}/sse`,
        startup_timeout: '500ms',
      },
    ],
  })
  const client = new Client({ name: 'sse-mute', version: '1.0.0' })
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(quiet.url)))
    // Failed by startup_timeout, not left to request_timeout (30 s, another message).
    await assert.rejects(
      client.callTool({ name: 'mute__anything', arguments: {} }),
      /sent no endpoint event within 500 ms/,
    )
  } finally {
    await client.close()
    await quiet.close()
    mute.closeAllConnections()
    mute.close()
  }
})
