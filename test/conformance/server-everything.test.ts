/**
 * The active 2025-11-25 conformance suite against @modelcontextprotocol/server-everything, which
 * implements few of the suite's fixed names: Portico must not change a single check's result.
 * Portico's own Origin and Host guards are opened (`allowed_origins`, `allowed_hosts` = `["*"]`)
 * for the comparison, since they deliberately reject the DNS-rebinding probe that
 * server-everything itself accepts; a second Portico with the default guards shows that scenario
 * passing through Portico. Each run
 * has a server-everything process of its own (it keeps sessions and subscriptions).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import {
  ACTIVE_SCENARIOS,
  assertTotalsAgree,
  type Comparison,
  compareThroughPortico,
  differences,
  type Fixture,
  runSuite,
  type SuiteRun,
  scenariosOf,
  startServerEverything,
  summary,
  tally,
} from './harness.ts'

const REBINDING = 'dns-rebinding-protection'

describe('conformance 2025-11-25: server-everything direct vs through Portico', () => {
  let run: Comparison
  let guardedUpstream: Fixture
  let guarded: RunningPortico
  let rebindingDir: string
  let rebinding: SuiteRun

  before(async () => {
    rebindingDir = await mkdtemp(join(tmpdir(), 'portico-conformance-'))
    guardedUpstream = await startServerEverything()
    guarded = await startPortico({ upstream: guardedUpstream.url })
    ;[run, rebinding] = await Promise.all([
      compareThroughPortico(startServerEverything, 'stable', [], {
        allowed_origins: ['*'],
        allowed_hosts: ['*'],
      }),
      runSuite('stable', guarded.url, rebindingDir, ['--scenario', REBINDING]),
    ])
  })

  after(async () => {
    await guarded?.close()
    await guardedUpstream?.close()
    await run?.close()
    if (rebindingDir) await rm(rebindingDir, { recursive: true, force: true })
  })

  test('the suite ran every active scenario, direct and through Portico', () => {
    assert.deepEqual(scenariosOf(run.direct.checks), [...ACTIVE_SCENARIOS])
    assert.deepEqual(scenariosOf(run.proxied.checks), [...ACTIVE_SCENARIOS])
    // server-everything lacks the suite's fixed names: most scenarios fail, some pass.
    const { passed, failed } = tally(run.direct.checks)
    assert.ok(passed > 0 && failed > 0, `unexpected direct result ${passed}/${failed}`)
  })

  test('through Portico every check has the direct status', (t) => {
    t.diagnostic(summary(run))
    assertTotalsAgree(run.direct, run.proxied)
    assert.deepEqual(differences(run.direct.checks, run.proxied.checks), [])
  })

  test('with its default Origin and Host guards Portico passes the DNS-rebinding scenario', () => {
    assert.equal(run.direct.checks.get(`${REBINDING}/localhost-host-rebinding-rejected`), 'FAILURE')
    assert.deepEqual(
      [...rebinding.checks],
      [
        [`${REBINDING}/localhost-host-rebinding-rejected`, 'SUCCESS'],
        [`${REBINDING}/localhost-host-valid-accepted`, 'SUCCESS'],
      ],
    )
  })
})
