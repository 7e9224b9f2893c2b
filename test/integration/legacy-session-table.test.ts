/**
 * Legacy HTTP+SSE (2024-11-05) in transparent mode: an upstream stream whose `endpoint`
 * events name several sessions. When that stream ends, every session it named leaves
 * Portico's session table, not only the last one (e2aabba): the others stayed for good, so a
 * stream naming 10,001 filled the table and every later session's answers skipped the chain.
 *
 * Seen from outside: a POST naming a session Portico tracks is answered 202 and its answer
 * awaited on that session's stream; a POST naming one it does not track is forwarded
 * uncorrelated, and an answer the upstream gives in the POST's own body is relayed. The
 * upstream here answers in the body for sessions it no longer serves.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  type LegacyClient,
  type LegacyUpstream,
  openLegacyClient,
  sseMessage,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const NAMED = ['a1', 'a2', 'a3']

describe('legacy HTTP+SSE: a stream that named several sessions ends', () => {
  let upstream: LegacyUpstream
  let portico: RunningPortico
  let other: LegacyClient

  before(async () => {
    upstream = await startLegacyUpstream({
      open: (res, session) => {
        if (session === 's1') {
          res.write(`event: endpoint\ndata: /messages?sessionId=${session}\n\n`)
          return [session]
        }
        // The second stream names three sessions, one after the other, then ends.
        for (const name of NAMED)
          res.write(`event: endpoint\ndata: /messages?sessionId=${name}\n\n`)
        setTimeout(() => res.end(), 100)
        return NAMED
      },
      answer: (message, stream) => {
        stream.write(sseMessage({ jsonrpc: '2.0', id: message.id, result: { onStream: true } }))
      },
      orphan: (message, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { inBody: true } }))
      },
    })
    portico = await startPortico({ upstream: upstream.url, request_timeout: '10s' })
    // Keeps the messages path announced once the other stream has ended.
    other = await openLegacyClient(portico.origin)
  })
  after(async () => {
    other?.leave()
    await portico?.close()
    await upstream?.close()
  })

  it('leaves none of them in the session table', async () => {
    const stream = await fetch(`${portico.origin}/sse`, {
      headers: { accept: 'text/event-stream' },
    })
    // Read to its end: Portico ends the client's stream after releasing its sessions.
    const text = await stream.text()
    for (const name of NAMED)
      assert.match(text, new RegExp(`data: /messages\\?sessionId=${name}\\n`))
    for (const [index, name] of NAMED.entries()) {
      const response = await fetch(`${portico.origin}/messages?sessionId=${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: index + 1, method: 'ping' }),
      })
      // 202 with nothing in the body: Portico still took the session for one it serves, and
      // waited for an answer on a stream that has ended.
      assert.equal(response.status, 200, `session ${name}`)
      assert.deepEqual(await response.json(), {
        jsonrpc: '2.0',
        id: index + 1,
        result: { inBody: true },
      })
    }
    // The open session is still served on its stream.
    assert.equal(await other.post({ jsonrpc: '2.0', id: 9, method: 'ping' }), 202)
    await other.readUntil((t) => t.includes('"id":9,"result":{"onStream":true}'), 'the answer')
  })
})
