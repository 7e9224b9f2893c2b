/**
 * A client that goes away before its answer starts is recorded as `cancelled`, not as the
 * upstream's failure: real Portico (transparent and gateway mode) in front of the fault server
 * over HTTP, a real SQLite store, and a client that closes its connection while the upstream
 * still works on its call. The HTTP client used to report its aborted request as
 * `upstream_unavailable` (502, "unreachable"), and the store recorded that.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import type { ConfigInput } from '../../src/config/schema.ts'
import { storeSink } from '../../src/store/sink.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { initializeBody, MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

interface Row {
  status: string
  outcome: string
  reason: string | null
  http_status: number
}

describe('a client that leaves before its answer starts', () => {
  const dir = scratchDir('portico-cancel-')
  let upstream: FaultyHttp
  const running: RunningPortico[] = []

  before(async () => {
    upstream = await startFaultyHttp('slowpoke')
  })
  after(async () => {
    for (const portico of running) await portico.close()
    await upstream.close()
  })

  /** Starts Portico with a store, calls `tool` and leaves once the upstream is working on it. */
  async function leaveDuringCall(name: string, config: ConfigInput, tool: string): Promise<Row> {
    const db = join(dir, `${name}.db`)
    const portico = await startPortico(
      { ...config, name, store: { path: db } },
      { sinks: [storeSink({ path: db, proxy: name, flushMs: 30 })] },
    )
    running.push(portico)
    const init = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_ACCEPT,
      body: initializeBody({ id: 1 }),
    })
    const session = init.headers.get('mcp-session-id')
    await init.text()
    const cancelled = upstream.server.cancelled
    const call = request(portico.url, {
      method: 'POST',
      headers: {
        ...MCP_ACCEPT,
        'mcp-protocol-version': '2025-11-25',
        ...(session ? { 'mcp-session-id': session } : {}),
      },
    })
    let answered = false
    call.on('response', () => {
      answered = true
    })
    call.on('error', () => {})
    call.end(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 'leaving',
        method: 'tools/call',
        params: { name: tool },
      }),
    )
    // The upstream holds the call (the `hang` tool answers only when cancelled): leave now.
    await until(
      () => (upstream.server.runs.get('hang') ?? 0) > 0 || undefined,
      5000,
      'the upstream to start the call',
    )
    assert.equal(answered, false, 'no answer has started')
    call.destroy()
    await until(
      () => upstream.server.cancelled > cancelled || undefined,
      5000,
      'the upstream to see the call cancelled',
    )
    upstream.server.runs.delete('hang')
    return until(
      () => {
        const store = new Database(db, { readonly: true })
        try {
          return store
            .prepare(
              `SELECT status, outcome, reason, http_status FROM exchanges WHERE jsonrpc_id = '"leaving"'
                 OR jsonrpc_id = 'leaving'`,
            )
            .get() as Row | undefined
        } finally {
          store.close()
        }
      },
      10_000,
      `the ${name} call in the store`,
    )
  }

  it('transparent mode: recorded as cancelled, not upstream_unavailable', async () => {
    const row = await leaveDuringCall('transparent', { upstream: upstream.url }, 'hang')
    assert.deepEqual(
      { status: row.status, outcome: row.outcome, reason: row.reason },
      {
        status: 'cancelled',
        outcome: 'cancelled',
        reason: 'cancelled',
      },
    )
  })

  it('gateway mode: recorded as cancelled too', async () => {
    const row = await leaveDuringCall(
      'gateway',
      {
        proxy: { admin_tools: false },
        backends: [{ name: 'slow', transport: 'http', url: upstream.url }],
      },
      'slow__hang',
    )
    assert.deepEqual(
      { status: row.status, outcome: row.outcome, reason: row.reason },
      {
        status: 'cancelled',
        outcome: 'cancelled',
        reason: 'cancelled',
      },
    )
  })
})
