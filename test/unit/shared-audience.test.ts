import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SharedAudience } from '../../src/gateway/backends/audience.ts'
import type { SessionRef } from '../../src/gateway/backends/backend.ts'

function session(key: string, got: string[]): SessionRef {
  return {
    key,
    initParams: {},
    deliver: (_backend, message) => got.push(`${key} ${message.method}`),
  }
}

const updated = (uri: string) => ({
  jsonrpc: '2.0' as const,
  method: 'notifications/resources/updated',
  params: { uri },
})

describe('SharedAudience (who hears a shared connection)', () => {
  it('tells the backend of the first subscriber in and the last one out', () => {
    const audience = new SharedAudience({ subscribed: 10, perSession: 5 })
    assert.equal(audience.track('a', 'u', true), true)
    assert.equal(audience.track('b', 'u', true), false)
    assert.equal(audience.track('a', 'u', true), false, 'again: nothing new')
    assert.equal(audience.track('a', 'u', false), false)
    assert.equal(audience.track('b', 'u', false), true)
  })

  it("sends updates to the subscribers it knows; list changes are the gateway's to tell", () => {
    const got: string[] = []
    const audience = new SharedAudience({ subscribed: 10, perSession: 5 })
    for (const key of ['a', 'b']) audience.join(session(key, got))
    audience.track('a', 'u', true)
    assert.deepEqual(
      audience.of(updated('u')).map((s) => s.key),
      ['a'],
    )
    assert.deepEqual(audience.of(updated('v')), [])
    const changed = { jsonrpc: '2.0' as const, method: 'notifications/tools/list_changed' }
    assert.deepEqual(audience.of(changed), [])
    assert.deepEqual(audience.of({ jsonrpc: '2.0', method: 'notifications/message' }), [])
  })

  it('refuses a session past its share, and any session past the whole bound', () => {
    const audience = new SharedAudience({ subscribed: 4, perSession: 2 })
    audience.track('a', 'u1', true)
    audience.track('a', 'u2', true)
    assert.throws(() => audience.track('a', 'u3', true), /at most 2/)
    // Another session still subscribes, and to what the first holds too.
    audience.track('b', 'u1', true)
    audience.track('b', 'u3', true)
    // The gateway's own session ('*', stateless listen streams) has no share of its own.
    audience.track('*', 'u4', true)
    assert.throws(() => audience.track('*', 'u5', true), /4 resources subscribed already/)
    // An unsubscribe gives the share back; a session that ends gives back everything.
    audience.track('a', 'u2', false)
    audience.track('a', 'u2', true)
    assert.deepEqual(audience.release('a'), ['u2'])
    audience.track('c', 'u5', true)
  })
})
