/**
 * The active 2025-11-25 conformance suite against @modelcontextprotocol/server-everything, which
 * implements few of the suite's fixed names: Portico must not change a single check's result.
 * Portico's own Origin guard is opened (`allowed_origins = ["*"]`) for the comparison, since
 * it deliberately rejects the DNS-rebinding probe that server-everything itself accepts; a
 * second run shows that with the default guard that scenario passes through Portico.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import {
  differences,
  type Fixture,
  runSuite,
  type SuiteRun,
  startServerEverything,
  tally,
} from './harness.ts'

const REBINDING = 'dns-rebinding-protection'

describe('conformance 2025-11-25: server-everything direct vs through Portico', () => {
  let upstream: Fixture
  let open: RunningPortico
  let guarded: RunningPortico
  let workDir: string
  let direct: SuiteRun
  let proxied: SuiteRun
  let rebinding: SuiteRun

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'portico-conformance-'))
    upstream = await startServerEverything()
    open = await startPortico({ upstream: upstream.url, allowed_origins: ['*'] })
    guarded = await startPortico({ upstream: upstream.url })
    ;[direct, proxied, rebinding] = await Promise.all([
      runSuite('stable', upstream.url, join(workDir, 'direct')),
      runSuite('stable', open.url, join(workDir, 'portico')),
      runSuite('stable', guarded.url, join(workDir, 'guarded'), ['--scenario', REBINDING]),
    ])
  })

  after(async () => {
    await open?.close()
    await guarded?.close()
    await upstream?.close()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  test('the suite ran every active scenario direct', () => {
    const { passed, failed } = tally(direct.checks)
    assert.ok(passed > 0 && failed > 0, `unexpected direct result ${passed}/${failed}`)
    assert.ok(direct.checks.size >= 30, `only ${direct.checks.size} checks`)
  })

  test('through Portico every check has the direct status', () => {
    assert.deepEqual(differences(direct.checks, proxied.checks), [])
    assert.deepEqual(tally(proxied.checks), tally(direct.checks))
  })

  test('with its default Origin guard Portico passes the DNS-rebinding scenario', () => {
    assert.equal(direct.checks.get(`${REBINDING}/localhost-host-rebinding-rejected`), 'FAILURE')
    assert.deepEqual(
      [...rebinding.checks],
      [
        [`${REBINDING}/localhost-host-rebinding-rejected`, 'SUCCESS'],
        [`${REBINDING}/localhost-host-valid-accepted`, 'SUCCESS'],
      ],
    )
  })
})
