/**
 * A call's SSE answer through transparent Portico, from a real HTTP upstream that streams what
 * long tools stream: progress and log notifications, a server request, a list change, a
 * notification whose params hold the word "result", then the response. Every event reaches
 * the client as the upstream wrote it and in order; the response answers the call (recorded
 * ok); of the notifications only the list change is recorded (edge/send.ts lets messages that
 * can matter to neither pass unread). Also when the upstream writes each event on its own.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ExchangeEvent, NotificationEvent } from '../../src/observe/event.ts'
import { openSession, postToolCall } from '../helpers/mcp-http.ts'
import {
  type CaptureSink,
  captureSink,
  type RunningPortico,
  startPortico,
} from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'

const CALL_ID = 41

const EVENTS = [
  { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } },
  { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'working' } },
  { jsonrpc: '2.0', id: 'srv-1', method: 'roots/list' },
  { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
  { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'result' } },
  { jsonrpc: '2.0', id: CALL_ID, result: { content: [{ type: 'text', text: 'done' }] } },
].map((message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`)

let upstream: RawUpstream

before(async () => {
  upstream = await startRawUpstream('chatty', (res, request) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (request.path.endsWith('one-by-one')) {
      let next = 0
      const timer = setInterval(() => {
        const event = EVENTS[next++] as string
        if (next < EVENTS.length) res.write(event)
        else {
          clearInterval(timer)
          res.end(event)
        }
      }, 2)
      return
    }
    res.end(EVENTS.join(''))
  })
})

after(async () => {
  await upstream.close()
})

for (const path of ['/mcp', '/mcp/one-by-one']) {
  describe(`events on a call's stream pass through (upstream ${path})`, () => {
    let portico: RunningPortico
    let sink: CaptureSink

    before(async () => {
      sink = captureSink()
      portico = await startPortico(
        { upstream: upstream.url.replace(/\/mcp$/, path) },
        { sinks: [sink] },
      )
    })
    after(async () => {
      await portico?.close()
    })

    it('as written, in order; the call answered, only the list change recorded', async () => {
      const session = await openSession(portico.url)
      const response = await postToolCall(portico.url, session, 'long', CALL_ID)
      assert.equal(response.status, 200)
      assert.equal(await response.text(), EVENTS.join(''))
      await sink.waitFor((events) =>
        events.some((e) => e.type === 'exchange' && e.method === 'tools/call'),
      )
      const call = sink.exchanges().find((e) => e.method === 'tools/call') as ExchangeEvent
      assert.equal(call.outcome, 'ok')
      assert.equal(call.jsonrpcId, CALL_ID)
      const notifications = sink.events.filter(
        (e): e is NotificationEvent => e.type === 'notification',
      )
      assert.deepEqual(
        notifications.map((n) => n.method),
        ['notifications/tools/list_changed'],
      )
    })
  })
}
