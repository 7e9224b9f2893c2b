/**
 * FixedHistogram must be indistinguishable from prom-client's Histogram to a scraper and to
 * the cluster aggregator: the same observations (bounds included: `le` is inclusive) give the
 * same exposition text and the same aggregated JSON.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import type * as PromClient from 'prom-client'
import { FixedHistogram } from '../../src/metrics/histogram.ts'

const prom = createRequire(import.meta.url)('prom-client') as typeof PromClient
const BUCKETS = [0.001, 0.01, 0.1, 1]
const OBSERVED: Array<[string, number]> = [
  ['a', 0.0005],
  ['a', 0.001],
  ['a', 0.05],
  ['b', 0.1],
  ['b', 5],
  ['a', 1],
]

function theirs(): PromClient.Registry {
  const registry = new prom.Registry()
  const histogram = new prom.Histogram({
    name: 'h_seconds',
    help: 'help',
    labelNames: ['method', 'outcome'],
    buckets: BUCKETS,
    registers: [registry],
  })
  for (const [method, value] of OBSERVED) histogram.observe({ method, outcome: 'ok' }, value)
  return registry
}

function ours(): PromClient.Registry {
  const registry = new prom.Registry()
  const histogram = new FixedHistogram({
    name: 'h_seconds',
    help: 'help',
    buckets: BUCKETS,
    registers: [registry],
  })
  for (const [method, value] of OBSERVED) {
    histogram.series(method, { method, outcome: 'ok' }).observe(value)
  }
  return registry
}

describe('FixedHistogram', () => {
  it('exposes the same text as prom-client for the same observations', async () => {
    assert.equal(await ours().metrics(), await theirs().metrics())
  })

  it('aggregates across processes as prom-client histograms do', async () => {
    const aggregate = async (make: () => PromClient.Registry) =>
      prom.AggregatorRegistry.aggregate([
        await make().getMetricsAsJSON(),
        await make().getMetricsAsJSON(),
      ]).metrics()
    const text = await aggregate(ours)
    assert.equal(text, await aggregate(theirs))
    assert.match(text, /h_seconds_count\{method="a",outcome="ok"\} 8/)
  })
})
