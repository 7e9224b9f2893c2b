/**
 * A `subscriptions/listen` stream (2026-07-28) ends when its client closes it: its normal end,
 * recorded `ok` as a GET stream's is, in both modes (it was recorded `cancelled`, blaming the
 * client for the only way such a stream ends). A real SDK server behind a real Portico.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type ModernServer, startModernServer } from '../fixtures/modern-server.ts'
import { openListenStream } from '../helpers/listen.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const MODES: Record<string, (upstream: string) => object> = {
  transparent: (upstream) => ({ upstream }),
  gateway: (upstream) => ({ backends: [{ name: 'up', transport: 'http', url: upstream }] }),
}

for (const [mode, modeConfig] of Object.entries(MODES))
  describe(`a listen stream the client closes (${mode} mode)`, () => {
    let upstream: ModernServer
    let portico: RunningPortico
    before(async () => {
      upstream = await startModernServer()
      portico = await startPortico(modeConfig(upstream.url))
    })
    after(async () => {
      await portico?.close()
      await upstream?.close()
    })

    it('is recorded ok', async () => {
      const stream = await openListenStream(portico.url, 'listen-1', { toolsListChanged: true })
      await stream.until((all) => all.some((m) => m.method?.endsWith('/acknowledged')))
      stream.close()
      await portico.sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.method === 'subscriptions/listen'),
      )
      const listen = portico.sink.exchanges().find((e) => e.method === 'subscriptions/listen')
      assert.equal(listen?.outcome, 'ok', JSON.stringify(listen))
    })
  })
