/**
 * The 2026-07-28 requirement set (`--requirements 2026-07-28`) against the modern fixture,
 * direct and through a Portico gateway whose only backend is another instance of it
 * (`namespace = false`). The gateway serves 2026-07-28 clients itself (stateless requests,
 * `server/discover`, header validation, `Mcp-Param-*` checks, caching hints, `subscriptions/listen`)
 * and reaches its backends in the 2025 era. Every check has its direct status but the listed
 * ones, which the README documents ("Conformance"): the fixture serves the 2025 era per
 * request, with no session, so a backend on it can neither ask the client for input (MRTR)
 * nor tell the gateway its lists changed.
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

/** Scenarios whose MRTR round trips need a backend that can ask for input on this path. */
const NEEDS_BACKEND_INPUT = [
  'input-required-result-basic-elicitation',
  'input-required-result-basic-list-roots',
  'input-required-result-basic-sampling',
  'input-required-result-capability-check',
  'input-required-result-missing-input-response',
  'input-required-result-multi-round',
  'input-required-result-multiple-input-requests',
  'input-required-result-non-tool-request',
  'input-required-result-request-state',
  'input-required-result-result-type',
  'input-required-result-tampered-state',
  'input-required-result-validate-input',
]

/** Checks of `server-stateless` that need the backend's input requests or list changes. */
const STATELESS_DIFFERENCES = [
  'server-stateless/sep-2575-server-rejects-undeclared-capability',
  'server-stateless/sep-2575-missing-capability-http-400',
  'server-stateless/sep-2575-server-sends-prompts-list-changed-on-subscription',
  'server-stateless/sep-2575-server-sends-tools-list-changed-on-subscription',
]

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

  test('every check has its direct status but those that need the backend to ask or notify', (t) => {
    t.diagnostic(summary({ direct, proxied }).replace('Portico', 'the gateway'))
    assertTotalsAgree(direct, proxied)
    const found = differences(direct.checks, proxied.checks).map((line) =>
      line.slice(0, line.indexOf(':')),
    )
    const unexplained = found.filter(
      (id) =>
        !NEEDS_BACKEND_INPUT.includes(id.slice(0, id.indexOf('/'))) &&
        !STATELESS_DIFFERENCES.includes(id.replace(/#\d+$/, '')),
    )
    assert.deepEqual(unexplained, [])
    // The differences stay the documented ones: none of them may pass silently either.
    for (const id of STATELESS_DIFFERENCES) assert.ok(found.includes(id), `${id} now agrees`)
  })

  test('header validation and Mcp-Param-* checks agree with the SDK server', () => {
    for (const scenario of ['http-header-validation', 'http-custom-header-server-validation']) {
      const ids = [...direct.checks.keys()].filter((id) => id.startsWith(`${scenario}/`))
      assert.ok(ids.length >= 5, `${scenario} ran ${ids.length} checks`)
      for (const id of ids) assert.equal(proxied.checks.get(id), direct.checks.get(id), id)
    }
  })
})
