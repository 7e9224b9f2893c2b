/**
 * The chain's pieces with stub `next` handlers and no sockets: compose, the error answer,
 * lazy replies, the rewrite middleware, mapAnswer and the per-upstream deadline.
 */
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { PorticoError } from '../../src/errors.ts'
import type { JsonRpcResponse } from '../../src/jsonrpc/message.ts'
import { rewriteResponses } from '../../src/middleware/rewrite.ts'
import type { Call } from '../../src/pipeline/call.ts'
import { answering, compose, type Handler, type Middleware } from '../../src/pipeline/compose.ts'
import {
  accepted,
  MessageReply,
  mapAnswer,
  type Reply,
  StreamEvent,
  StreamReply,
} from '../../src/pipeline/reply.ts'
import type { ResponseRewriter } from '../../src/pipeline/rewriter.ts'
import { CallController } from '../../src/pipeline/signal.ts'
import { sseEvents } from '../../src/transparent/upstream.ts'
import { callOf, requestCall } from '../helpers/calls.ts'

const ok = (id: number | string, result: object = {}): JsonRpcResponse => ({
  jsonrpc: '2.0',
  id,
  result: result as JsonRpcResponse['result'],
})

function sse(...messages: object[]): Readable {
  return Readable.from(messages.map((m) => `event: message\ndata: ${JSON.stringify(m)}\n\n`))
}

async function eventsOf(reply: Reply): Promise<StreamEvent[]> {
  assert.ok(reply instanceof StreamReply)
  const out: StreamEvent[] = []
  for await (const event of reply.events) out.push(event)
  return out
}

describe('compose', () => {
  it('runs middleware outermost first, then the terminal', async () => {
    const order: string[] = []
    const layer =
      (name: string): Middleware =>
      async (call, next) => {
        order.push(`${name}>`)
        const reply = await next(call)
        order.push(`<${name}`)
        return reply
      }
    const terminal: Handler = async () => {
      order.push('terminal')
      return accepted()
    }
    await compose([layer('a'), layer('b')], terminal)(requestCall('ping'))
    assert.deepEqual(order, ['a>', 'b>', 'terminal', '<b', '<a'])
  })

  it('lets a middleware call next more than once (retries) or not at all (answers itself)', async () => {
    let calls = 0
    const terminal: Handler = async () => {
      calls++
      if (calls === 1) throw new PorticoError('upstream_unavailable')
      return MessageReply.of(ok(1))
    }
    const retry: Middleware = (call, next) => next(call).catch(() => next(call))
    const reply = await compose([retry], terminal)(requestCall('tools/list'))
    assert.equal(calls, 2)
    assert.equal(reply.kind, 'message')
    const cached = MessageReply.of(ok(1, { cached: true }))
    const cache: Middleware = async () => cached
    assert.equal(await compose([cache], terminal)(requestCall('tools/list')), cached)
    assert.equal(calls, 2, 'the terminal was not called again')
  })

  it('turns a synchronous throw into a rejection', async () => {
    const throwing: Middleware = () => {
      throw new PorticoError('forbidden')
    }
    await assert.rejects(compose([throwing], async () => accepted())(requestCall('ping')), {
      reason: 'forbidden',
    })
  })
})

describe('answering', () => {
  it('answers a refusal with the reason code, the request id, its status and headers', async () => {
    const call = requestCall('tools/call', { name: 'x' }, 'req-9')
    const handle = answering(async () => {
      throw new PorticoError('rate_limited', { headers: { 'retry-after': '3' } })
    })
    const reply = await handle(call)
    assert.ok(reply instanceof MessageReply)
    assert.equal(reply.status, 429)
    assert.equal(reply.headers['retry-after'], '3')
    const response = await reply.json()
    assert.equal(response?.id, 'req-9')
    assert.equal(response?.error?.code, -32603)
    assert.equal(call.notes.reason, 'rate_limited')
  })

  it('reports an unexpected failure and answers it as an internal error', async () => {
    const reported: unknown[] = []
    const handle = answering(
      async () => {
        throw new TypeError('bug')
      },
      (error) => reported.push(error),
    )
    const call = requestCall('tools/list')
    const reply = (await handle(call)) as MessageReply
    assert.equal(reply.status, 500)
    assert.equal((await reply.json())?.error?.code, -32603)
    assert.equal(reported.length, 1)
    assert.equal(call.notes.reason, 'internal_error')
  })

  it('records a call whose client left as cancelled', async () => {
    const controller = new CallController()
    const call = callOf(
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { signal: controller.signal },
    )
    controller.abort()
    await answering(async () => {
      throw new Error('aborted')
    })(call)
    assert.equal(call.notes.reason, 'cancelled')
  })
})

