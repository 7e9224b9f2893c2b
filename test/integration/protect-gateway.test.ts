/**
 * Traffic protection in gateway mode, end to end: real SDK clients (v1, and v2 for the cache)
 * through Portico to the fault-injecting server over HTTP and over stdio (faulty.ts). Each
 * policy is driven into tripping and checked as the client sees it (status, error, id), as
 * the backend sees it (what ran, what was cancelled) and as recorded (the exchange event).
 * Where time matters (breaker wait, backoff, hedge delay) Portico runs on a hand-driven clock.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { loadConfig } from '../../src/config/load.ts'
import type { ConfigInput } from '../../src/config/schema.ts'
import { createPortico } from '../../src/index.ts'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { startResumableServer } from '../fixtures/resumable-server.ts'
import { serveMcp } from '../fixtures/serve.ts'
import { ManualClock } from '../helpers/clock.ts'
import { MCP_ACCEPT, openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('')
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'protect-test', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
  )
  return client
}

async function stats(
  server: FaultyHttp,
): Promise<{ runs: Record<string, number>; cancelled: number }> {
  return (await (await fetch(`${server.origin}/stats`)).json()) as never
}

function exchanges(portico: RunningPortico, name: string): ExchangeEvent[] {
  return portico.sink.exchanges().filter((e) => e.name === name)
}

const quiet: Partial<ConfigInput> = { proxy: { admin_tools: false, list_timeout: '3s' } }

describe('gateway: timeouts', () => {
  let server: FaultyHttp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    server = await startFaultyHttp('slowpoke')
    portico = await startPortico({
      ...quiet,
      backends: [
        { name: 'whole', transport: 'http', url: server.url, timeout: { seconds: 1 } },
        {
          name: 'each',
          transport: 'http',
          url: server.url,
          timeout: { seconds: 60, attempt: '300ms' },
          retry: { max_retries: 2, initial_backoff_ms: 10, max_backoff_ms: 20 },
        },
      ],
    } as ConfigInput)
    client = await connect(portico.url)
    await client.listTools()
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('ends the whole call at [timeout] seconds with upstream_timeout and cancels it upstream', async () => {
    await server.server.plan([{ mode: 'hang', times: 1, tool: 'write' }])
    await assert.rejects(
      client.callTool({ name: 'whole__write', arguments: {} }, undefined, { timeout: 20_000 }),
      /whole did not answer within 1000 ms \(the whole call\)/,
    )
    await until(
      async () => (await stats(server)).cancelled >= 1,
      5000,
      'the backend to see the cancel',
    )
    await portico.sink.waitFor((events) =>
      events.some(
        (e) =>
          e.type === 'exchange' && e.name === 'whole__write' && e.reason === 'upstream_timeout',
      ),
    )
  })

  it('bounds each attempt by `attempt`, separately from the whole call', async () => {
    const before = (await stats(server)).cancelled
    await assert.rejects(
      client.callTool({ name: 'each__hang', arguments: {} }, undefined, { timeout: 20_000 }),
      /within 300 ms/,
    )
    // Three attempts (1 + max_retries), each cut at 300 ms and cancelled upstream.
    await until(async () => (await stats(server)).cancelled >= before + 3, 5000, 'three cancels')
    const [event] = exchanges(portico, 'each__hang')
    assert.equal(event?.retries, 2)
  })
})

describe('gateway: concurrency and rate limits', () => {
  let server: FaultyHttp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    server = await startFaultyHttp('busy')
    portico = await startPortico({
      ...quiet,
      proxy: {
        admin_tools: false,
        rate_limit: {
          per_tool: [
            { tool: 'limited__lookup', requests: 1, period_seconds: 60 },
            // The alias of the backend's echo, which `aliased__echo` still reaches.
            { tool: 'aliased__say', requests: 1, period_seconds: 60 },
          ],
        },
      },
      backends: [
        {
          name: 'narrow',
          transport: 'http',
          url: server.url,
          concurrency: { max_concurrent: 1, max_queue: 1, queue_timeout: 30 },
        },
        {
          name: 'limited',
          transport: 'http',
          url: server.url,
          rate_limit: { requests: 2, period_seconds: 60 },
        },
        {
          name: 'aliased',
          transport: 'http',
          url: server.url,
          aliases: [{ from: 'echo', to: 'say' }],
        },
      ],
    } as ConfigInput)
    client = await connect(portico.url)
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('queues within max_queue, refuses beyond it with 429, and records the queued time', async () => {
    const calls = [1, 2, 3].map((i) =>
      client.callTool({ name: 'narrow__slow', arguments: { ms: 400, i } }).then(
        (result) => ({ ok: text(result) }),
        (error: Error & { code?: number }) => ({ error: `${error.code} ${error.message}` }),
      ),
    )
    const outcomes = await Promise.all(calls)
    const refused = outcomes.filter((o) => 'error' in o)
    assert.equal(refused.length, 1, JSON.stringify(outcomes))
    assert.match(String(refused[0]?.error), /^429 /)
    assert.match(
      String(refused[0]?.error),
      /narrow is at its concurrency limit: 1 calls in flight and 1 waiting/,
    )
    await portico.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.name === 'narrow__slow' && (e.queuedMs ?? 0) > 0,
      ),
    )
    assert.equal((await stats(server)).runs.slow, 2)
  })

  it('refuses past a backend rate limit: 429, Retry-After, the JSON-RPC id, recorded', async () => {
    await client.callTool({ name: 'limited__echo', arguments: { text: 'a' } })
    await client.callTool({ name: 'limited__echo', arguments: { text: 'b' } })
    const sessionId = client.transport?.sessionId as string
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'over-the-limit',
        method: 'tools/call',
        params: { name: 'limited__echo', arguments: { text: 'c' } },
      }),
    })
    assert.equal(response.status, 429)
    assert.ok(Number(response.headers.get('retry-after')) >= 1)
    const body = (await response.json()) as { id: string; error: { message: string } }
    assert.equal(body.id, 'over-the-limit')
    assert.match(body.error.message, /Rate limit of limited reached \(2 per 60 s\)/)
    await portico.sink.waitFor((events) =>
      events.some(
        (e) =>
          e.type === 'exchange' && e.jsonrpcId === 'over-the-limit' && e.reason === 'rate_limited',
      ),
    )
  })

  it('[proxy.rate_limit] per_tool limits one tool across clients', async () => {
    await client
      .callTool({ name: 'limited__lookup', arguments: { key: 'k' } })
      .catch(() => undefined)
    const other = await connect(portico.url, { authorization: 'Bearer other' })
    try {
      await assert.rejects(
        other.callTool({ name: 'limited__lookup', arguments: { key: 'k' } }),
        (error: Error & { code?: number }) => {
          assert.equal(error.code, 429)
          assert.match(error.message, /per tool matching limited__lookup/)
          return true
        },
      )
    } finally {
      await other.close()
    }
  })

  it('per_tool holds an aliased tool under its original name too, with one budget', async () => {
    const ran = (await stats(server)).runs.echo ?? 0
    const said = await client.callTool({ name: 'aliased__say', arguments: { text: 'a' } })
    assert.equal(text(said), 'busy: a')
    // The original name still reaches the tool: it was a fresh budget before.
    await assert.rejects(
      client.callTool({ name: 'aliased__echo', arguments: { text: 'b' } }),
      (error: Error & { code?: number }) => error.code === 429,
    )
    await assert.rejects(
      client.callTool({ name: 'aliased__say', arguments: { text: 'c' } }),
      (error: Error & { code?: number }) => error.code === 429,
    )
    assert.equal((await stats(server)).runs.echo, ran + 1)
  })
})

describe("gateway: rate limits and the calls made on a client's behalf (call_tool)", () => {
  let server: FaultyHttp
  let portico: RunningPortico

  before(async () => {
    server = await startFaultyHttp('behalf')
    portico = await startPortico({
      ...quiet,
      proxy: {
        tool_exposure: 'search',
        admin_tools: false,
        rate_limit: {
          per_client: { requests: 4, period_seconds: 60 },
          per_tool: [
            { tool: 'f__lookup', requests: 1, period_seconds: 60 },
            { tool: 'f__status', requests: 1, period_seconds: 60 },
            // Matches call_tool too: it must not take this budget (see below).
            { tool: 'portico__*', requests: 1, period_seconds: 60 },
          ],
        },
      },
      backends: [{ name: 'f', transport: 'http', url: server.url }],
    } as ConfigInput)
  })
  after(async () => {
    await portico?.close()
    await server?.close()
  })

  const viaCallTool = (client: Client, name: string, args: Record<string, unknown>) =>
    client.callTool({ name: 'portico__call_tool', arguments: { name, arguments: args } })

  it('spends one request of the per-client budget per call_tool, not two', async () => {
    // initialize is one request of the four; three call_tool calls fit in the rest.
    const client = await connect(portico.url, { authorization: 'Bearer budget' })
    try {
      for (const i of [1, 2, 3]) {
        assert.equal(text(await viaCallTool(client, 'f__echo', { text: `t${i}` })), `behalf: t${i}`)
      }
      await assert.rejects(viaCallTool(client, 'f__echo', { text: 'over' }), /per client/)
    } finally {
      await client.close().catch(() => undefined)
    }
  })

  it('spends nothing of the per-client budget on a call_tool its target refuses, as a direct call', async () => {
    // initialize is one request of the four; the first status takes f__status's only token.
    const client = await connect(portico.url, { authorization: 'Bearer refused-free' })
    try {
      await viaCallTool(client, 'f__status', {})
      // Refused by f__status's rule: before, each spent a request, and the client's budget
      // ran out on refusals (a direct call's refusal takes no token of any limit).
      for (const _ of [1, 2, 3]) {
        await assert.rejects(viaCallTool(client, 'f__status', {}), /per tool/)
      }
      assert.equal(text(await viaCallTool(client, 'f__echo', { text: 'a' })), 'behalf: a')
      assert.equal(text(await viaCallTool(client, 'f__echo', { text: 'b' })), 'behalf: b')
      await assert.rejects(viaCallTool(client, 'f__echo', { text: 'over' }), /per client/)
    } finally {
      await client.close().catch(() => undefined)
    }
  })

  it('charges the tool call_tool reaches, not call_tool itself, to per_tool rules', async () => {
    // `portico__*` allows one call a minute: were call_tool's own name charged, the second
    // call_tool (to a tool no rule limits) would be refused.
    const client = await connect(portico.url, { authorization: 'Bearer pass-through' })
    try {
      for (const i of [1, 2]) {
        assert.equal(text(await viaCallTool(client, 'f__echo', { text: `p${i}` })), `behalf: p${i}`)
      }
    } finally {
      await client.close().catch(() => undefined)
    }
  })

  it('answers an inner refusal as a direct call would: 429 with Retry-After and the id', async () => {
    const client = await connect(portico.url, { authorization: 'Bearer tool-limit' })
    try {
      await viaCallTool(client, 'f__lookup', { key: 'k' })
      const response = await fetch(portico.url, {
        method: 'POST',
        headers: {
          ...MCP_ACCEPT,
          authorization: 'Bearer tool-limit',
          'mcp-session-id': client.transport?.sessionId as string,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'inner-over',
          method: 'tools/call',
          params: {
            name: 'portico__call_tool',
            arguments: { name: 'f__lookup', arguments: { key: 'k' } },
          },
        }),
      })
      assert.equal(response.status, 429)
      assert.ok(Number(response.headers.get('retry-after')) >= 1)
      const body = (await response.json()) as { id: string; error: { message: string } }
      assert.equal(body.id, 'inner-over')
      assert.match(body.error.message, /per tool matching f__lookup/)
    } finally {
      await client.close().catch(() => undefined)
    }
  })
})

describe('gateway: circuit breaker and retries (hand-driven clock)', () => {
  let server: FaultyHttp
  let portico: RunningPortico
  let client: Client
  const clock = new ManualClock()

  before(async () => {
    server = await startFaultyHttp('fragile')
    portico = await startPortico(
      {
        ...quiet,
        backends: [
          {
            name: 'fragile',
            transport: 'http',
            url: server.url,
            circuit_breaker: {
              failure_rate_threshold: 0.5,
              minimum_calls: 2,
              wait_duration_seconds: 30,
              permitted_calls_in_half_open: 1,
            },
          },
          {
            name: 'stdio',
            transport: 'stdio',
            command: process.execPath,
            args: [fixture('faulty-stdio')],
            retry: { max_retries: 5, initial_backoff_ms: 100, max_backoff_ms: 200 },
          },
        ],
      } as ConfigInput,
      { clock },
    )
    client = await connect(portico.url)
    await client.listTools()
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await server?.close()
  })

  it('opens on upstream failures (not isError), answers 503 naming the backend at once, probes after the wait', async () => {
    // isError results are answers, never failures.
    await client.callTool({ name: 'fragile__nope', arguments: {} }).catch(() => undefined)
    server.server.plan([{ mode: 'http500', times: 2, tool: 'write' }])
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.callTool({ name: 'fragile__write', arguments: {} }))
    }
    const ranBefore = (await stats(server)).runs.echo ?? 0
    await assert.rejects(
      client.callTool({ name: 'fragile__echo', arguments: { text: 'x' } }),
      (error: Error & { code?: number }) => {
        assert.equal(error.code, 503)
        assert.match(error.message, /Circuit of fragile is open/)
        return true
      },
    )
    assert.equal(
      (await stats(server)).runs.echo ?? 0,
      ranBefore,
      'refused without reaching the backend',
    )
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.breaker === 'open'),
    )
    await clock.advance(30_000)
    assert.match(
      text(await client.callTool({ name: 'fragile__echo', arguments: { text: 'probe' } })),
      /probe/,
    )
    assert.match(
      text(await client.callTool({ name: 'fragile__echo', arguments: { text: 'closed' } })),
      /closed/,
    )
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.breaker === 'closed'),
    )
  })

  it('retries a read-only tool through a crash of its stdio backend, never a write that may have run', async () => {
    await client.callTool({
      name: 'stdio__fault',
      arguments: { mode: 'crash', times: 1, tool: 'echo' },
    })
    let settled: { result?: unknown; error?: unknown } | undefined
    client.callTool({ name: 'stdio__echo', arguments: { text: 'again' } }).then(
      (result) => {
        settled = { result }
      },
      (error: unknown) => {
        settled = { error }
      },
    )
    // The crash, then backoffs on the hand-driven clock while the process restarts (real time).
    const outcome = await until(
      async () => {
        await clock.advance(200)
        return settled
      },
      10_000,
      'the retried echo to answer',
    )
    assert.match(text(outcome.result), /again/, String(outcome.error))
    await portico.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.name === 'stdio__echo' && (e.retries ?? 0) >= 1,
      ),
    )
    await client.callTool({
      name: 'stdio__fault',
      arguments: { mode: 'crash', times: 1, tool: 'write' },
    })
    await assert.rejects(
      client.callTool({ name: 'stdio__write', arguments: {} }),
      /Backend stdio exited/,
    )
    const [write] = exchanges(portico, 'stdio__write')
    assert.equal(write?.retries, undefined, 'a write that reached the backend is not retried')
  })
})

/**
 * A gateway with one HTTP backend `name` (the server `start` gives, with `policies`), and a
 * client that listed its tools. Started before the suite's tests, closed after them.
 */
