/**
 * The active 2025-11-25 conformance suite (0.1.16) against Portico's own legacy fixture:
 * every check must pass direct, and every check must pass through Portico.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  type Comparison,
  compareThroughPortico,
  startFixture,
  tally,
  withStatus,
} from './harness.ts'

describe('conformance 2025-11-25: legacy fixture direct and through Portico', () => {
  let run: Comparison

  before(async () => {
    run = await compareThroughPortico(await startFixture('conformance-server.js'), 'stable')
  })

  after(() => run?.close())

  test('every active check passes direct', () => {
    const { direct } = run
    assert.ok(direct.checks.size >= 40, `only ${direct.checks.size} checks ran`)
    assert.deepEqual(withStatus(direct.checks, 'FAILURE'), [])
    assert.match(direct.output, /Total: \d+ passed, 0 failed/)
    assert.equal(direct.exitCode, 0)
  })

  test('every active check passes through Portico', () => {
    const { direct, proxied } = run
    assert.deepEqual([...proxied.checks.keys()].sort(), [...direct.checks.keys()].sort())
    assert.deepEqual(withStatus(proxied.checks, 'FAILURE'), [])
    assert.equal(tally(proxied.checks).passed, tally(direct.checks).passed)
    assert.equal(proxied.exitCode, 0)
  })

  test('Portico saw the suite traffic', () => {
    const methods = new Set(run.portico.sink.exchanges().map((e) => e.method))
    for (const method of ['initialize', 'tools/call', 'resources/read', 'prompts/get']) {
      assert.ok(methods.has(method), `no ${method} exchange recorded`)
    }
  })
})
