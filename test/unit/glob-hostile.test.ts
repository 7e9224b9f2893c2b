/**
 * Config globs against names the other side chooses, through each place that matches them:
 * `[[csp.widget]] match` (widget URIs an upstream sends), the gateway's expose/hide filters,
 * RBAC allow/deny globs (names a client calls) and `per_tool` rate limits. The names are built
 * to make a backtracking regular expression retry every split: `ui://*\/*.html` against a
 * megabyte of slashes took minutes on the event loop (quadratic), and a per-tool glob of five
 * stars took minutes against a 256-character tool name (degree five). The bound below is
 * loose on purpose: the matcher takes milliseconds, the old code far longer than the bound.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Policy } from '../../src/auth/policy.ts'
import { authSchema } from '../../src/config/auth.ts'
import { cspSchema } from '../../src/config/csp.ts'
import { compileCspPolicy, cspFor, type DirectiveLists } from '../../src/csp/policy.ts'
import { globMatcher, visibility } from '../../src/gateway/names.ts'
import type { Call } from '../../src/pipeline/call.ts'
import { compose, type Handler } from '../../src/pipeline/compose.ts'
import type { Identity } from '../../src/pipeline/identity.ts'
import { MessageReply } from '../../src/pipeline/reply.ts'
import { globalRateLimit } from '../../src/protect/rate-limit.ts'
import { callOf } from '../helpers/calls.ts'
import { ManualClock } from '../helpers/clock.ts'

const MEGA = 1_000_000
/** The repro's URI: a widget glob of two stars with a literal after each tries every split. */
const SLASHES = `ui://${'/'.repeat(MEGA)}`
const UNDERSCORES = `files__${'_'.repeat(MEGA)}`
/** Far more than the matcher needs, far less than the backtracking regexps took. */
const BOUND_MS = 2000

/** `run()`, asserting it ended within BOUND_MS. */
function quickly<T>(run: () => T): T {
  const start = performance.now()
  const result = run()
  const ms = performance.now() - start
  assert.ok(ms < BOUND_MS, `took ${Math.round(ms)} ms`)
  return result
}

function empty(): DirectiveLists {
  return { connect: [], resource: [], frame: [], baseUri: [], redirect: [] }
}

describe('globs against hostile names', () => {
  it('[[csp.widget]] match: a megabyte widget URI from the upstream', () => {
    const API = 'https://api.example.com'
    const csp = cspSchema.parse({ widget: [{ match: 'ui://*/*.html', connectDomains: [API] }] })
    const policy = compileCspPolicy({ csp })
    assert.ok(!quickly(() => cspFor(policy, SLASHES, empty())).connect.includes(API))
    const html = `${SLASHES}x.html`
    assert.ok(quickly(() => cspFor(policy, html, empty())).connect.includes(API))
  })

  it('expose/hide filters: a megabyte name from a backend', () => {
    assert.equal(
      quickly(() => visibility(['ui://*/*.html'], [])(SLASHES)),
      false,
    )
    assert.equal(
      quickly(() => visibility([], ['files__*_*_read'])(UNDERSCORES)),
      true,
    )
    assert.equal(
      quickly(() => globMatcher(['files__*_*_read', 're:^nothing$'])(`${UNDERSCORES}read`)),
      true,
    )
  })

  it('RBAC allow/deny: a megabyte tool name or resource URI from a client', () => {
    // Only what the policy reads: the roles.
    const auth = authSchema.parse({
      roles: [
        { name: 'reader', allow_tools: ['files__*_*_read'], deny_resources: ['ui://*/*.html'] },
      ],
    })
    const policy = new Policy(auth, undefined)
    const reader: Identity = {
      subject: 'alice',
      method: 'jwt',
      key: 'jwt:alice',
      scopes: [],
      roles: ['reader'],
      admin: false,
      headers: {},
      claims: {},
    }
    assert.equal(
      quickly(() => policy.allows(reader, 'tool', UNDERSCORES)),
      false,
    )
    assert.equal(
      quickly(() => policy.allows(reader, 'tool', `${UNDERSCORES}read`)),
      true,
    )
    assert.equal(
      quickly(() => policy.allows(reader, 'resource', SLASHES)),
      true,
    )
  })

  it('per_tool rate limits: a 256-character tool name against a glob of five stars', async () => {
    const clock = new ManualClock()
    const middleware = globalRateLimit(
      { period_seconds: 1, per_tool: [{ tool: '*_*_*_*_*x', requests: 1, period_seconds: 60 }] },
      clock,
    )
    assert.ok(middleware)
    const next: Handler = async () => MessageReply.of({ jsonrpc: '2.0', id: 1, result: {} })
    const limit = (call: Call) => compose([middleware], next)(call)
    const toolCall = (name: string) =>
      callOf({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } })
    const hostile = '_'.repeat(256)
    // Not matched: no budget of that rule is spent, however often it comes.
    await quickly(() => limit(toolCall(hostile)))
    await quickly(() => limit(toolCall(hostile)))
    const matched = `${'_'.repeat(255)}x`
    await quickly(() => limit(toolCall(matched)))
    await assert.rejects(
      quickly(() => limit(toolCall(matched))),
      /per tool matching/,
    )
  })
})