function oneBackend<S extends { url: string; close(): Promise<void> }>(
  name: string,
  start: () => Promise<S>,
  policies: Record<string, unknown> = {},
) {
  const fixture = {} as { server: S; portico: RunningPortico; client: Client }
  before(async () => {
    fixture.server = await start()
    fixture.portico = await startPortico({
      ...quiet,
      backends: [{ name, transport: 'http', url: fixture.server.url, ...policies }],
    } as ConfigInput)
    fixture.client = await connect(fixture.portico.url)
    await fixture.client.listTools()
  })
  after(async () => {
    await fixture.client?.close()
    await fixture.portico?.close()
    await fixture.server?.close()
  })
  return fixture
}

/**
 * A gateway whose backend `main` (faulty server `primary`, with `policies`) fails over to
 * `backup` (faulty server `spare`), and a client that listed the tools (their annotations say
 * which calls may be repeated). Started before the suite's tests, closed after them.
 */
function primaryWithFailover(policies: Record<string, unknown> = {}) {
  const fixture = {} as {
    primary: FaultyHttp
    spare: FaultyHttp
    portico: RunningPortico
    client: Client
  }
  before(async () => {
    fixture.primary = await startFaultyHttp('primary')
    fixture.spare = await startFaultyHttp('spare')
    fixture.portico = await startPortico({
      ...quiet,
      backends: [
        { name: 'main', transport: 'http', url: fixture.primary.url, ...policies },
        { name: 'backup', transport: 'http', url: fixture.spare.url, failover_for: 'main' },
      ],
    } as ConfigInput)
    fixture.client = await connect(fixture.portico.url)
    await fixture.client.listTools()
  })
  after(async () => {
    await fixture.client?.close()
    await fixture.portico?.close()
    await fixture.primary?.close()
    await fixture.spare?.close()
  })
  return fixture
}

