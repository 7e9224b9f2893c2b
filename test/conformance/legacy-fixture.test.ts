/**
 * The active 2025-11-25 conformance suite (0.1.16) against Portico's own legacy fixture:
 * every check must pass direct, and every check must pass through Portico.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import {
  type Fixture,
  runSuite,
  type SuiteRun,
  startFixture,
  tally,
  withStatus,
} from './harness.ts'

describe('conformance 2025-11-25: legacy fixture direct and through Portico', () => {
  let fixture: Fixture
  let portico: RunningPortico
  let workDir: string
  let direct: SuiteRun
  let proxied: SuiteRun

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'portico-conformance-'))
    fixture = await startFixture('conformance-server.js')
    portico = await startPortico({ upstream: fixture.url })
    // Host must be a loopback name the fixture accepts; Portico listens on 127.0.0.1.
    ;[direct, proxied] = await Promise.all([
      runSuite('stable', fixture.url, join(workDir, 'direct')),
      runSuite('stable', portico.url, join(workDir, 'portico')),
    ])
  })

  after(async () => {
    await portico?.close()
    await fixture?.close()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  test('every active check passes direct', () => {
    assert.equal(direct.checks.size >= 40, true, `only ${direct.checks.size} checks ran`)
    assert.deepEqual(withStatus(direct.checks, 'FAILURE'), [])
    assert.equal(tally(direct.checks).failed, 0)
    assert.match(direct.output, /Total: \d+ passed, 0 failed/)
    assert.equal(direct.exitCode, 0)
  })

  test('every active check passes through Portico', () => {
    assert.deepEqual([...proxied.checks.keys()].sort(), [...direct.checks.keys()].sort())
    assert.deepEqual(withStatus(proxied.checks, 'FAILURE'), [])
    assert.equal(tally(proxied.checks).passed, tally(direct.checks).passed)
    assert.equal(proxied.exitCode, 0)
  })

  test('Portico saw the suite traffic', () => {
    const methods = new Set(portico.sink.exchanges().map((e) => e.method))
    for (const method of ['initialize', 'tools/call', 'resources/read', 'prompts/get']) {
      assert.ok(methods.has(method), `no ${method} exchange recorded`)
    }
  })
})