describe('lazy replies', () => {
  it('leaves an upstream JSON body unread until someone asks, and keeps its bytes', async () => {
    const bytes = Buffer.from(JSON.stringify(ok(1, { n: 1 })))
    const reply = MessageReply.fromBody(Readable.from([bytes]), 1024)
    assert.equal(reply.streaming, true)
    assert.deepEqual(await reply.json(), ok(1, { n: 1 }))
    const body = reply.body()
    assert.ok('bytes' in body)
    assert.equal(body.bytes.toString(), bytes.toString(), 'the original bytes, not a re-encoding')
  })

  it('streams an answer larger than the parse bound through unparsed', async () => {
    const reply = MessageReply.fromBody(
      Readable.from([Buffer.alloc(100, 32), Buffer.alloc(100, 32)]),
      50,
    )
    assert.equal(await reply.json(), undefined)
    const body = reply.body()
    assert.ok('rest' in body, 'the head read so far and the rest of the stream')
  })

  it('parses an SSE event only when asked, and re-encodes only a changed one', () => {
    const raw = 'id: 7\nevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'
    const event = StreamEvent.fromSse({
      raw,
      data: '{"jsonrpc":"2.0","id":1,"result":{}}',
      event: 'message',
      id: '7',
      comment: false,
    })
    assert.equal(event.raw, raw)
    assert.deepEqual(event.message(), ok(1))
    const changed = event.with(ok(1, { changed: true }))
    assert.match(changed.raw, /^id: 7\n/, 'the event id is kept')
    assert.match(changed.raw, /"changed":true/)
  })
})

it('summarizes an answer once, and parses it only for a caller that needs the object', () => {
  const reply = MessageReply.fromBytes(Buffer.from(JSON.stringify(ok(1, { n: 1 }))))
  const plain = reply.summary(false)
  assert.deepEqual(plain, { isResponse: true, outcome: 'ok' }, 'the fast path: not parsed')
  assert.equal(reply.summary(false), plain, 'asked again: the same summary, not a new search')
  const parsed = reply.summary(true)
  assert.deepEqual(parsed?.parsed, ok(1, { n: 1 }), 'a caller that needs the object gets it')
  assert.equal(reply.summary(false), parsed, 'and it serves later callers too')
  const failed = MessageReply.fromBytes(
    Buffer.from('{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"no"}}'),
  )
  assert.equal(failed.summary(false)?.outcome, 'error')
  assert.equal(failed.summary(false)?.errorCode, -32000)
})