describe('gateway: a 500 that carries a JSON-RPC error', () => {
  const gateway = primaryWithFailover()

  it('is the backend failing: a read moves on to the failover, a write fails with its words', async () => {
    gateway.primary.server.plan([{ mode: 'http500-rpc', times: 1, tool: 'lookup' }])
    assert.match(
      text(await gateway.client.callTool({ name: 'main__lookup', arguments: { key: 'j' } })),
      /spare: value of j/,
    )
    // A write that may have run stays where it was, and the client reads the backend's words.
    gateway.primary.server.plan([{ mode: 'http500-rpc', times: 1, tool: 'write' }])
    await assert.rejects(
      gateway.client.callTool({ name: 'main__write', arguments: {} }),
      /answered HTTP 500: primary: database down/,
    )
    assert.equal(gateway.spare.server.runs.get('write'), undefined, 'the write is not sent twice')
  })
})

describe('gateway: a read moves on past every failover and canary that fails (G8-01, G8-02)', () => {
  const servers: Record<string, FaultyHttp> = {}
  let portico: RunningPortico
  let client: Client

  before(async () => {
    for (const name of ['main', 'f1', 'f2', 'canary', 'late', 'lone']) {
      servers[name] = await startFaultyHttp(name)
    }
    const url = (name: string) => (servers[name] as FaultyHttp).url
    portico = await startPortico({
      ...quiet,
      admin: { enabled: true },
      backends: [
        { name: 'main', transport: 'http', url: url('main') },
        { name: 'f1', transport: 'http', url: url('f1'), failover_for: 'main', priority: 1 },
        { name: 'f2', transport: 'http', url: url('f2'), failover_for: 'main', priority: 2 },
        { name: 'solo', transport: 'http', url: url('late') },
        { name: 'canary', transport: 'http', url: url('canary'), canary_of: 'solo', weight: 100 },
        // Nobody's primary when the gateway starts.
        { name: 'single', transport: 'http', url: url('lone') },
      ],
    } as ConfigInput)
    client = await connect(portico.url)
    await client.listTools()
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    for (const server of Object.values(servers)) await server.close()
  })

  const fail = (name: string) =>
    servers[name]?.server.plan([{ mode: 'http500-rpc', times: 5, tool: 'lookup' }])

  it('tries each failover in turn: the second answers when the first fails too', async () => {
    fail('main')
    fail('f1')
    // Before: the call stopped at f1 (a failover learns no annotations: never listed).
    assert.match(
      text(await client.callTool({ name: 'main__lookup', arguments: { key: 'a' } })),
      /f2: value of a/,
    )
  })

  it('moves a read a failing canary took on to its primary', async () => {
    fail('canary')
    for (let i = 0; i < 4; i++) {
      assert.match(
        text(await client.callTool({ name: 'solo__lookup', arguments: { key: 'b' } })),
        /late: value of b/,
      )
    }
  })

  it('gives a failover added over the admin API the read-only calls of its primary', async () => {
    const spare = await startFaultyHttp('spare')
    try {
      const added = await fetch(`${portico.origin}/admin/backends/add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'spare',
          transport: 'http',
          url: spare.url,
          failover_for: 'single',
        }),
      })
      assert.equal(added.status, 201, await added.text())
      fail('lone')
      const fresh = await connect(portico.url)
      try {
        await fresh.listTools()
        // Before: single's chain, built when it was nobody's primary, learnt no annotations.
        assert.match(
          text(await fresh.callTool({ name: 'single__lookup', arguments: { key: 'c' } })),
          /spare: value of c/,
        )
      } finally {
        await fresh.close()
      }
    } finally {
      await spare.close()
    }
  })
})

describe("gateway: a backend's 4xx is its answer, not its failure", () => {
  const gateway = primaryWithFailover({
    retry: { max_retries: 3, initial_backoff_ms: 10, max_backoff_ms: 20 },
    circuit_breaker: { failure_rate_threshold: 0.5, minimum_calls: 2 },
  })

  it('a 403 is neither retried, failed over nor counted by the breaker', async () => {
    gateway.primary.server.plan([{ mode: 'http403', times: 3, tool: 'lookup' }])
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        gateway.client.callTool({ name: 'main__lookup', arguments: { key: 'k' } }),
        /answered HTTP 403/,
      )
    }
    // Counted, three refusals of one caller had opened the breaker for every caller; retried
    // or moved to the failover, the read had sidestepped the refusal.
    assert.equal(gateway.primary.server.runs.get('arrived:lookup'), 3)
    assert.equal(gateway.spare.server.runs.get('arrived:lookup'), undefined)
    assert.match(
      text(await gateway.client.callTool({ name: 'main__echo', arguments: { text: 'still' } })),
      /still/,
    )
    const refused = exchanges(gateway.portico, 'main__lookup').map((e) => e.reason)
    assert.deepEqual(refused, ['backend_refused', 'backend_refused', 'backend_refused'])
  })

  // Whatever its body: plain text, a JSON-RPC error (passed on as the backend's answer, it
  // reached the client as a 200 without Retry-After, and no failover took it), an event stream.
  for (const mode of ['http429', 'http429-rpc', 'http429-sse'] as const) {
    it(`a 429 is the backend's rate limit: not retried, and a failover may take the call (${mode})`, async () => {
      const arrived = gateway.primary.server.runs.get('arrived:write') ?? 0
      gateway.primary.server.plan([{ mode, times: 1, tool: 'write' }])
      // The backend refused before running it, so even a write may move on.
      assert.match(
        text(await gateway.client.callTool({ name: 'main__write', arguments: {} })),
        /spare/,
      )
      assert.equal(gateway.primary.server.runs.get('arrived:write'), arrived + 1)
    })
  }
})

describe("gateway: a backend's 429 with a JSON-RPC error, no failover", () => {
  const gateway = oneBackend('alone', () => startFaultyHttp('alone'))

  for (const mode of ['http429-rpc', 'http429-sse'] as const) {
    it(`reaches the client as 429 with the backend's Retry-After and words (${mode})`, async () => {
      const session = sessionHeaders(await openSession(gateway.portico.url))
      gateway.server.server.plan([{ mode, times: 1, tool: 'echo' }])
      const response = await fetch(gateway.portico.url, {
        method: 'POST',
        headers: session,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'limited',
          method: 'tools/call',
          params: { name: 'alone__echo', arguments: { text: 'x' } },
        }),
      })
      assert.equal(response.status, 429)
      assert.equal(response.headers.get('retry-after'), '7')
      const answer = (await response.json()) as { id: string; error: { message: string } }
      assert.equal(answer.id, 'limited')
      assert.match(answer.error.message, /answered HTTP 429: alone: slow down/)
    })
  }
})

