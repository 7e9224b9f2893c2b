/**
 * How the store groups a gateway's stateless (2026-07-28) requests into `~` sessions: by client
 * and by the verified caller, and never by what a refused request claimed.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { cliJson } from '../helpers/cli.ts'
import { modernHeadersOf } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

type Row = Record<string, unknown>

const ALICE = 'alice-key-0123456789abcdef'
const BOB = 'bob-key-0123456789abcdef00'
let nextId = 1

/** One POST to the gateway as `key`, from a client whose User-Agent is `agent`. */
async function post(url: string, key: string, agent: string, body: unknown): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'user-agent': agent,
      'mcp-protocol-version': '2026-07-28',
      // A batch carries no standard headers of one request.
      ...(Array.isArray(body) ? {} : modernHeadersOf(body as { method?: unknown })),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  await response.text()
  return response.status
}

/** A stateless `tools/call`; with `client`, its `_meta` names that client. */
function statelessCall(client?: { name: string; version: string }): object {
  const meta: Record<string, unknown> = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  }
  if (client) meta['io.modelcontextprotocol/clientInfo'] = client
  const params = { name: 'up__fast', arguments: {}, _meta: meta }
  return { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params }
}

describe('store: grouped stateless sessions of a gateway', () => {
  let dir: string
  let db: string
  let upstream: StoreUpstream
  let portico: RunningPortico
  let sink: StoreSink

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-grouped-'))
    db = join(dir, 'store.db')
    upstream = await startStoreUpstream()
    sink = storeSink({ path: db, proxy: 'grouped', flushMs: 30 })
    portico = await startPortico(
      {
        name: 'grouped',
        auth: {
          api_keys: [
            { name: 'alice', key: ALICE },
            { name: 'bob', key: BOB },
          ],
        },
        proxy: { admin_tools: false },
        backends: [{ name: 'up', transport: 'http', url: upstream.url }],
      },
      { sinks: [sink] },
    )
  })

  after(async () => {
    await portico?.close()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps two callers of one client app in two sessions', async () => {
    const app = { name: 'claude-ai', version: '1.0' }
    for (const key of [ALICE, BOB, ALICE]) {
      assert.equal(await post(portico.url, key, 'same-agent', statelessCall(app)), 200)
    }
    await until(() => sink.stats().written >= 3, 5000, 'the three rows')
    const sessions = (await cliJson<Row>(['sessions', '--db', db])).filter(
      (s) => s.client_name === 'claude-ai',
    )
    assert.deepEqual(
      sessions.map((s) => s.calls).sort(),
      [1, 2],
      `alice's two calls and bob's one: ${JSON.stringify(sessions)}`,
    )
  })

  it('does not name later calls after the client of a refused batched initialize', async () => {
    const before = sink.stats().written
    const initialize = {
      jsonrpc: '2.0',
      id: nextId++,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'impostor', version: '9' },
      },
    }
    // Refused (initialize must not be batched); then stateless calls that name no client.
    await post(portico.url, ALICE, 'agent-b', [initialize])
    assert.equal(await post(portico.url, ALICE, 'agent-b', statelessCall()), 200)
    assert.equal(await post(portico.url, ALICE, 'agent-b', statelessCall()), 200)
    await until(() => sink.stats().written >= before + 3, 5000, 'the three rows')
    const sessions = await cliJson<Row>(['sessions', '--db', db])
    // The refused initialize is recorded under the name it gave; the calls after it are not.
    const named = sessions.filter((s) => s.client_name === 'impostor')
    assert.deepEqual(
      named.map((s) => [s.calls, s.errors]),
      [[1, 1]],
      `the stateless calls are not impostor's: ${JSON.stringify(sessions)}`,
    )
  })
})
