/**
 * Backends added and removed at runtime under new names each time (the admin API, per-deploy
 * names) leave nothing behind in the gateway: each left an ejection group and a health entry,
 * for ever (the leak fuzzer: ~1 KB a cycle, 901 groups alive with one backend configured). A
 * real gateway in process, the admin API over HTTP; the groups alive are counted by V8
 * (`queryObjects`, after its full collection).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { queryObjects } from 'node:v8'
import { OutlierGroup } from '../../src/protect/outlier.ts'
import { type FaultyHttp, startFaultyHttp } from '../fixtures/faulty-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const CYCLES = 40

describe('backends added and removed under new names', () => {
  let upstream: FaultyHttp
  let gateway: RunningPortico

  before(async () => {
    upstream = await startFaultyHttp('churn')
    gateway = await startPortico({
      admin: { enabled: true },
      backends: [{ name: 'kept', transport: 'http', url: upstream.url }],
    })
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  async function admin(method: string, path: string, body?: object): Promise<number> {
    const response = await fetch(`${gateway.origin}/admin${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    await response.arrayBuffer()
    return response.status
  }

  it('leave no ejection group behind', async () => {
    for (let i = 0; i < CYCLES; i++) {
      const name = `deploy-${i}`
      assert.equal(await admin('POST', '/backends/add', { name, url: upstream.url }), 201)
      assert.equal(await admin('DELETE', `/backends/${name}`), 200)
    }
    const groups = queryObjects(OutlierGroup, { format: 'count' })
    assert.ok(groups <= 2, `${groups} ejection groups alive for one backend configured`)
  })
})