describe('gateway: hedging a call that reports progress', () => {
  const gateway = oneBackend('count', startResumableServer, {
    hedging: { delay_ms: 400, max_hedges: 2 },
  })

  it('sends no hedge once the attempt reported progress: it is answering', async () => {
    // Progress every 150 ms, the result after 1.2 s: past delay_ms, but answering from 150 ms.
    const progress: number[] = []
    const result = await gateway.client.callTool(
      { name: 'count__countdown', arguments: { steps: 8, step_ms: 150 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    )
    assert.match(JSON.stringify(result.content), /liftoff/)
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8])
    // Before, each delay_ms sent another attempt: the backend ran it three times.
    const [call] = exchanges(gateway.portico, 'count__countdown')
    assert.equal(call?.hedges, undefined)
  })
})

describe('gateway: hedging, failover and ejection', () => {
  let primary: FaultyHttp
  let spare: FaultyHttp
  let portico: RunningPortico
  let client: Client
  const clock = new ManualClock()

  before(async () => {
    primary = await startFaultyHttp('primary')
    spare = await startFaultyHttp('spare')
    portico = await startPortico(
      {
        ...quiet,
        backends: [
          {
            name: 'main',
            transport: 'http',
            url: primary.url,
            hedging: { delay_ms: 50, max_hedges: 1 },
            outlier_detection: {
              consecutive_errors: 2,
              interval_seconds: 10,
              base_ejection_seconds: 30,
              max_ejection_percent: 50,
            },
          },
          { name: 'backup', transport: 'http', url: spare.url, failover_for: 'main' },
        ],
      } as ConfigInput,
      { clock },
    )
    client = await connect(portico.url)
    await client.listTools()
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await primary?.close()
    await spare?.close()
  })

  it('hedges a slow read after delay_ms: the first success wins, the loser is cancelled', async () => {
    primary.server.plan([{ mode: 'latency', ms: 30_000, times: 1, tool: 'echo' }])
    const answer = client.callTool({ name: 'main__echo', arguments: { text: 'hedged' } })
    await until(
      () => (primary.server.runs.get('echo') === undefined && clock.pending > 0) || undefined,
      5000,
      'the hedge timer',
    )
    await clock.advance(50)
    assert.match(text(await answer), /primary: hedged/)
    await until(
      () => primary.server.cancelled >= 1 || undefined,
      5000,
      'the slow attempt to be cancelled',
    )
    const [event] = exchanges(portico, 'main__echo')
    assert.equal(event?.hedges, 1)
  })

  it('moves a failed read to the failover backend, keeps a write that may have run where it was', async () => {
    primary.server.plan([{ mode: 'http500', times: 1, tool: 'lookup' }])
    assert.match(
      text(await client.callTool({ name: 'main__lookup', arguments: { key: 'k' } })),
      /spare: value of k/,
    )
    primary.server.plan([{ mode: 'reset-after', times: 1, tool: 'write' }])
    await assert.rejects(client.callTool({ name: 'main__write', arguments: {} }))
    assert.equal(spare.server.runs.get('write'), undefined, 'the write is not sent twice')
    assert.equal(primary.server.runs.get('write'), 1)
  })

  it('ejects the primary after consecutive failures; its traffic moves to the failover until it returns', async () => {
    primary.server.plan([{ mode: 'http500', times: 100, tool: 'echo' }])
    for (let i = 0; i < 2; i++) {
      assert.match(
        text(await client.callTool({ name: 'main__echo', arguments: { text: `f${i}` } })),
        /spare/,
      )
    }
    const runs = primary.server.runs.get('echo')
    assert.match(
      text(await client.callTool({ name: 'main__echo', arguments: { text: 'ejected' } })),
      /spare: ejected/,
    )
    assert.equal(primary.server.runs.get('echo'), runs, 'the ejected primary is skipped')
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.breaker === 'ejected'),
    )
    primary.server.clear()
    await clock.advance(30_000)
    // Ejections are examined every interval_seconds: back at the sweep after 30 s.
    await until(
      async () => {
        const reply = text(
          await client.callTool({ name: 'main__echo', arguments: { text: 'back' } }),
        )
        return reply.startsWith('primary') || undefined
      },
      5000,
      'the primary to be back',
    )
  })
})

