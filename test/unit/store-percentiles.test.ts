/** Percentile maths on known distributions: exact nearest-rank, and the histogram's estimate. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bucketOf, bucketRange, Histogram, nearestRank } from '../../src/store/histogram.ts'

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/** A deterministic pseudo-random sequence (no flaky tests). */
function* lcg(seed: number): Generator<number> {
  let state = seed
  for (;;) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    yield state / 2 ** 31
  }
}

describe('nearestRank', () => {
  const cases: Array<[number[], number, number | undefined]> = [
    [[], 0.5, undefined],
    [[7], 0.99, 7],
    [[1, 2, 3, 4], 0.5, 2],
    [[1, 2, 3, 4], 0.75, 3],
    [[1, 2, 3, 4], 1, 4],
    [[1, 2, 3, 4], 0, 1],
    [Array.from({ length: 100 }, (_, i) => i + 1), 0.95, 95],
    [Array.from({ length: 100 }, (_, i) => i + 1), 0.99, 99],
    [Array.from({ length: 1000 }, (_, i) => i + 1), 0.5, 500],
  ]
  for (const [values, p, expected] of cases) {
    it(`p${p * 100} of ${values.length} values is ${expected}`, () => {
      assert.equal(nearestRank(values, p), expected)
    })
  }
})

describe('histogram buckets', () => {
  it('are exact below 128 µs and contiguous above', () => {
    for (let v = 0; v < 128; v++) assert.deepEqual(bucketRange(bucketOf(v)), [v, v + 1])
    for (const v of [128, 129, 1000, 65_535, 65_536, 1_234_567, 2 ** 31 - 1, 2 ** 40]) {
      const [low, high] = bucketRange(bucketOf(v))
      assert.ok(low <= v && v < high, `${v} in [${low}, ${high})`)
      assert.ok((high - low) / low <= 1 / 64 + 1e-9, `bucket of ${v} is narrow`)
      assert.equal(bucketOf(high), bucketOf(v) + 1, 'next bucket starts where this one ends')
    }
  })
})

describe('Histogram.percentile', () => {
  const distributions: Record<string, number[]> = {
    constant: Array.from({ length: 500 }, () => 150_000),
    uniform: Array.from({ length: 10_000 }, (_, i) => 1000 + i * 37),
    bimodal: [
      ...Array.from({ length: 900 }, (_, i) => 10_000 + (i % 10)),
      ...Array.from({ length: 100 }, (_, i) => 2_000_000 + i * 100),
    ],
    random: Array.from(
      (function* () {
        const rnd = lcg(42)
        for (let i = 0; i < 5000; i++)
          yield Math.round(50 + (rnd.next().value as number) ** 3 * 5_000_000)
      })(),
    ),
    tiny: [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5],
  }
  for (const [name, values] of Object.entries(distributions)) {
    it(`${name}: p50/p95/p99 within 0.8% of the exact nearest-rank value`, () => {
      const exact = sorted(values)
      const histogram = new Histogram()
      for (const v of values) histogram.add(v)
      for (const p of [0.5, 0.95, 0.99, 1]) {
        const want = nearestRank(exact, p) as number
        const got = histogram.percentile(p) as number
        assert.ok(
          Math.abs(got - want) <= want * 0.008 + 0.5,
          `${name} p${p * 100}: ${got} vs ${want}`,
        )
      }
    })
  }

  it('merges and round-trips through its stored form', () => {
    const a = new Histogram()
    const b = new Histogram()
    const all: number[] = []
    for (let i = 0; i < 2000; i++) {
      const v = 500 + i * 250
      ;(i % 2 ? a : b).add(v)
      all.push(v)
    }
    const merged = Histogram.parse(a.serialize(), 500, 500 + 1998 * 250)
    merged.merge(Histogram.parse(b.serialize(), 750, 500 + 1999 * 250))
    assert.equal(merged.count, 2000)
    const want = nearestRank(sorted(all), 0.95) as number
    const got = merged.percentile(0.95) as number
    assert.ok(Math.abs(got - want) <= want * 0.008)
    assert.equal(merged.percentile(1), 500 + 1999 * 250, 'max is exact')
  })

  it('is empty without samples', () => {
    assert.equal(new Histogram().percentile(0.5), undefined)
  })
})
