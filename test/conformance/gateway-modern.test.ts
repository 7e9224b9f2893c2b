/**
 * The 2026-07-28 requirement set (`--requirements 2026-07-28`) against the modern fixture,
 * direct and through a Portico gateway whose only backend is another instance of it
 * (`namespace = false`). The gateway serves 2026-07-28 clients itself (stateless requests,
 * `server/discover`, header validation, `Mcp-Param-*` checks, caching hints, `subscriptions/listen`)
 * and reaches the backend in the same revision (its `server/discover` probe): the backend's
 * `input_required` answers (MRTR) pass to the client, its refusals keep their HTTP status, and
 * its list changes come over the gateway's listen stream. Every check has its direct status.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import {
  assertTotalsAgree,
  differences,
  type Fixture,
  ROOT,
  runSuite,
  type SuiteRun,
  startFixture,
  summary,
} from './harness.ts'

const BASELINE = join(ROOT, 'test', 'conformance', 'expected-failures-2026-07-28.yaml')
const ARGS = ['--requirements', '2026-07-28', '--expected-failures', BASELINE]

describe('conformance 2026-07-28: modern fixture direct and through the gateway', () => {
  let direct: SuiteRun
  let proxied: SuiteRun
  let gateway: RunningPortico | undefined
  const fixtures: Fixture[] = []
  let workDir = ''

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'portico-gw-modern-'))
    for (let i = 0; i < 2; i++) fixtures.push(await startFixture('conformance-modern-server.js'))
    const [first, behind] = fixtures as [Fixture, Fixture]
    gateway = await startPortico({
      backends: [{ name: 'fixture', transport: 'http', url: behind.url, namespace: false }],
    })
    ;[direct, proxied] = await Promise.all([
      runSuite('next', first.url, join(workDir, 'direct'), ARGS),
      runSuite('next', gateway.url, join(workDir, 'gateway'), ARGS),
    ])
  })

  after(async () => {
    await gateway?.close()
    for (const fixture of fixtures) await fixture.close()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  test('every check has its direct status', (t) => {
    t.diagnostic(summary({ direct, proxied }).replace('Portico', 'the gateway'))
    assertTotalsAgree(direct, proxied)
    assert.deepEqual(differences(direct.checks, proxied.checks), [])
  })

  test('the MRTR and list-change scenarios ran and pass through the gateway', () => {
    for (const scenario of [
      'input-required-result-multi-round',
      'input-required-result-request-state',
    ]) {
      const ids = [...proxied.checks.keys()].filter((id) => id.startsWith(`${scenario}/`))
      assert.ok(ids.length > 0, `${scenario} ran`)
      for (const id of ids) assert.equal(proxied.checks.get(id), 'SUCCESS', id)
    }
    const listChanged = 'server-stateless/sep-2575-server-sends-tools-list-changed-on-subscription'
    assert.equal(proxied.checks.get(listChanged), direct.checks.get(listChanged))
  })

  test('header validation and Mcp-Param-* checks agree with the SDK server', () => {
    for (const scenario of ['http-header-validation', 'http-custom-header-server-validation']) {
      const ids = [...direct.checks.keys()].filter((id) => id.startsWith(`${scenario}/`))
      assert.ok(ids.length >= 5, `${scenario} ran ${ids.length} checks`)
      for (const id of ids) assert.equal(proxied.checks.get(id), direct.checks.get(id), id)
    }
  })
})