describe('gateway: cache, coalescing, mirror and canary', () => {
  let api: FaultyHttp
  let shadow: FaultyHttp
  let canary: FaultyHttp
  let store: FaultyHttp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    api = await startFaultyHttp('api')
    shadow = await startFaultyHttp('shadow')
    canary = await startFaultyHttp('canary')
    store = await startFaultyHttp('store')
    portico = await startPortico({
      ...quiet,
      performance: { coalesce_requests: true },
      backends: [
        { name: 'api', transport: 'http', url: api.url, weight: 3 },
        {
          name: 'shadow',
          transport: 'http',
          url: shadow.url,
          mirror_of: 'api',
          mirror_percent: 50,
        },
        { name: 'next', transport: 'http', url: canary.url, canary_of: 'api', weight: 1 },
        {
          name: 'cached',
          transport: 'http',
          url: store.url,
          cache: { tool_ttl_seconds: 60, resource_ttl_seconds: 60 },
        },
      ],
    } as ConfigInput)
    client = await connect(portico.url, { authorization: 'Bearer alice' })
    await client.listTools()
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    for (const server of [api, shadow, canary, store]) await server?.close()
  })

  it('hides mirror and canary backends from lists', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name)
    assert.ok(names.includes('api__echo'))
    assert.ok(
      !names.some((n) => n.startsWith('shadow__') || n.startsWith('next__')),
      names.join(' '),
    )
  })

  it('caches per caller identity (a v2 client hits what a v1 client stored), recorded as hits', async () => {
    const first = await client.readResource({ uri: 'fault://cached__doc' })
    const v2 = new ClientV2({ name: 'protect-v2', version: '1.0.0' })
    await v2.connect(
      new TransportV2(new URL(portico.url), {
        requestInit: { headers: { authorization: 'Bearer alice' } },
      }),
    )
    try {
      const again = await v2.readResource({ uri: 'fault://cached__doc' })
      assert.deepEqual(again.contents, first.contents)
    } finally {
      await v2.close()
    }
    assert.equal(store.server.runs.get('read:fault://doc'), 1, 'read once upstream')
    const bob = await connect(portico.url, { authorization: 'Bearer bob' })
    try {
      await bob.readResource({ uri: 'fault://cached__doc' })
    } finally {
      await bob.close()
    }
    assert.equal(store.server.runs.get('read:fault://doc'), 2, 'another identity has its own entry')
    await portico.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.method === 'resources/read' && e.cache === 'hit',
      ),
    )
    // isError results are never stored.
    await client.callTool({ name: 'cached__nope', arguments: {} })
    await client.callTool({ name: 'cached__nope', arguments: {} })
    assert.equal(exchanges(portico, 'cached__nope').filter((e) => e.cache === 'hit').length, 0)
  })

  it('splits a primary and its canary by their weights exactly (3:1)', async () => {
    const before = {
      api: api.server.runs.get('lookup') ?? 0,
      canary: canary.server.runs.get('lookup') ?? 0,
    }
    for (let i = 0; i < 8; i++)
      await client.callTool({ name: 'api__lookup', arguments: { key: `k${i}` } })
    assert.equal((api.server.runs.get('lookup') ?? 0) - before.api, 6)
    assert.equal((canary.server.runs.get('lookup') ?? 0) - before.canary, 2)
  })

  it('mirrors mirror_percent of calls, fire-and-forget: a hanging mirror never delays the client', async () => {
    shadow.server.plan([{ mode: 'hang', times: 100, tool: 'write' }])
    for (let i = 0; i < 10; i++) await client.callTool({ name: 'api__write', arguments: { i } })
    await until(
      () => shadow.server.runs.get('arrived:write') === 5 || undefined,
      5000,
      '5 copies at the mirror',
    )
    assert.equal(shadow.server.runs.get('write'), undefined, 'every copy still hangs')
  })

  it('coalesces identical concurrent read-only calls: one upstream call, each caller its own id', async () => {
    const clients = await Promise.all(
      [1, 2, 3].map(() => connect(portico.url, { authorization: 'Bearer carol' })),
    )
    try {
      const results = await Promise.all(
        clients.map((c) => c.callTool({ name: 'cached__slow', arguments: { ms: 300 } })),
      )
      for (const result of results) assert.match(text(result), /slow done/)
      assert.equal(store.server.runs.get('slow'), 1)
    } finally {
      await Promise.all(clients.map((c) => c.close()))
    }
  })
})

