/**
 * The 2026-07-28 requirement set (`--requirements 2026-07-28`, conformance 0.2.0-alpha) against
 * Portico's own modern fixture: direct, everything outside the baseline YAML passes, and
 * through Portico every check has exactly the direct status.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  assertTotalsAgree,
  type Comparison,
  compareThroughPortico,
  differences,
  ROOT,
  startFixture,
  summary,
  tally,
  withStatus,
} from './harness.ts'

const BASELINE = join(ROOT, 'test', 'conformance', 'expected-failures-2026-07-28.yaml')
const ARGS = ['--requirements', '2026-07-28', '--expected-failures', BASELINE]

/** The whole-scenario entries of the baseline's `server:` list. */
async function baselinedScenarios(): Promise<Set<string>> {
  const yaml = await readFile(BASELINE, 'utf8')
  return new Set([...yaml.matchAll(/^\s+-\s+([\w-]+)\s*$/gm)].map((match) => match[1] as string))
}

describe('conformance 2026-07-28: modern fixture direct and through Portico', () => {
  let run: Comparison

  before(async () => {
    run = await compareThroughPortico(
      () => startFixture('conformance-modern-server.js'),
      'next',
      ARGS,
    )
  })

  after(() => run?.close())

  test('direct: every failing check is in a baselined (unscored) scenario', async () => {
    const { direct } = run
    const baselined = await baselinedScenarios()
    assert.ok(direct.checks.size >= 150, `only ${direct.checks.size} checks ran`)
    const unexpected = withStatus(direct.checks, 'FAILURE').filter(
      (id) => !baselined.has(id.slice(0, id.indexOf('/'))),
    )
    assert.deepEqual(unexpected, [])
    for (const scenario of ['server-stateless', 'http-header-validation', 'caching']) {
      assert.ok(
        [...direct.checks.keys()].some((id) => id.startsWith(`${scenario}/`)),
        `${scenario} did not run`,
      )
    }
    // Exit 0 also means no baseline entry has gone stale (now passing).
    assert.equal(direct.exitCode, 0, direct.output.slice(-2000))
  })

  test('through Portico every check has the direct status', (t) => {
    t.diagnostic(summary(run))
    assertTotalsAgree(run.direct, run.proxied)
    const { direct, proxied } = run
    assert.deepEqual(differences(direct.checks, proxied.checks), [])
    assert.deepEqual(tally(proxied.checks), tally(direct.checks))
    assert.equal(proxied.exitCode, 0, proxied.output.slice(-2000))
  })

  test('Portico recorded the modern traffic', () => {
    const exchanges = run.portico.sink.exchanges()
    const methods = new Set(exchanges.map((e) => e.method))
    for (const method of ['server/discover', 'subscriptions/listen', 'tools/call']) {
      assert.ok(methods.has(method), `no ${method} exchange recorded`)
    }
    assert.ok(
      exchanges.some((e) => e.era === 'modern'),
      'no exchange classified modern',
    )
  })
})
