/**
 * The input bridge for stateless clients (gateway/mrtr.ts) with a stub connection: a backend
 * request parks the call behind an `input_required` answer, and a parked call given up answers
 * every request the backend is waiting on, those that came after the client was answered too;
 * a backend that asks without end is refused past a bound instead of buffered.
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

/**
 * A stateless call whose backend asks `asked` requests before its answer, which never comes:
 * the call's first answer, the sink the backend goes on asking through, and what the bridge
 * answered the backend.
 */
async function parkedCall(
  asked: Array<string | JsonRpcRequest>,
  { bridge = new InputBridge(), caller }: { bridge?: InputBridge; caller?: string } = {},
) {
  const answered: Array<{ id: unknown; outcome: unknown }> = []
  const connection = { answer: (id: unknown, outcome: unknown) => answered.push({ id, outcome }) }
  let sink: CallSink | undefined
  const first = await bridge.run(
    'b',
    { binding: caller ?? 'caller', retryKey: caller ?? 'caller', caller: caller ?? 'caller' },
    { sampling: {} },
    () => true,
    new CallController().signal,
    (sinkFor) => {
      sink = sinkFor(connection as unknown as Connection)
      for (const request of asked)
        sink.related(typeof request === 'string' ? sampling(request) : request)
      // Never answers: the backend waits for its sampling requests.
      return new Promise(() => {})
    },
  )
  const ask = (id: string) => sink?.related(sampling(id))
  return { bridge, first, ask, answered }
}

describe('input bridge', () => {
  it('a parked call given up answers the requests asked and those queued after', async () => {
    const { bridge, first, ask, answered } = await parkedCall(['s1'])
    assert.equal(first.result?.resultType, 'input_required')
    // The backend asks again while the client holds the input_required answer.
    ask('s2')
    assert.equal(answered.length, 0, 'nothing answered while the call is parked')
    bridge.close()
    assert.deepEqual(
      answered.map((a) => a.id),
      ['s1', 's2'],
    )
    assert.match(JSON.stringify(answered[1]?.outcome), /The client did not answer/)
  })

  it('a backend asking without end is refused past 64 requests waiting for input', async () => {
    const { bridge, first, ask, answered } = await parkedCall(
      Array.from({ length: 50 }, (_, i) => `a${i}`),
    )
    // All 50 asked in the first round; 30 more while the client holds the answer.
    assert.equal(Object.keys(first.result?.inputRequests ?? {}).length, 50)
    for (let i = 0; i < 30; i++) ask(`b${i}`)
    const refused = answered.filter((a) => /Too many requests wait/.test(JSON.stringify(a.outcome)))
    assert.deepEqual(
      refused.map((a) => a.id),
      Array.from({ length: 16 }, (_, i) => `b${i + 14}`),
    )
    bridge.close()
    assert.equal(answered.length, 80, 'every request answered once the call is given up')
  })

  it("one caller past its share gives up its own oldest parked call, never another's", async () => {
    const bridge = new InputBridge()
    const bob = await parkedCall(['bob'], { bridge, caller: 'bob' })
    const alices = []
    for (let i = 0; i <= 100; i++)
      alices.push(await parkedCall([`a${i}`], { bridge, caller: 'alice' }))
    const parked = (call: { first: { result?: { requestState?: unknown } } }) =>
      bridge.has(call.first.result?.requestState)
    // Before, alice's thousand pushed bob's call out of the bound shared by all.
    assert.ok(parked(bob), "bob's call stays parked")
    assert.ok(!parked(alices[0] as (typeof alices)[number]), "alice's oldest was given up")
    assert.match(JSON.stringify(alices[0]?.answered), /The client did not answer/)
    assert.equal(alices.filter(parked).length, 100)
    bridge.close()
  })

  it('all 1000 taken: the client holding the most gives up its oldest, not one holding few', async () => {
    const bridge = new InputBridge()
    const parked = (call: { first: { result?: { requestState?: unknown } } }) =>
      bridge.has(call.first.result?.requestState)
    const carol = await parkedCall(['carol'], { bridge, caller: 'carol' })
    // Ten clients within their own bound of 100, nine of them full, the tenth at 99.
    const others = []
    for (let c = 0; c < 10; c++) {
      for (let i = 0; i < (c === 9 ? 99 : 100); i++) {
        others.push(await parkedCall([`c${c}-${i}`], { bridge, caller: `client${c}` }))
      }
    }
    assert.equal(others.filter(parked).length, 999, 'all 1000 taken, none given up yet')
    const dave = await parkedCall(['dave'], { bridge, caller: 'dave' })
    // Before, the oldest of anyone's went: carol's one call, parked first.
    assert.ok(parked(carol), "carol's one call stays parked")
    assert.ok(parked(dave))
    assert.ok(!parked(others[0] as (typeof others)[number]), "client0's oldest was given up")
    assert.equal(others.filter(parked).length, 998)
    bridge.close()
  })

  it('only the three input kinds reach the client: an unknown method is refused', async () => {
    // (A backend's ping is answered by its connection before any call's sink sees it:
    // gateway-stdio-routing.)
    const { bridge, first, answered } = await parkedCall([
      { jsonrpc: '2.0', id: 'w', method: 'weird/method', params: {} },
      's',
    ])
    // Before, `weird/method` was handed to the client as an input request it cannot answer.
    assert.deepEqual(Object.keys(first.result?.inputRequests ?? {}).length, 1)
    assert.deepEqual(answered, [
      {
        id: 'w',
        outcome: { error: { code: -32601, message: 'The client cannot answer weird/method' } },
      },
    ])
    bridge.close()
  })
})