describe('gateway: a canary or mirror applies its own filters and argument rules', () => {
  let api: FaultyHttp
  let shadow: FaultyHttp
  let canary: FaultyHttp
  let guarded: FaultyHttp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    api = await startFaultyHttp('api')
    shadow = await startFaultyHttp('shadow')
    canary = await startFaultyHttp('canary')
    guarded = await startFaultyHttp('guarded')
    portico = await startPortico({
      ...quiet,
      backends: [
        { name: 'api', transport: 'http', url: api.url, weight: 1 },
        {
          name: 'shadow',
          transport: 'http',
          url: shadow.url,
          mirror_of: 'api',
          hide_tools: ['lookup'],
        },
        // Never listed for clients: its annotations are looked up for its copies.
        {
          name: 'guarded',
          transport: 'http',
          url: guarded.url,
          mirror_of: 'api',
          read_only_only: true,
        },
        {
          name: 'next',
          transport: 'http',
          url: canary.url,
          canary_of: 'api',
          weight: 1,
          hide_tools: ['write'],
          inject_args: [{ tool: 'echo', args: { text: 'forced' }, overwrite: true }],
        },
      ],
    } as ConfigInput)
    client = await connect(portico.url)
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    for (const server of [api, shadow, canary, guarded]) await server?.close()
  })

  it('a canary is never sent a tool its filters hide: the primary takes every such call', async () => {
    for (let i = 0; i < 4; i++) await client.callTool({ name: 'api__write', arguments: { i } })
    assert.equal(api.server.runs.get('write'), 4)
    assert.equal(canary.server.runs.get('write'), undefined)
  })

  it("the calls a canary takes get the canary's own injected arguments", async () => {
    const answers = []
    for (let i = 0; i < 4; i++) {
      answers.push(text(await client.callTool({ name: 'api__echo', arguments: { text: 'mine' } })))
    }
    assert.deepEqual(answers.sort(), ['api: mine', 'api: mine', 'canary: forced', 'canary: forced'])
  })

  it('a mirror gets no copy of a tool its filters hide', async () => {
    for (let i = 0; i < 3; i++)
      await client.callTool({ name: 'api__lookup', arguments: { key: 'k' } })
    await client.callTool({ name: 'api__echo', arguments: { text: 'last' } })
    await until(
      () => shadow.server.runs.get('arrived:echo') === 5 || undefined,
      5000,
      'echo copies',
    )
    assert.equal(shadow.server.runs.get('arrived:lookup'), undefined)
  })

  it('a mirror with annotation filters gets copies of the tools they let through, only', async () => {
    const before = guarded.server.runs.get('arrived:echo') ?? 0
    for (let i = 0; i < 3; i++) {
      await client.callTool({ name: 'api__echo', arguments: { text: 'copied' } })
      await client.callTool({ name: 'api__write', arguments: { i } })
    }
    // Before, a mirror never listed had no verdict for any tool, and got no copy at all.
    await until(
      () => (guarded.server.runs.get('arrived:echo') ?? 0) >= before + 3 || undefined,
      5000,
      'read-only copies at the guarded mirror',
    )
    assert.equal(guarded.server.runs.get('arrived:write'), undefined)
  })
})

