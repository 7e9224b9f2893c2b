import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type Comparison,
  maxDiff,
  medDiff,
  medRatio,
  roundRatios,
} from '../../bench/lib/compare.ts'
import { renderVerdicts, type Verdict, verdictsAtLoad } from '../../bench/lib/report.ts'
import {
  formatRatio,
  formatUs,
  median,
  percentile,
  ratio,
  summarize,
} from '../../bench/lib/stats.ts'
import { verdicts } from '../../bench/lib/targets.ts'
import { pairedRatio } from '../../bench/lib/together.ts'

describe('bench statistics', () => {
  it('percentile uses the nearest rank', () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    const cases: Array<[number, number]> = [
      [0, 1],
      [10, 1],
      [50, 5],
      [90, 9],
      [99, 10],
      [100, 10],
    ]
    for (const [p, expected] of cases) assert.equal(percentile(samples, p), expected, `p${p}`)
    assert.ok(Number.isNaN(percentile([], 50)))
  })

  it('median handles odd, even and non-finite inputs', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
    assert.equal(median([Number.NaN, 7, Number.POSITIVE_INFINITY]), 7)
    assert.ok(Number.isNaN(median([])))
  })

  it('summarize reports count, percentiles and max', () => {
    const samples = Array.from({ length: 1000 }, (_, i) => i + 1)
    assert.deepEqual(summarize(samples), { count: 1000, p50: 500, p90: 900, p99: 990, max: 1000 })
  })

  it('ratio refuses a zero or missing denominator', () => {
    assert.equal(ratio(3, 2), 1.5)
    assert.ok(Number.isNaN(ratio(1, 0)))
    assert.ok(Number.isNaN(ratio(Number.NaN, 2)))
  })

  it('formats microseconds and ratios for the report', () => {
    assert.equal(formatUs(87.4), '87 µs')
    assert.equal(formatUs(1240), '1.24 ms')
    assert.equal(formatUs(Number.NaN), '—')
    assert.equal(formatRatio(1.234), '1.23×')
  })

  it('holds figures against their targets only when the section began at a load average of 1 or less', () => {
    const verdicts: Verdict[] = [
      { scenario: 'S1', target: 'p99 ≤ 1 ms', measured: '+0.8 ms', met: true },
      { scenario: 'S1', target: 'req/s ≥ 0.8 × bare', measured: '0.7×', met: false },
    ]
    const quiet = renderVerdicts(verdictsAtLoad(verdicts, 0.95))
    assert.match(quiet, /\| met \|/)
    assert.match(quiet, /\*\*missed\*\*/)
    const busy = renderVerdicts(verdictsAtLoad(verdicts, 1.6))
    assert.doesNotMatch(busy, /\| met \||missed/)
    assert.equal(
      busy.match(/not compared: load average 1\.60 at the start of the section/g)?.length,
      2,
    )
    // The measured figures are still shown.
    assert.match(busy, /\+0\.8 ms/)
  })

  it('pairs slices taken at the same moments: B ÷ A per slice, then median and quartiles', () => {
    // The machine slowed down in the middle: both sides took longer, their ratio did not move.
    const a = [100, 100, 200, 200, 100]
    const b = [110, 120, 220, 240, 130]
    const paired = pairedRatio(a, b)
    assert.equal(paired.median, 1.2)
    assert.equal(paired.q1, 1.1)
    assert.equal(paired.q3, 1.2)
    // A slice without a figure on one side (no requests, no CPU reading) is left out.
    assert.equal(pairedRatio([100, 0, Number.NaN], [150, 10, 20]).median, 1.5)
  })

  it('reads per-round differences and ratios: the median one, and the worst round', () => {
    const comparison: Comparison = {
      names: ['direct', 'portico'],
      rounds: new Map([
        [
          'direct',
          [
            { p99: 500, rps: 100 },
            { p99: 2000, rps: 50 },
            { p99: 600, rps: 100 },
          ],
        ],
        [
          'portico',
          [
            { p99: 900, rps: 90 },
            { p99: 2100, rps: 40 },
            { p99: 1900, rps: 95 },
          ],
        ],
      ]),
      skipped: [],
    }
    // Differences within each round: +400, +100, +1300.
    assert.equal(medDiff(comparison, 'portico', 'direct', 'p99'), 400)
    assert.equal(maxDiff(comparison, 'portico', 'direct', 'p99'), 1300)
    // Ratios within each round: 0.9, 0.8, 0.95.
    assert.equal(medRatio(comparison, 'portico', 'direct', 'rps'), 0.9)
    assert.deepEqual(roundRatios(comparison, 'portico', 'direct', 'rps'), [0.9, 0.8, 0.95])
    // Rounds where a side lacks the metric are left out, not counted as zero.
    assert.deepEqual(roundRatios(comparison, 'portico', 'direct', 'cpu'), [])
    assert.ok(Number.isNaN(maxDiff(comparison, 'portico', 'nginx', 'p99')))
  })

  it('holds issue 18’s targets against the figures they name', () => {
    const MB = 1024 * 1024
    const figures = new Map<string, number>([
      ['S1.c16.portico.cpu', 76],
      ['S1.c16.bare-node.cpu', 50],
      ['S1.c16.portico.cpuOver.bare-node', 1.52],
      ['S1.c16.portico.rpsOver.bare-node', 0.81],
      ['S1.c1.portico.addedP50', 204],
      ['S1.c1.bare-node.addedP50', 166],
      ['S1.c1.portico.addedP99', 409],
      ['S1.c1.portico.addedP99Max', 1200],
      ['S1.c1.portico.rpsOver.portico-nostore', 0.947],
      ['S1.c16.portico.rpsOver.portico-nostore', 0.9],
      ['S2.portico.addedFirst', 450],
      ['C1.portico.1000.rss', 169 * MB],
    ])
    const issue18 = verdicts(figures).filter((v) => v.target.includes('(issue 18)'))
    const met = Object.fromEntries(issue18.map((v) => [v.target, v.met]))
    assert.equal(issue18.length, 8)
    assert.equal(
      met['S1 c=16 (issue 18): CPU per request ≤ 1.25 × bare Node’s, recording on'],
      false,
    )
    assert.equal(met['S1 c=16 (issue 18): req/s ≥ 0.8 × bare Node’s'], true)
    assert.equal(met['S1 c=1 (issue 18): added p50 ≤ 1.5 × bare Node’s'], true)
    // The median round is within 1 ms; one round is not, and the target asks for every round.
    assert.equal(met['S1 c=1 (issue 18): added p99 ≤ 1 ms in every round'], false)
    assert.equal(
      met['S1 c=1 (issue 18): recording on keeps ≥ 95 % of the throughput of store off'],
      false,
    )
    assert.equal(
      met['S1 c=16 (issue 18): recording on keeps ≥ 90 % of the throughput of store off'],
      true,
    )
    assert.equal(met['S2 (issue 18): the first event within 0.5 ms of direct'], true)
    const rss = issue18.find((v) => v.scenario === 'C1')
    assert.equal(rss?.met, false)
    assert.equal(rss?.measured, '169.0 MB')
    // A figure the run did not produce is not judged.
    const none = verdicts(new Map()).filter((v) => v.target.includes('(issue 18)'))
    assert.ok(none.every((v) => v.met === undefined))
  })
})
