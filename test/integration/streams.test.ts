/**
 * Streams through Portico: resumption with Last-Event-ID after a dropped POST stream, and
 * notifications on the standalone GET stream (recorded for schema change tracking).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type ResumableServer, startResumableServer } from '../fixtures/resumable-server.ts'
import { MCP_ACCEPT, openSession, readEvents } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

describe('streams through Portico', () => {
  let server: ResumableServer
  let portico: RunningPortico

  before(async () => {
    server = await startResumableServer()
    portico = await startPortico({ upstream: server.url })
  })
  after(async () => {
    await portico?.close()
    await server?.close()
  })

  it('resumes a dropped stream with Last-Event-ID and gets the rest, the result included', async () => {
    const sessionId = await openSession(portico.url)
    const headers = {
      ...MCP_ACCEPT,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    }
    const abort = new AbortController()
    const call = await fetch(portico.url, {
      method: 'POST',
      headers,
      signal: abort.signal,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 5,
        method: 'tools/call',
        params: {
          name: 'countdown',
          arguments: { steps: 6, step_ms: 60 },
          _meta: { progressToken: 'p' },
        },
      }),
    })
    const first = await readEvents(call, (events) => events.length >= 2, 'two progress events')
    abort.abort()
    const lastId = first.at(-1)?.id
    assert.ok(lastId, 'events carry ids')
    const resumed = await fetch(portico.url, {
      method: 'GET',
      headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastId },
    })
    assert.equal(resumed.status, 200)
    const rest = await readEvents(
      resumed,
      (events) => events.some((e) => e.data.includes('"result"')),
      'the result on the resumed stream',
    )
    const progress = [...first, ...rest]
      .filter((e) => e.data.includes('notifications/progress'))
      .map((e) => (JSON.parse(e.data) as { params: { progress: number } }).params.progress)
    assert.deepEqual(
      progress,
      [1, 2, 3, 4, 5, 6],
      'no progress event lost or repeated across the resumption',
    )
    assert.ok(rest.some((e) => e.data.includes('liftoff')))
  })

  it('relays notifications on the standalone GET stream and records list changes', async () => {
    const sessionId = await openSession(portico.url)
    const headers = {
      ...MCP_ACCEPT,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    }
    const stream = await fetch(portico.url, {
      method: 'GET',
      headers: { ...headers, accept: 'text/event-stream' },
    })
    assert.equal(stream.status, 200)
    const waiting = readEvents(
      stream,
      (events) => events.some((e) => e.data.includes('list_changed')),
      'tools/list_changed on the GET stream',
    )
    const change = await fetch(portico.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'change_tools', arguments: {} },
      }),
    })
    await change.text()
    const events = await waiting
    assert.ok(events.some((e) => e.data.includes('notifications/tools/list_changed')))
    await portico.sink.waitFor((all) =>
      all.some(
        (e) =>
          e.type === 'notification' &&
          e.method === 'notifications/tools/list_changed' &&
          e.sessionId === sessionId,
      ),
    )
  })
})
