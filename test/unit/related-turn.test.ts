/**
 * The relay of one call's related messages across its attempts (gateway/related-turn.ts), with
 * stub sinks and a stub connection: one attempt at a time, progress only increasing, and the
 * other attempts' server requests answered so their backend does not wait.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { CallSink, Connection } from '../../src/gateway/backends/connection.ts'
import { oneRelayAtATime } from '../../src/gateway/related-turn.ts'
import type { JsonRpcNotification, JsonRpcRequest } from '../../src/jsonrpc/message.ts'
import type { CallNotes } from '../../src/pipeline/call.ts'

const progress = (value: number): JsonRpcNotification => ({
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: 't', progress: value },
})
const sampling: JsonRpcRequest = { jsonrpc: '2.0', id: 7, method: 'sampling/createMessage' }

function setUp() {
  const relayed: unknown[] = []
  const answered: unknown[] = []
  const connection = { answer: (id: unknown, outcome: unknown) => answered.push({ id, outcome }) }
  const notes: CallNotes = {}
  const sinkFor = oneRelayAtATime(() => ({ related: (message) => relayed.push(message) }), notes)
  const attempt = () => sinkFor(connection as unknown as Connection) as CallSink
  return { relayed, answered, attempt, notes }
}

describe('one relay at a time', () => {
  it('relays the first attempt that speaks; the other is dropped and its requests refused', () => {
    const { relayed, answered, attempt } = setUp()
    const first = attempt()
    const hedge = attempt()
    first.related(progress(1))
    hedge.related(progress(1))
    hedge.related(progress(2))
    hedge.related(sampling)
    first.related(progress(2))
    assert.deepEqual(relayed, [progress(1), progress(2)])
    assert.equal(answered.length, 1, "the hedge's server request is answered, not left waiting")
    assert.match(JSON.stringify(answered[0]), /"id":7.*Another attempt/)
  })

  it('passes the relay on when the holder ends, never letting progress go back', () => {
    const { relayed, attempt } = setUp()
    const first = attempt()
    first.related(progress(1))
    first.related(progress(3))
    first.end?.()
    const retry = attempt()
    retry.related(progress(1))
    retry.related(progress(2))
    retry.related(progress(4))
    retry.related(sampling)
    assert.deepEqual(relayed, [progress(1), progress(3), progress(4), sampling])
  })

  it('keeps progress increasing across the relays of two backends of one call (a failover)', () => {
    const relayed: unknown[] = []
    const connection = { answer: () => {} } as unknown as Connection
    const notes: CallNotes = {}
    const sink = () => ({ related: (message: unknown) => relayed.push(message) })
    // Each backend tried builds its own relay; the call's notes are one.
    const primary = oneRelayAtATime(sink, notes)(connection) as CallSink
    primary.related(progress(5))
    primary.related(progress(6))
    primary.end?.()
    const failover = oneRelayAtATime(sink, notes)(connection) as CallSink
    for (const value of [1, 2, 7]) failover.related(progress(value))
    // Before: 5, 6, 1, 2, 7.
    assert.deepEqual(relayed, [progress(5), progress(6), progress(7)])
  })

  it("only the attempt holding the relay is read at the client's pace", async () => {
    const lag = Promise.resolve()
    const connection = { answer: () => {} }
    const sinkFor = oneRelayAtATime(() => ({ related: () => {}, backlog: () => lag }), {})
    const first = sinkFor(connection as unknown as Connection) as CallSink
    const hedge = sinkFor(connection as unknown as Connection) as CallSink
    first.related(progress(1))
    assert.equal(first.backlog?.(), lag, 'the relayed attempt waits for the client')
    assert.equal(hedge.backlog?.(), undefined, "the other's messages go nowhere: never held")
  })
})

describe('a request relayed to the client', () => {
  it('is noted on the call (its answer then depends on the client), and told once', () => {
    const { attempt, notes } = setUp()
    let told = 0
    notes.askedClientWatcher = { clientAsked: () => told++ }
    const first = attempt()
    first.related(progress(1))
    assert.equal(notes.askedClient, undefined, 'a notification asks nothing')
    first.related(sampling)
    first.related({ ...sampling, id: 8 })
    assert.equal(notes.askedClient, true)
    assert.equal(told, 1)
  })
})
