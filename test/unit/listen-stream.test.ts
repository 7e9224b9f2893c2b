/**
 * A 2026-07-28 backend's listen stream, reopened for new subscriptions make-before-break: the
 * stream the backend acknowledged carries its updates until a successor is acknowledged, however
 * many reopens come before that. A scripted backend answers each listen request with a stream
 * (real Node streams) and acknowledges it when the test says so.
 */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { ListenStream } from '../../src/gateway/backends/listen-stream.ts'
import type { JsonRpcMessage } from '../../src/jsonrpc/message.ts'
import type { UpstreamResponse } from '../../src/upstream/http-client.ts'
import { until } from '../helpers/wait.ts'

interface Opened {
  body: PassThrough
  aborted: boolean
}

function sse(body: PassThrough, message: object): void {
  body.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
}

const UPDATE = {
  jsonrpc: '2.0',
  method: 'notifications/resources/updated',
  params: { uri: 'x://a' },
}
const ACK = { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: {} }

function backend() {
  const opened: Opened[] = []
  const delivered: Array<JsonRpcMessage & { method: string }> = []
  let id = 0
  const stream = new ListenStream({
    post: (_message, _headers, signal) => {
      const body = new PassThrough()
      const entry: Opened = { body, aborted: false }
      opened.push(entry)
      signal.addEventListener('abort', () => {
        entry.aborted = true
        body.destroy()
      })
      return Promise.resolve({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body,
      } as unknown as UpstreamResponse)
    },
    headersOf: () => ({}),
    filter: () => ({ resourceSubscriptions: ['x://a'] }),
    meta: {},
    nextId: () => `listen-${++id}`,
    deliver: (message) => delivered.push(message),
    maxMessageBytes: 1 << 20,
  })
  return { stream, opened, delivered }
}

describe('the listen stream, reopened', () => {
  it('keeps the acknowledged stream through two reopens before either successor is acknowledged', async () => {
    const { stream, opened, delivered } = backend()
    try {
      stream.open()
      await until(() => opened.length === 1)
      sse((opened[0] as Opened).body, ACK)
      await new Promise((resolve) => setTimeout(resolve, 20))
      stream.open()
      stream.open()
      await until(() => opened.length === 3)
      // Before: the second reopen closed the acknowledged first stream (it retired the second,
      // never acknowledged, in its place), and an update sent now was lost.
      assert.equal(opened[0]?.aborted, false, 'the acknowledged stream is still open')
      assert.equal(opened[1]?.aborted, true, 'the one never acknowledged is given up')
      sse((opened[0] as Opened).body, UPDATE)
      await until(() => delivered.length === 1, 2000, 'the update')
      assert.equal(delivered[0]?.method, 'notifications/resources/updated')
      // The newest is acknowledged: the one it replaces is closed.
      sse((opened[2] as Opened).body, ACK)
      await until(() => opened[0]?.aborted === true, 2000, 'the replaced stream closed')
      sse((opened[2] as Opened).body, UPDATE)
      await until(() => delivered.length === 2, 2000, 'the update on the newest')
    } finally {
      stream.close()
    }
  })
})
