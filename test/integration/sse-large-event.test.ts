/**
 * A large SSE event through transparent Portico, from a real HTTP upstream that sends half of
 * it and waits: the client gets its first bytes before the upstream has finished (Portico
 * passes a large event on while it arrives instead of holding it to its end), then all of it,
 * byte for byte, and the call is recorded answered. An upstream that dies in the middle of
 * such an event: the client's stream closes the cut event and ends with an error event for
 * the call's id. A small event is unaffected (the other stream tests).
 */
import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { SseParser } from '../../src/protocol/sse.ts'
import { openSession, postToolCall } from '../helpers/mcp-http.ts'
import {
  type CaptureSink,
  captureSink,
  type RunningPortico,
  startPortico,
} from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'
import { until } from '../helpers/wait.ts'

const CALL_ID = 7
const HALF = 256 * 1024
const EVENT = `event: message\ndata: ${JSON.stringify({
  jsonrpc: '2.0',
  id: CALL_ID,
  result: { content: [{ type: 'text', text: 'x'.repeat(2 * HALF) }] },
})}\n\n`

let upstream: RawUpstream
/** The answer the upstream holds after its first half, until the test lets it go on. */
let held: ServerResponse | undefined

before(async () => {
  upstream = await startRawUpstream('large', (res, request) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(EVENT.slice(0, HALF))
    if (request.params?.name === 'cut') {
      // Gone in the middle of the event, once its first half is on its way.
      setTimeout(() => res.destroy(), 50)
      return
    }
    held = res
  })
})

after(async () => {
  held?.destroy()
  await upstream.close()
})

describe('a large SSE event through transparent Portico', () => {
  let portico: RunningPortico
  let sink: CaptureSink
  let session: string

  before(async () => {
    sink = captureSink()
    portico = await startPortico({ upstream: upstream.url }, { sinks: [sink] })
    session = await openSession(portico.url)
  })
  after(async () => {
    await portico?.close()
  })

  const call = (tool: string) => postToolCall(portico.url, session, tool, CALL_ID)

  it('reaches the client while it arrives, then whole and unchanged; the call is recorded answered', async () => {
    const response = await call('big')
    const reader = response.body?.getReader()
    assert.ok(reader)
    const decoder = new TextDecoder()
    let text = ''
    const read = async () => {
      const { value, done } = await reader.read()
      if (!done) text += decoder.decode(value, { stream: true })
      return done
    }
    // The upstream holds the second half until the client has seen most of the first.
    await until(
      async () => {
        await read()
        return text.length >= HALF / 2 || undefined
      },
      10_000,
      'the first half of the event at the client while the upstream holds the rest',
    )
    assert.ok(held !== undefined && !held.writableEnded, 'the upstream has not finished')
    held.end(EVENT.slice(HALF))
    while (!(await read())) {}
    text += decoder.decode()
    assert.equal(text, EVENT)
    await sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.method === 'tools/call'),
    )
    const recorded = sink.exchanges().find((e) => e.method === 'tools/call') as ExchangeEvent
    assert.equal(recorded.outcome, 'ok')
  })

  it('cut off in its middle: the cut event is closed and an error event answers the call', async () => {
    const response = await call('cut')
    const text = await response.text()
    assert.ok(text.startsWith(EVENT.slice(0, HALF / 2)), 'the first half went ahead')
    const events = new SseParser(4 * HALF).push(text)
    assert.equal(events.length, 2, 'the cut event, closed, then the error event')
    const answer = JSON.parse(events[1]?.data ?? '') as { id?: unknown; error?: { code?: number } }
    assert.equal(answer.id, CALL_ID)
    assert.equal(typeof answer.error?.code, 'number')
    assert.throws(() => JSON.parse(events[0]?.data ?? ''), 'the cut event holds no message')
  })
})