describe('gateway: hedged attempts relay one stream of progress', () => {
  it('a client sees each progress value once, always increasing, while hedges run side by side', async () => {
    // A read-only tool that reports progress 1…6, 40 ms apart, then answers: with a 30 ms hedge
    // delay, two attempts report the same values at once.
    let attempts = 0
    const backend = await serveMcp(async (req, res) => {
      const server = new McpServer({ name: 'counter', version: '1.0.0' })
      server.registerTool(
        'count',
        { description: 'Counts to 6', annotations: { readOnlyHint: true } },
        async (extra) => {
          attempts++
          const token = extra._meta?.progressToken
          for (let progress = 1; progress <= 6; progress++) {
            await new Promise((resolve) => setTimeout(resolve, 40))
            if (token === undefined) continue
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken: token, progress, total: 6 },
            })
          }
          return { content: [{ type: 'text', text: 'counted' }] }
        },
      )
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
      res.on('close', () => void server.close())
      await server.connect(transport)
      await transport.handleRequest(req, res)
    })
    const portico = await startPortico({
      ...quiet,
      backends: [
        {
          name: 'c',
          transport: 'http',
          url: backend.url,
          hedging: { delay_ms: 30, max_hedges: 1 },
        },
      ],
    } as ConfigInput)
    const client = await connect(portico.url)
    try {
      await client.listTools()
      const seen: number[] = []
      const result = await client.callTool({ name: 'c__count', arguments: {} }, undefined, {
        onprogress: (progress) => seen.push(progress.progress),
      })
      assert.equal(text(result), 'counted')
      assert.equal(attempts, 2, 'the hedge ran beside the first attempt')
      assert.ok(seen.length > 0, 'progress reached the client')
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b).filter((v, i, all) => all.indexOf(v) === i),
        `each value once, increasing: ${seen.join(',')}`,
      )
    } finally {
      await client.close()
      await portico.close()
      await backend.close()
    }
  })
})

