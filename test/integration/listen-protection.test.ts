/**
 * A 2026-07-28 `subscriptions/listen` lasts until its client closes it, as a GET stream does,
 * and traffic protection treats it so: it takes no `[concurrency]` slot (two idle listeners
 * held both slots of `max_concurrent = 2`, and every real call of every client was refused
 * 429 after `queue_timeout`), and `[timeout] seconds`, the whole call's deadline, does not cut
 * it (every listen ended at the deadline with a -32603 error). From the transparent-streams
 * fuzzer's third round (L4); both failed before. A real SDK server behind a real Portico.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ModernServer, startModernServer } from '../fixtures/modern-server.ts'
import { openListenStream } from '../helpers/listen.ts'
import { statelessRequest } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

describe('listen streams under traffic protection (transparent mode)', () => {
  let upstream: ModernServer
  let portico: RunningPortico
  before(async () => {
    upstream = await startModernServer()
    portico = await startPortico({
      upstream: upstream.url,
      concurrency: { max_concurrent: 2, queue_timeout: '1s' },
      timeout: { seconds: 1 },
    })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  it('take no concurrency slot', async () => {
    const listeners = await Promise.all(
      ['one', 'two', 'three'].map((id) =>
        openListenStream(portico.url, id, { toolsListChanged: true }),
      ),
    )
    try {
      for (const listener of listeners) {
        await listener.until((all) => all.some((m) => m.method?.endsWith('/acknowledged')))
      }
      // Before: 429, both slots held by the listeners.
      const call = await statelessRequest(portico.url, 'tools/call', {
        name: 'echo',
        arguments: { text: 'through' },
      })
      assert.equal(call.result?.content?.[0]?.text, 'echo: through', JSON.stringify(call))
    } finally {
      for (const listener of listeners) listener.close()
    }
  })

  it('outlive the whole call deadline ([timeout] seconds)', async () => {
    const listeners = await Promise.all(
      ['four', 'five'].map((id) => openListenStream(portico.url, id, { toolsListChanged: true })),
    )
    try {
      // Past the one-second deadline, each listener still hears the upstream.
      await sleep(1500)
      upstream.toolsChanged()
      for (const listener of listeners) {
        const heard = await listener.until(
          (all) => all.some((m) => m.method === 'notifications/tools/list_changed'),
          'the list change, past the deadline',
        )
        // Before: the stream ended at 1 s with "did not answer within 1000 ms".
        assert.ok(!JSON.stringify(heard).includes('did not answer'), JSON.stringify(heard))
      }
    } finally {
      for (const listener of listeners) listener.close()
    }
  })
})
