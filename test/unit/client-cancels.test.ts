/**
 * ClientCancels with a stub `next`: requests on a session run with a signal of their own; a
 * `notifications/cancelled` naming one (same session, same id) marks it cancelled before the
 * upstream hears of it and aborts its signal once the notification was delivered; anything
 * else passes untouched. The end to end behaviour: test/integration/transparent-cancel.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Call } from '../../src/pipeline/call.ts'
import type { Handler } from '../../src/pipeline/compose.ts'
import { accepted, type Reply } from '../../src/pipeline/reply.ts'
import { ClientCancels } from '../../src/transparent/client-cancels.ts'
import { callOf } from '../helpers/calls.ts'

function onSession(session: string | undefined, message: object): Call {
  return callOf(message, {
    headers: {
      'mcp-protocol-version': '2025-11-25',
      ...(session === undefined ? {} : { 'mcp-session-id': session }),
    },
  })
}

const request = (session: string | undefined, id: string | number) =>
  onSession(session, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'wait' } })

const cancel = (session: string, requestId: unknown) =>
  onSession(session, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId } })

/** A `next` that holds every call until released, and lists what it was given. */
function holdingNext() {
  const seen: Call[] = []
  const pending: Array<(reply: Reply) => void> = []
  const next: Handler = (call) => {
    seen.push(call)
    return new Promise<Reply>((resolve) => pending.push(resolve))
  }
  const release = (index: number) => pending[index]?.(accepted())
  return { next, seen, release }
}

describe('ClientCancels', () => {
  it('a cancel naming a request on its session aborts it, after delivering the cancel', async () => {
    const cancels = new ClientCancels()
    const { next, seen, release } = holdingNext()
    const handle = cancels.handler(next)
    const call = request('s1', 7)
    void handle(call)
    assert.equal(cancels.size, 1)
    const inner = seen[0] as Call
    assert.notEqual(inner.signal, call.signal, 'the request runs on a signal of its own')
    const delivered = handle(cancel('s1', 7))
    assert.equal(call.notes.cancelled, true, 'marked before the upstream hears of it')
    assert.equal(inner.signal.aborted, false, 'not let go before the cancel is delivered')
    release(1)
    await delivered
    await Promise.resolve()
    assert.equal(inner.signal.aborted, true)
    assert.equal(call.signal.aborted, false, "the exchange's own signal is untouched")
    call.lifetime.end()
    assert.equal(cancels.size, 0, 'forgotten once its answer is over')
  })

  it('another session, another id or a finished request: nothing is cancelled', async () => {
    const cancels = new ClientCancels()
    const { next, seen, release } = holdingNext()
    const handle = cancels.handler(next)
    const call = request('s1', 7)
    void handle(call)
    const done = request('s1', 8)
    void handle(done)
    done.lifetime.end()
    const misses = [cancel('s2', 7), cancel('s1', '7'), cancel('s1', 8), cancel('s1', null)]
    for (const miss of misses) void handle(miss)
    for (let index = 2; index < seen.length; index++) release(index)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(call.notes.cancelled, undefined)
    assert.equal(done.notes.cancelled, undefined)
    assert.equal((seen[0] as Call).signal.aborted, false)
    assert.equal(seen.length, 6, 'every cancel was still forwarded')
  })

  it('calls without a session, and notifications, pass as they are', () => {
    const cancels = new ClientCancels()
    const { next, seen } = holdingNext()
    const handle = cancels.handler(next)
    const stateless = request(undefined, 1)
    const note = onSession('s1', { jsonrpc: '2.0', method: 'notifications/progress', params: {} })
    void handle(stateless)
    void handle(note)
    assert.equal(seen[0], stateless)
    assert.equal(seen[1], note)
    assert.equal(cancels.size, 0)
  })
})
