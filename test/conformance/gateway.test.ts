/**
 * The active 2025-11-25 conformance suite (0.1.16) against the legacy fixture, direct and
 * through a Portico gateway whose only backend is that fixture, unprefixed (`namespace = false`).
 * Every check must have its direct status but the listed ones, each documented in the README.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import {
  assertTotalsAgree,
  differences,
  type Fixture,
  runSuite,
  type SuiteRun,
  startFixture,
  summary,
  tally,
} from './harness.ts'

/**
 * Checks whose gateway status legitimately differs from direct, each explained in the README
 * ("Conformance"): the gateway answers `tools/list` itself (a merged list) as one JSON body,
 * where the fixture streams it as SSE; the suite grades "all JSON" INFO instead of SUCCESS.
 */
const GATEWAY_DIFFERENCES = [
  'server-sse-multiple-streams/server-sse-streams-functional: SUCCESS → INFO',
]

describe('conformance 2025-11-25: legacy fixture direct and through the gateway', () => {
  let fixture: Fixture | undefined
  let gateway: RunningPortico | undefined
  let workDir: string | undefined
  let direct: SuiteRun
  let proxied: SuiteRun

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'portico-gw-conformance-'))
    fixture = await startFixture('conformance-server.js')
    gateway = await startPortico({
      backends: [{ name: 'fixture', transport: 'http', url: fixture.url, namespace: false }],
    })
    ;[direct, proxied] = await Promise.all([
      runSuite('stable', fixture.url, join(workDir, 'direct')),
      runSuite('stable', gateway.url, join(workDir, 'gateway')),
    ])
  })

  after(async () => {
    await gateway?.close()
    await fixture?.close()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  test('both runs report every check they ran', (t) => {
    t.diagnostic(summary({ direct, proxied }).replace('Portico', 'the gateway'))
    assertTotalsAgree(direct, proxied)
    assert.ok(direct.checks.size >= 40, `only ${direct.checks.size} checks ran`)
    assert.equal(tally(direct.checks).failed, 0)
  })

  test('through the gateway every check has its direct status but the documented ones', (t) => {
    const found = differences(direct.checks, proxied.checks)
    for (const line of found) t.diagnostic(line)
    assert.deepEqual(found, GATEWAY_DIFFERENCES)
    assert.deepEqual([...proxied.checks.keys()].sort(), [...direct.checks.keys()].sort())
    assert.equal(tally(proxied.checks).failed, 0)
    assert.equal(proxied.exitCode, 0, proxied.output.slice(-2000))
  })

  // The active suite does not grade this (its SSE polling scenario is pending, and through a
  // gateway that answers JSON it reports "not applicable"): the fixture's test_reconnection
  // closes its SSE stream mid-call, and the gateway must resume it with Last-Event-ID.
  test('a call whose backend stream closes mid-call still gets its result', async (t) => {
    const client = new Client({ name: 'gateway-conformance', version: '1.0.0' })
    t.after(() => client.close())
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway?.url ?? '')))
    const result = await client.callTool({ name: 'test_reconnection', arguments: {} })
    assert.deepEqual(result.content, [
      { type: 'text', text: 'Reconnection test completed successfully' },
    ])
  })

  test('the gateway routed the suite to its backend', () => {
    const methods = new Set(gateway?.sink.exchanges().map((e) => e.method))
    for (const method of ['tools/call', 'resources/read', 'prompts/get']) {
      assert.ok(methods.has(method), `no ${method} exchange recorded`)
    }
  })
})
