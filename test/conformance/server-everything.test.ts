/**
 * The active 2025-11-25 conformance suite against @modelcontextprotocol/server-everything, which
 * implements few of the suite's fixed names: Portico must not change a single check's result.
 * Portico's own Origin guard is opened (`allowed_origins = ["*"]`) for the comparison, since
 * it deliberately rejects the DNS-rebinding probe that server-everything itself accepts; a
 * second Portico with the default guard shows that scenario passing through Portico.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import {
  assertTotalsAgree,
  type Comparison,
  compareThroughPortico,
  differences,
  runSuite,
  type SuiteRun,
  startServerEverything,
  summary,
  tally,
} from './harness.ts'

const REBINDING = 'dns-rebinding-protection'

describe('conformance 2025-11-25: server-everything direct vs through Portico', () => {
  let run: Comparison
  let guarded: RunningPortico
  let rebindingDir: string
  let rebinding: SuiteRun

  before(async () => {
    const upstream = await startServerEverything()
    rebindingDir = await mkdtemp(join(tmpdir(), 'portico-conformance-'))
    guarded = await startPortico({ upstream: upstream.url })
    ;[run, rebinding] = await Promise.all([
      compareThroughPortico(upstream, 'stable', [], { allowed_origins: ['*'] }),
      runSuite('stable', guarded.url, rebindingDir, ['--scenario', REBINDING]),
    ])
  })

  after(async () => {
    await guarded?.close()
    await run?.close()
    if (rebindingDir) await rm(rebindingDir, { recursive: true, force: true })
  })

  test('the suite ran every active scenario direct', () => {
    const { passed, failed } = tally(run.direct.checks)
    assert.ok(passed > 0 && failed > 0, `unexpected direct result ${passed}/${failed}`)
    assert.ok(run.direct.checks.size >= 30, `only ${run.direct.checks.size} checks`)
  })

  test('through Portico every check has the direct status', (t) => {
    t.diagnostic(summary(run))
    assertTotalsAgree(run.direct, run.proxied)
    assert.deepEqual(differences(run.direct.checks, run.proxied.checks), [])
    assert.deepEqual(tally(run.proxied.checks), tally(run.direct.checks))
  })

  test('with its default Origin guard Portico passes the DNS-rebinding scenario', () => {
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
