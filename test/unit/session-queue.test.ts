/**
 * What client sessions without their GET stream open keep for it, all together: each is
 * bounded (256 KB, 100 messages), and so is their sum (32 MB), so a message sent to many such
 * sessions cannot cost 256 KB times `max_sessions`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClientSession } from '../../src/gateway/sessions.ts'

const TOTAL = 32 * 1024 * 1024

describe('messages queued for sessions without a GET stream', () => {
  it('stay within one bound across sessions; closed sessions give their share back', () => {
    const message = { jsonrpc: '2.0', method: 'notifications/x', params: { pad: 'b'.repeat(2800) } }
    const size = `event: message\ndata: ${JSON.stringify(message)}\n\n`.length
    // 90 messages of ~2.8 KB: within one session's own bound (256 KB, 100 messages).
    const perSession = 90
    const sessions: ClientSession[] = []
    for (let i = 0; i < 200; i++) {
      const session = new ClientSession({}, () => undefined)
      for (let m = 0; m < perSession; m++) session.send(message)
      sessions.push(session)
    }
    const kept = sessions.reduce((sum, s) => sum + (perSession - s.dropped), 0)
    assert.ok(
      kept * size <= TOTAL + size,
      `${((kept * size) / 2 ** 20).toFixed(1)} MB queued across 200 sessions`,
    )
    assert.equal(sessions[0]?.dropped, 0, 'the first sessions keep all of theirs')
    for (const session of sessions) session.close()
    // Once they are gone, a new session may queue its own bound again.
    const next = new ClientSession({}, () => undefined)
    for (let m = 0; m < perSession; m++) next.send(message)
    assert.equal(next.dropped, 0)
    next.close()
  })
})
