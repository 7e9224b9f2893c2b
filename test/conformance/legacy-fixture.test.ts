/**
 * The active 2025-11-25 conformance suite (0.1.16) against Portico's own legacy fixture:
 * every check must pass direct, and every check must pass through Portico. Then the frozen
 * 2025-11-25 requirement set of the next suite (0.2.0-alpha: adds session lifecycle, SSE
 * polling/resumption and wire-schema checks): the same status for every check through Portico.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  ACTIVE_SCENARIOS,
  assertTotalsAgree,
  type Comparison,
  compareThroughPortico,
  differences,
  ROOT,
  scenariosOf,
  startFixture,
  summary,
  withStatus,
} from './harness.ts'

const BASELINE = join(ROOT, 'test', 'conformance', 'expected-failures-2025-11-25.yaml')

describe('conformance 2025-11-25: legacy fixture direct and through Portico', () => {
  let run: Comparison

  before(async () => {
    run = await compareThroughPortico(() => startFixture('conformance-server.js'), 'stable')
  })

  after(() => run?.close())

  test('every active check passes direct', () => {
    const { direct } = run
    assert.deepEqual(scenariosOf(direct.checks), [...ACTIVE_SCENARIOS])
    assert.deepEqual(withStatus(direct.checks, 'FAILURE'), [])
    assert.match(direct.output, /Total: \d+ passed, 0 failed/)
    assert.equal(direct.exitCode, 0)
  })

  test('every active check passes through Portico', (t) => {
    t.diagnostic(summary(run))
    assertTotalsAgree(run.direct, run.proxied)
    const { direct, proxied } = run
    assert.deepEqual(differences(direct.checks, proxied.checks), [])
    assert.deepEqual(withStatus(proxied.checks, 'FAILURE'), [])
    assert.equal(proxied.exitCode, 0)
  })

  test('Portico saw the suite traffic', () => {
    const methods = new Set(run.portico.sink.exchanges().map((e) => e.method))
    for (const method of ['initialize', 'tools/call', 'resources/read', 'prompts/get']) {
      assert.ok(methods.has(method), `no ${method} exchange recorded`)
    }
  })
})

describe('conformance 2025-11-25 requirement set (next suite): legacy fixture', () => {
  let run: Comparison

  before(async () => {
    const args = ['--requirements', '2025-11-25', '--expected-failures', BASELINE]
    run = await compareThroughPortico(() => startFixture('conformance-server.js'), 'next', args)
  })

  after(() => run?.close())

  test('direct: everything passes but the baselined pending scenario', () => {
    const { direct } = run
    const failures = withStatus(direct.checks, 'FAILURE')
    assert.ok(
      failures.every((id) => id.startsWith('json-schema-2020-12/')),
      failures.join(', '),
    )
    for (const check of [
      'server-session-lifecycle/server-session-terminated-returns-404',
      'server-sse-polling/server-sse-disconnect-resume',
    ]) {
      assert.equal(direct.checks.get(check), 'SUCCESS', check)
    }
    assert.equal(direct.exitCode, 0, direct.output.slice(-2000))
  })

  test('through Portico every check has the direct status', (t) => {
    t.diagnostic(summary(run))
    assertTotalsAgree(run.direct, run.proxied)
    assert.deepEqual(differences(run.direct.checks, run.proxied.checks), [])
    assert.equal(run.proxied.exitCode, 0, run.proxied.output.slice(-2000))
  })
})
