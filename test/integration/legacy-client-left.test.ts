/**
 * Legacy HTTP+SSE (2024-11-05) in transparent mode when the client goes away: its SSE stream
 * closes while calls of its session wait for their answers. Those calls are recorded as the
 * Streamable HTTP path records a call whose client left (`cancelled`), not as the upstream's
 * failure (`upstream_stream_ended`, as they were); the upstream's stream is closed with it (the
 * legacy form of aborting the upstream request). The session is recorded as ended, so
 * `portico status` no longer counts it active (it did, for five minutes after).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { cliJson } from '../helpers/cli.ts'
import {
  type LegacyClient,
  type LegacyUpstream,
  openLegacyClient,
  sseMessage,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

describe('legacy HTTP+SSE: the client leaves while its calls wait', () => {
  let dir: string
  let db: string
  let store: StoreSink
  let upstream: LegacyUpstream
  let portico: RunningPortico
  /** Leaves while two calls wait. */
  let leaving: LegacyClient
  /** Stays. */
  let staying: LegacyClient

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-legacy-left-'))
    db = join(dir, 'store.db')
    store = storeSink({ path: db, proxy: 'legacy-left', flushMs: 30 })
    upstream = await startLegacyUpstream({
      // `slow` is never answered: it is still waiting when its client leaves.
      answer: (message, stream) => {
        if (message.method === 'slow') return
        stream.write(sseMessage({ jsonrpc: '2.0', id: message.id, result: {} }))
      },
    })
    portico = await startPortico(
      { upstream: upstream.url, name: 'legacy-left', request_timeout: '30s' },
      { sinks: [store] },
    )
    staying = await openLegacyClient(portico.origin)
    assert.equal(await staying.post({ jsonrpc: '2.0', id: 1, method: 'echo' }), 202)
    await staying.readUntil((text) => text.includes('"id":1,'), 'the staying client’s answer')
    leaving = await openLegacyClient(portico.origin)
    assert.equal(await leaving.post({ jsonrpc: '2.0', id: 1, method: 'slow' }), 202)
    assert.equal(await leaving.post({ jsonrpc: '2.0', id: 2, method: 'slow' }), 202)
    assert.equal(upstream.openStreams(), 2)
    leaving.leave()
  })
  after(async () => {
    staying?.leave()
    await portico?.close()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('records the waiting calls as cancelled, and closes the upstream’s stream', async () => {
    const session = new URL(leaving.endpoint).searchParams.get('sessionId')
    const waited = () =>
      portico.sink.exchanges().filter((e) => e.sessionId === session && e.kind === 'request')
    await portico.sink.waitFor(() => waited().length === 2)
    for (const event of waited()) {
      assert.equal(event.outcome, 'cancelled', `id ${event.jsonrpcId}`)
      assert.equal(event.reason, 'cancelled', `id ${event.jsonrpcId}`)
    }
    await until(() => upstream.openStreams() === 1, 5000, 'the upstream stream closed')
  })

  it('portico status counts the session whose stream ended as ended, not active', async () => {
    // The staying client's call, and the leaving one's stream and two calls.
    await until(() => store.stats().written >= 4, 5000, 'the rows written to the store')
    const [status] = await cliJson<{ sessions: { total: number; active: number } }>([
      'status',
      '--db',
      db,
      '--proxy',
      'legacy-left',
    ])
    assert.deepEqual(status?.sessions, { total: 2, active: 1 })
    const sessions = await cliJson<{ session_id: string; active: boolean }>([
      'sessions',
      '--db',
      db,
      '--active',
    ])
    assert.deepEqual(
      sessions.map((s) => s.session_id),
      [new URL(staying.endpoint).searchParams.get('sessionId')],
    )
  })
})
