/**
 * The proxy→writer encoding: every field of both event types survives the trip, absent
 * fields stay undefined, and JSON values (schema params and results) come back equal.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ExchangeEvent, NotificationEvent } from '../../src/observe/event.ts'
import { decodeEvents, EventBatch, encodeEvents } from '../../src/store/wire.ts'

const FULL: Required<ExchangeEvent> = {
  type: 'exchange',
  ts: 1_700_000_000_123,
  proxy: 'p',
  backend: 'b',
  transport: 'streamable-http',
  era: 'modern',
  kind: 'request',
  method: 'tools/list',
  name: 'echo',
  targetKind: 'tool',
  jsonrpcId: 'id-7',
  sessionId: 's',
  protocolVersion: '2026-07-28',
  client: { name: 'claude-ai', version: '1.0' },
  userAgent: 'ua/1',
  subject: 'alice',
  authClient: 'client-1',
  clientAddress: '127.0.0.1',
  via: 'tunnel',
  path: '/mcp',
  outcome: 'error',
  errorCode: -32602,
  errorMessage: 'bad "params"\n',
  reason: 'upstream_timeout',
  httpStatus: 200,
  upstreamStatus: 502,
  firstByteUs: 10,
  durationUs: 20,
  bytesIn: 30,
  bytesOut: 40,
  params: { cursor: 'c1' },
  result: { tools: [{ name: 'echo', inputSchema: { type: 'object' } }], nextCursor: 'c2' },
  cache: 'hit',
  queuedMs: 12,
  retries: 1,
  hedges: 1,
  breaker: 'open',
}

describe('store wire encoding', () => {
  it('round-trips every field of an exchange and a notification', () => {
    const notification: Required<NotificationEvent> = {
      type: 'notification',
      ts: 5,
      proxy: 'p',
      backend: 'b',
      sessionId: 's',
      transport: 'sse',
      era: 'legacy',
      method: 'notifications/resources/updated',
      params: { uri: 'file:///a' },
      bytes: 77,
    }
    assert.deepEqual(decodeEvents(encodeEvents([FULL, notification])), [FULL, notification])
  })

  it('hands a batch over as bytes that read back as the events, and starts a new one', () => {
    const unicode: ExchangeEvent = {
      ...FULL,
      name: 'outil_été_🚀',
      errorMessage: 'ünïcode "quoted"',
    }
    const batch = new EventBatch()
    for (const event of [FULL, unicode, FULL]) batch.add(event)
    assert.equal(batch.count, 3)
    const bytes = batch.takeBytes()
    assert.deepEqual(decodeEvents(bytes), [FULL, unicode, FULL])
    assert.equal(batch.count, 0, 'a new batch')
    batch.add(unicode)
    assert.deepEqual(decodeEvents(batch.takeText()), [unicode], 'nothing of the last one in it')
    assert.deepEqual(decodeEvents(batch.takeText()), [], 'an empty batch is an empty array')
  })

  it('adds nothing of an event it cannot encode', () => {
    const batch = new EventBatch()
    batch.add(FULL)
    const circular: Record<string, unknown> = {}
    circular.self = circular
    assert.throws(() => batch.add({ ...FULL, params: circular } as ExchangeEvent))
    assert.equal(batch.count, 1)
    assert.deepEqual(decodeEvents(batch.takeText()), [FULL])
  })

  it('gives absent fields back as undefined and keeps numeric ids numeric', () => {
    const minimal: ExchangeEvent = {
      type: 'exchange',
      ts: 1,
      proxy: 'p',
      transport: 'stdio',
      era: 'legacy',
      kind: 'notification',
      method: 'notifications/initialized',
      jsonrpcId: 0,
      outcome: 'ok',
      httpStatus: 202,
      durationUs: 0,
      bytesIn: 0,
      bytesOut: 0,
    }
    const [back] = decodeEvents(encodeEvents([minimal]))
    const present = Object.fromEntries(
      Object.entries(back as object).filter(([, value]) => value !== undefined),
    )
    assert.deepEqual(present, minimal)
    assert.equal((back as ExchangeEvent).name, undefined)
  })
})
