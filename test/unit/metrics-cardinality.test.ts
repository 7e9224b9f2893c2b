/**
 * The requests counter's label combinations stay bounded whatever varies: names fold into
 * `other` once the table is full, and so do backend names (the admin API may add and remove
 * backends without end) and, last, every label (the code read by the operate fuzzer).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PorticoMetrics } from '../../src/metrics/metrics.ts'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { exchangeEvent } from '../helpers/events.ts'

function call(backend: string): ExchangeEvent {
  return exchangeEvent({ method: 'tools/call', name: 'search', backend, ts: 0 })
}

describe('metrics label cardinality', () => {
  it('folds backends into other once the series are full, and counts every call', async () => {
    const metrics = new PorticoMetrics({
      maxTargets: 100,
      processMetrics: false,
      version: 'test',
      mode: 'gateway',
      proxy: 'p',
    })
    const calls = 25_000
    metrics.sink.write(Array.from({ length: calls }, (_, i) => call(`churned-${i}`)))
    const text = await metrics.render()
    const series = text.split('\n').filter((line) => line.startsWith('portico_requests_total{'))
    assert.ok(series.length <= 20_001, `${series.length} series`)
    const counted = series.reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0)
    assert.equal(counted, calls)
    assert.ok(series.some((line) => line.includes('backend="other"')))
  })
})