describe('gateway: a reload keeps the state of the policies it does not change', () => {
  let server: FaultyHttp
  before(async () => {
    server = await startFaultyHttp('fragile')
  })
  after(async () => {
    await server?.close()
  })

  it('an open breaker stays open when only the backend timeout changes, and starts closed for another server', async () => {
    const file = join(scratchDir('portico-protect-reload-'), 'portico.toml')
    const breaker =
      '[backends.circuit_breaker]\nfailure_rate_threshold = 0.5\nminimum_calls = 2\nwait_duration_seconds = 3600\n'
    const toml = (url: string, extra = '') =>
      `port = 0\ndrain_timeout = 2\n[proxy]\nadmin_tools = false\n[store]\nenabled = false\n` +
      `[[backends]]\nname = "fragile"\ntransport = "http"\nurl = "${url}"\n${extra}${breaker}`
    writeFileSync(file, toml(server.url))
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    const client = await connect((await portico.listen()).url)
    const echo = (words: string) =>
      client.callTool({ name: 'fragile__echo', arguments: { text: words } })
    const refusedAsOpen = (error: Error & { code?: number }) => {
      assert.equal(error.code, 503)
      assert.match(error.message, /Circuit of fragile is open/)
      return true
    }
    try {
      await client.listTools()
      server.server.plan([{ mode: 'http500', times: 2, tool: 'write' }])
      for (let i = 0; i < 2; i++) {
        await assert.rejects(client.callTool({ name: 'fragile__write', arguments: {} }))
      }
      await assert.rejects(echo('open'), refusedAsOpen)
      // The backend is rebuilt for its new timeout; its breaker, whose table is the same, is kept.
      writeFileSync(file, toml(server.url, 'timeout = "20s"\n'))
      assert.equal(await portico.reloadConfig(), 'applied')
      await assert.rejects(echo('still open'), refusedAsOpen)
      // Another server under the same name (here the same one by another address): nothing
      // the breaker learned is about it, so it starts closed.
      writeFileSync(file, toml(server.url.replace('127.0.0.1', 'localhost'), 'timeout = "20s"\n'))
      assert.equal(await portico.reloadConfig(), 'applied')
      assert.match(text(await echo('closed')), /closed/)
    } finally {
      await client.close()
      await portico.close()
    }
  })
})