describe('rewriteResponses', () => {
  const upper: ResponseRewriter = {
    name: 'upper',
    appliesTo: (call) => call.method === 'tools/call',
    rewrite: (_call, response) =>
      response.result?.text === 'same'
        ? undefined
        : { ...response, result: { text: String(response.result?.text).toUpperCase() } },
  }
  const middleware = rewriteResponses([upper])

  it('rewrites the JSON answer of a declared method', async () => {
    const reply = await middleware(requestCall('tools/call', { name: 'a' }), async () =>
      MessageReply.fromBytes(Buffer.from(JSON.stringify(ok(1, { text: 'hi' })))),
    )
    assert.deepEqual(await (reply as MessageReply).json(), ok(1, { text: 'HI' }))
  })

  it('keeps the original bytes when the rewriter changes nothing', async () => {
    const bytes = Buffer.from(JSON.stringify(ok(1, { text: 'same' })))
    const original = MessageReply.fromBytes(bytes)
    const reply = await middleware(requestCall('tools/call', { name: 'a' }), async () => original)
    assert.equal(reply, original)
  })

  it('never reads the answer of a method no rewriter declared', async () => {
    const original = MessageReply.fromBody(Readable.from([Buffer.from('{}')]), 1024)
    const reply = await middleware(requestCall('tools/list'), async () => original)
    assert.equal(reply, original)
    assert.equal(original.streaming, true, 'still unread')
  })

  it('rewrites only the event that answers the call on an SSE stream', async () => {
    const progress = { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } }
    const upstream = new StreamReply(
      (async function* () {
        for (const m of [progress, ok(1, { text: 'hi' })]) {
          yield StreamEvent.of(m)
        }
      })(),
    )
    const reply = await middleware(requestCall('tools/call', { name: 'a' }), async () => upstream)
    const events = await eventsOf(reply)
    assert.deepEqual(events[0]?.message(), progress)
    assert.deepEqual(events[1]?.message(), ok(1, { text: 'HI' }))
  })

  it('refuses a successful answer it cannot read, with the id; an oversized or failed one passes', async () => {
    const read = (bytes: string, status = 200) =>
      middleware(requestCall('tools/call', { name: 'a' }, 7), async () =>
        MessageReply.fromBytes(Buffer.from(bytes), { status }),
      )
    // JSON.parse refuses NaN; Python's parser reads it, unrewritten.
    const refused = (await read(
      '{"jsonrpc":"2.0","id":7,"result":{"text":"hi","n":NaN}}',
    )) as MessageReply
    assert.equal(refused.status, 502)
    const answer = await refused.json()
    assert.equal(answer?.id, 7)
    assert.equal(answer?.error?.code, -32603)
    assert.match(answer?.error?.message ?? '', /invalid response to request 7: not JSON/)
    const failed = await read('<html>bad gateway</html>', 503)
    assert.equal(failed.status, 503, "the upstream's own failure is passed on as it is")
    const large = MessageReply.fromBody(
      Readable.from([Buffer.from('{"x":NaN'.padEnd(64, ' '))]),
      16,
    )
    const passed = await middleware(requestCall('tools/call', { name: 'a' }, 7), async () => large)
    assert.equal(passed, large, 'larger than the parse bound: streamed through (documented)')
  })

  it("drops an event it cannot read from the call's stream", async () => {
    const reply = await mapAnswer(
      requestCall('tools/call', {}, 1),
      new StreamReply(
        sseEvents(
          Readable.from(['event: message\ndata: {"jsonrpc":"2.0","id":1,"result":NaN}\n\n']),
          1024,
          'up',
        ),
      ),
      () => ok(1, { text: 'changed' }),
    )
    assert.deepEqual(await eventsOf(reply), [])
  })

  it("leaves another request's answer on the stream alone", async () => {
    const reply = await mapAnswer(
      requestCall('tools/call', {}, 1),
      new StreamReply(sseEvents(sse(ok(2, { text: 'x' })), 1024, 'up')),
      () => ok(1, { text: 'changed' }),
    )
    const [event] = await eventsOf(reply)
    assert.deepEqual(event?.message(), ok(2, { text: 'x' }))
  })
})

describe('a large SSE event in fragments', () => {
  const big = ok(1, { text: 'y'.repeat(5000) })
  const text = `event: message\ndata: ${JSON.stringify(big)}\n\n`
  // The upstream's bytes in 1,000-character reads: fragments from 2,000 characters on.
  const upstream = () =>
    new StreamReply(
      sseEvents(
        Readable.from(
          Array.from({ length: Math.ceil(text.length / 1000) }, (_, i) =>
            text.slice(i * 1000, (i + 1) * 1000),
          ),
        ),
        1024 * 1024,
        'up',
        2000,
      ),
    )

  it('comes as fragments, then the event, which writes only the rest', async () => {
    const events = await eventsOf(upstream())
    const fragments = events.filter((event) => event.fragment)
    assert.ok(fragments.length >= 2, `fragments: ${fragments.length}`)
    const last = events.at(-1) as StreamEvent
    assert.equal(last.fragment, false)
    assert.equal(events.map((event) => event.unwritten).join(''), text)
    assert.equal(last.raw, text, 'the event itself is whole')
    assert.deepEqual(last.message(), big)
  })

  it('reaches a transform whole, and is written whole after it', async () => {
    const seen: string[] = []
    const reply = upstream().map((event) => {
      seen.push(event.raw)
      return event
    })
    const events = await eventsOf(reply)
    assert.deepEqual(seen, [text])
    assert.equal(events.length, 1)
    assert.equal(events[0]?.unwritten, text)
  })
})

describe('CallLifetime', () => {
  it('runs cleanups once when the call ends, and at once for a call already ended', () => {
    const call = requestCall('tools/list')
    const ran: string[] = []
    call.lifetime.onEnd(() => ran.push('a'))
    call.lifetime.onEnd(() => {
      throw new Error('a failing cleanup does not stop the others')
    })
    call.lifetime.onEnd(() => ran.push('b'))
    call.lifetime.end()
    call.lifetime.end()
    assert.deepEqual(ran, ['a', 'b'])
    call.lifetime.onEnd(() => ran.push('late'))
    assert.deepEqual(ran, ['a', 'b', 'late'])
  })

  it('is shared by every copy of the call', () => {
    const call = requestCall('tools/list')
    const copy: Call = { ...call, timeoutMs: 5 }
    let ended = false
    copy.lifetime.onEnd(() => {
      ended = true
    })
    call.lifetime.end()
    assert.equal(ended, true)
  })
})
