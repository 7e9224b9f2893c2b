/**
 * The store records a session's protocol version as agreed in `initialize` (the server's
 * answer), not the one the client asked for, in both modes.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { cliJson } from '../helpers/cli.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

type Row = Record<string, unknown>

/** An `initialize` asking for a version no server knows; the version the answer agreed on. */
async function initializeFuture(url: string): Promise<{ session: string; agreed: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2099-01-01',
        capabilities: {},
        clientInfo: { name: 'future', version: '1' },
      },
    }),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  const agreed = /"protocolVersion":"([^"]+)"/.exec(text)?.[1]
  assert.ok(agreed, text)
  return { session: response.headers.get('mcp-session-id') ?? '', agreed }
}

describe('store: the protocol version a session agreed on', () => {
  let dir: string
  let upstream: StoreUpstream

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-agreed-'))
    upstream = await startStoreUpstream()
  })
  after(async () => {
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  for (const mode of ['transparent', 'gateway'] as const) {
    it(`${mode}: records the initialize result's version`, async () => {
      const db = join(dir, `${mode}.db`)
      const sink: StoreSink = storeSink({ path: db, proxy: mode, flushMs: 30 })
      const config =
        mode === 'transparent'
          ? { name: mode, upstream: upstream.url }
          : {
              name: mode,
              proxy: { admin_tools: false },
              backends: [{ name: 'up', transport: 'http' as const, url: upstream.url }],
            }
      const portico: RunningPortico = await startPortico(config, { sinks: [sink] })
      try {
        const { session, agreed } = await initializeFuture(portico.url)
        assert.notEqual(agreed, '2099-01-01')
        assert.ok(session, 'a session was created')
        await until(() => sink.stats().written >= 1, 5000, 'the initialize row')
        const row = await until(
          async () => (await cliJson<Row>(['sessions', '--db', db]))[0],
          10_000,
          'the session row',
        )
        assert.equal(row?.protocol_version, agreed, JSON.stringify(row))
      } finally {
        await portico.close()
      }
    })
  }
})
