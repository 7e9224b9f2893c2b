/**
 * The input bridge for stateless clients (gateway/mrtr.ts) with a stub connection: a backend
 * request parks the call behind an `input_required` answer, and a parked call given up answers
 * every request the backend is waiting on, those that came after the client was answered too.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { CallSink, Connection } from '../../src/gateway/backends/connection.ts'
import { InputBridge } from '../../src/gateway/mrtr.ts'
import type { JsonRpcRequest } from '../../src/jsonrpc/message.ts'
import { CallController } from '../../src/pipeline/signal.ts'

const sampling = (id: string): JsonRpcRequest => ({
  jsonrpc: '2.0',
  id,
  method: 'sampling/createMessage',
  params: { messages: [], maxTokens: 1 },
})

describe('input bridge', () => {
  it('a parked call given up answers the requests asked and those queued after', async () => {
    const answered: Array<{ id: unknown; outcome: unknown }> = []
    const connection = { answer: (id: unknown, outcome: unknown) => answered.push({ id, outcome }) }
    let sink: CallSink | undefined
    const bridge = new InputBridge()
    const first = await bridge.run(
      'b',
      'caller',
      { sampling: {} },
      () => true,
      new CallController().signal,
      (sinkFor) => {
        sink = sinkFor(connection as unknown as Connection)
        sink.related(sampling('s1'))
        // Never answers: the backend waits for its sampling requests.
        return new Promise(() => {})
      },
    )
    assert.equal(first.result?.resultType, 'input_required')
    // The backend asks again while the client holds the input_required answer.
    sink?.related(sampling('s2'))
    assert.equal(answered.length, 0, 'nothing answered while the call is parked')
    bridge.close()
    assert.deepEqual(
      answered.map((a) => a.id),
      ['s1', 's2'],
    )
    assert.match(JSON.stringify(answered[1]?.outcome), /The client did not answer/)
  })
})
