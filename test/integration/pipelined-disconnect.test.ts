/**
 * A client that pipelines requests on one connection and leaves before they are answered
 * (issue: pipelined answers never closed). Node gives the answer to a request sent behind
 * another no socket until the one before it is done, and emits no `close` on it when the
 * connection dies first: the call stayed in flight for the process's life (each stop waited
 * `drain_timeout`, and memory grew with every such client). Both modes, real sockets.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { openSession, sessionHeaders, toolCallBody } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'
import { until } from '../helpers/wait.ts'

/** One raw HTTP/1.1 POST, with its length, as a pipelining client writes it. */
function post(url: URL, headers: Record<string, string>, body: string): string {
  const lines = Object.entries({ ...headers, host: url.host }).map(([k, v]) => `${k}: ${v}\r\n`)
  return `POST ${url.pathname} HTTP/1.1\r\n${lines.join('')}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

describe('requests pipelined behind a slow one, from a client that leaves', () => {
  /** Calls the upstream holds, by id, and whether each was let go (its request closed). */
  const held = new Map<unknown, { closed: boolean }>()
  let upstream: RawUpstream
  before(async () => {
    upstream = await startRawUpstream('held', (res, request) => {
      if (request.method === 'tools/list') {
        const tools = [{ name: 'slow', inputSchema: { type: 'object' } }]
        return void res.end(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: { tools } }))
      }
      if (request.method !== 'tools/call') {
        return void res.end(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: {} }))
      }
      const call = { closed: false }
      held.set(request.id, call)
      res.once('close', () => {
        call.closed = true
      })
    })
  })
  after(() => upstream?.close())

  const modes = {
    transparent: () => ({ upstream: upstream.url }),
    gateway: () => ({ backends: [{ name: 'up', transport: 'http' as const, url: upstream.url }] }),
  }
  for (const [mode, config] of Object.entries(modes)) {
    it(`are let go with the connection: cancelled upstream, recorded, and a stop does not wait (${mode})`, async () => {
      held.clear()
      const portico: RunningPortico = await startPortico({ ...config(), drain_timeout: 60 })
      const tool = mode === 'gateway' ? 'up__slow' : 'slow'
      const url = new URL(portico.url)
      const headers = sessionHeaders(await openSession(portico.url))
      const socket = connect(Number(url.port), '127.0.0.1')
      socket.on('error', () => {})
      socket.write(
        post(url, headers, toolCallBody(1, tool)) +
          post(url, headers, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' })) +
          post(url, headers, toolCallBody(3, tool)),
      )
      // All three read, the third sent upstream while the first holds the connection's turn.
      await until(() => held.size === 2 || undefined, 10_000, 'both calls to reach the upstream')
      socket.destroy()
      await until(
        () => [...held.values()].every((call) => call.closed) || undefined,
        10_000,
        'both calls to be cancelled upstream',
      )
      await portico.sink.waitFor(
        (events) =>
          events.filter(
            (e) => e.type === 'exchange' && (e.method === 'tools/call' || e.method === 'ping'),
          ).length >= 3,
      )
      const calls = portico.sink.exchanges().filter((e) => e.method === 'tools/call')
      assert.deepEqual(
        calls.map((e) => e.outcome),
        ['cancelled', 'cancelled'],
      )
      const started = performance.now()
      await portico.close()
      const stopMs = performance.now() - started
      assert.ok(stopMs < 30_000, `the stop waited ${Math.round(stopMs)} ms (drain_timeout 60 s)`)
    })
  }
})
