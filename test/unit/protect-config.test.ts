/**
 * The protection tables as parsed: the two forms of `timeout`, top-level tables as the
 * defaults of every backend, mcpr's `max_concurrent_upstream`, and the routing rules.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { protectOf } from '../../src/config/protect.ts'
import { parseConfig } from '../../src/config/schema.ts'
import { topLevelProtect } from '../../src/protect/policies.ts'

const stdio = { transport: 'stdio' as const, command: 'node' }

describe('protection config', () => {
  it('reads timeout as a per-attempt scalar or a { seconds, attempt } table', () => {
    const config = parseConfig({
      backends: [
        { name: 'a', ...stdio, timeout: '2s' },
        { name: 'b', ...stdio, timeout: { seconds: 60 } },
        { name: 'c', ...stdio, timeout: { seconds: 60, attempt: '5s' } },
      ],
    })
    const [a, b, c] = config.backends ?? []
    assert.deepEqual(a?.timeout, { callMs: undefined, attemptMs: 2000 })
    assert.deepEqual(b?.timeout, { callMs: 60_000, attemptMs: 60_000 })
    assert.deepEqual(c?.timeout, { callMs: 60_000, attemptMs: 5000 })
  })

  it('gives every backend the top-level tables it does not have itself', () => {
    const config = parseConfig({
      circuit_breaker: { minimum_calls: 9 },
      retry: { max_retries: 1 },
      backends: [
        { name: 'a', ...stdio },
        { name: 'b', ...stdio, retry: { max_retries: 4 } },
      ],
    })
    const [a, b] = config.backends ?? []
    assert.ok(a && b)
    assert.equal(protectOf(a, config).circuit_breaker?.minimum_calls, 9)
    assert.equal(protectOf(a, config).retry?.max_retries, 1)
    assert.equal(protectOf(b, config).retry?.max_retries, 4)
  })

  it('maps max_concurrent_upstream onto the transparent upstream’s concurrency', () => {
    const config = parseConfig({ upstream: 'http://127.0.0.1:9/mcp', max_concurrent_upstream: 7 })
    assert.equal(topLevelProtect(config).concurrency?.max_concurrent, 7)
    assert.equal(
      topLevelProtect(parseConfig({ upstream: 'http://127.0.0.1:9/mcp' })).concurrency,
      undefined,
    )
  })

  it('refuses max_ejection_percent = 0, which the README says still ejects one', () => {
    // Before: accepted, and no backend was ever ejected.
    assert.throws(
      () =>
        parseConfig({
          upstream: 'http://127.0.0.1:9/mcp',
          outlier_detection: { max_ejection_percent: 0 },
        }),
      /must be above 0: at least one backend of a group may be ejected/,
    )
  })

  it('refuses a role naming itself, a missing backend, a chain of roles, or two roles', () => {
    assert.throws(
      () =>
        parseConfig({
          backends: [
            { name: 'a', ...stdio },
            { name: 'b', ...stdio, failover_for: 'a' },
            { name: 'c', ...stdio, mirror_of: 'b' },
            { name: 'd', ...stdio, canary_of: 'd' },
            { name: 'e', ...stdio, canary_of: 'zz' },
            { name: 'f', ...stdio, canary_of: 'a', mirror_of: 'a' },
          ],
        }),
      (error: { issues: Array<{ path: unknown[]; message: string }> }) => {
        const found = error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
        assert.ok(
          found.includes('backends.2.mirror_of: "b" is itself a mirror, failover or canary'),
          found.join('\n'),
        )
        assert.ok(
          found.includes('backends.3.canary_of: names the backend itself'),
          found.join('\n'),
        )
        assert.ok(
          found.includes('backends.4.canary_of: no backend is named "zz"'),
          found.join('\n'),
        )
        assert.ok(
          found.some((f) => f.startsWith('backends.5.') && f.includes('a backend has one role')),
          found.join('\n'),
        )
        return true
      },
    )
  })
})
