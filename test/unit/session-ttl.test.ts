/**
 * `session_ttl` counts a session's idle time from the end of its last activity: a call that
 * ran longer than the ttl, or a stream held open, leaves the session alive for the ttl after
 * it ended. Its clock used to stay at the call's start (moved only by the sweep's ticks), so the
 * request right after a long call could find the session expired.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClientSession, SessionStore } from '../../src/gateway/sessions.ts'
import { CallController } from '../../src/pipeline/signal.ts'

describe('session_ttl and activity', () => {
  it('a session idle since its long call ended is not expired by the call’s length', () => {
    const store = new SessionStore({ ttlMs: 1000, max: 10, perClient: 10, onClose: () => {} })
    const session = new ClientSession({}, () => undefined)
    store.add(session)
    try {
      assert.equal(store.get(session.key), session)
      const end = session.trackCall(1, new CallController())
      // The call ran 5 s (its start is the session's last request): far past the ttl.
      session.lastSeen = Date.now() - 5000
      end()
      assert.equal(store.get(session.key), session, 'alive: idle only since the call ended')
      // Idle past the ttl after that, it is gone.
      session.lastSeen = Date.now() - 1500
      assert.equal(store.get(session.key), undefined)
    } finally {
      store.closeAll()
    }
  })
})