describe('input bridge: asking again', () => {
  /** A parked call whose outcome the test settles (`finish`), and its sink to the backend. */
  async function settleable() {
    const bridge = new InputBridge()
    const answered: unknown[] = []
    const connection = { answer: (id: unknown) => answered.push(id) }
    let sink: CallSink | undefined
    let finish: (outcome: { result: Record<string, unknown> }) => void = () => {}
    let fail: (error: Error) => void = () => {}
    const first = await bridge.run(
      'b',
      { binding: 'c', retryKey: 'c', caller: 'c' },
      { sampling: {} },
      () => true,
      new CallController().signal,
      (sinkFor) => {
        sink = sinkFor(connection as unknown as Connection)
        sink.related(sampling('s1'))
        return new Promise((resolve, reject) => {
          finish = resolve
          fail = reject
        })
      },
    )
    const retry = (state: unknown, inputResponses: Record<string, unknown> = {}) =>
      bridge.resume(
        String(state),
        'c',
        inputResponses,
        () => true,
        new CallController().signal,
        undefined,
      )
    return {
      first,
      retry,
      finish: (o: { result: Record<string, unknown> }) => finish(o),
      fail: (e: Error) => fail(e),
      sink: () => sink,
      answered,
    }
  }

  it('a retry leaving a request unanswered is asked it again, under its key', async () => {
    const { first, retry } = await settleable()
    const again = await retry(first.result?.requestState)
    assert.equal(again.result?.resultType, 'input_required')
    assert.deepEqual(Object.keys((again.result?.inputRequests as object) ?? {}), ['r1'])
  })

  it('not once the backend withdrew the request and answered the call', async () => {
    const { first, retry, finish, sink } = await settleable()
    sink()?.related({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 's1' },
    })
    finish({ result: { content: [] } })
    await new Promise((resolve) => setImmediate(resolve))
    const outcome = await retry(first.result?.requestState)
    assert.deepEqual(outcome.result, { content: [] })
  })

  it('not once the call failed (its backend gone)', async () => {
    const { first, retry, fail } = await settleable()
    fail(new Error('Backend b exited'))
    await new Promise((resolve) => setImmediate(resolve))
    await assert.rejects(retry(first.result?.requestState), /Backend b exited/)
  })
})
