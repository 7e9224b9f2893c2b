/**
 * Legacy HTTP+SSE (2024-11-05) in transparent mode: one answer on the session's stream larger
 * than `max_response_body_size`. The event is read past (never held), the call it answers gets
 * a `response_too_large` error event with its id, and the session serves its other calls. It
 * used to end the client's stream: every pending call got "Upstream ended its answer without a
 * response" and later POSTs 404.
 */
import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { Logger } from '../../src/observe/logger.ts'
import {
  type LegacyClient,
  type LegacyMessage,
  type LegacyUpstream,
  messagesIn,
  openLegacyClient,
  sseMessage,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const LIMIT = 100_000
const BIG = 'x'.repeat(200_000)

/** Writes `text` in pieces, a tick apart, so Portico reads the event over several chunks. */
function writeInPieces(stream: ServerResponse, text: string, then?: () => void): void {
  const pieces: string[] = []
  for (let at = 0; at < text.length; at += 30_000) pieces.push(text.slice(at, at + 30_000))
  const next = () => {
    const piece = pieces.shift()
    if (stream.destroyed) return
    if (piece === undefined) return then?.()
    stream.write(piece)
    setTimeout(next, 5)
  }
  next()
}

/** The server's answers, by the request's method. */
function answer(message: LegacyMessage, stream: ServerResponse): void {
  const id = message.id
  const result = { content: [{ type: 'text', text: BIG }] }
  const small = (value: object) => stream.write(sseMessage({ jsonrpc: '2.0', id, result: value }))
  switch (message.method) {
    case 'slow':
      break // answered never: still waiting while the others come and go
    case 'big-id-last':
      // The MCP SDK's order: `{result, jsonrpc, id}`, the id after 200 KB.
      writeInPieces(stream, sseMessage({ result, jsonrpc: '2.0', id }))
      break
    case 'big-id-first':
      writeInPieces(stream, sseMessage({ jsonrpc: '2.0', id, result }))
      break
    case 'big-request-then-answer':
      // A server's own request over the bound carrying the same id is not the answer: the
      // answer that follows is.
      writeInPieces(
        stream,
        sseMessage({ jsonrpc: '2.0', id, method: 'sampling/createMessage', params: result }),
        () => small({ small: true }),
      )
      break
    case 'big-without-id':
      writeInPieces(stream, sseMessage({ jsonrpc: '2.0', result }))
      break
    default:
      small({ method: message.method })
  }
}

describe('legacy HTTP+SSE: an answer event over max_response_body_size', () => {
  const logs: string[] = []
  let upstream: LegacyUpstream
  let portico: RunningPortico
  let client: LegacyClient

  before(async () => {
    upstream = await startLegacyUpstream({ answer })
    portico = await startPortico(
      { upstream: upstream.url, max_response_body_size: LIMIT, request_timeout: '3s' },
      { logger: new Logger({ level: 'warn', write: (line) => logs.push(line) }) },
    )
    client = await openLegacyClient(portico.origin)
  })
  after(async () => {
    client?.leave()
    await portico?.close()
    await upstream?.close()
  })

  const answerTo = (id: number) => messagesIn(client.text()).find((m) => m.id === id)

  it('fails only the call it answers, with response_too_large and its id; the session goes on', async () => {
    assert.equal(await client.post({ jsonrpc: '2.0', id: 1, method: 'slow' }), 202)
    assert.equal(await client.post({ jsonrpc: '2.0', id: 2, method: 'big-id-last' }), 202)
    await client.readUntil(() => answerTo(2) !== undefined, 'the answer to id 2')
    assert.deepEqual(answerTo(2), {
      jsonrpc: '2.0',
      id: 2,
      error: { code: -32603, message: `Upstream sent an SSE event larger than ${LIMIT} bytes` },
    })
    // The same stream serves the next call, and the first is still waiting.
    assert.equal(await client.post({ jsonrpc: '2.0', id: 3, method: 'echo' }), 202)
    await client.readUntil(() => answerTo(3) !== undefined, 'the answer to id 3')
    assert.deepEqual(answerTo(3)?.result, { method: 'echo' })
    assert.equal(await client.post({ jsonrpc: '2.0', id: 4, method: 'big-id-first' }), 202)
    await client.readUntil(() => answerTo(4) !== undefined, 'the answer to id 4')
    assert.match(String((answerTo(4)?.error as { message?: string })?.message), /larger than/)
    assert.equal(answerTo(1), undefined, 'the pending call was not failed with the others')
    assert.ok(!client.text().includes('x'.repeat(1000)), 'nothing of the big events was passed on')
    await portico.sink.waitFor(() => portico.sink.exchanges().some((e) => e.jsonrpcId === 4))
    for (const id of [2, 4]) {
      const event = portico.sink.exchanges().find((e) => e.jsonrpcId === id)
      assert.equal(event?.reason, 'response_too_large', `id ${id}`)
      assert.equal(event?.outcome, 'error')
    }
    assert.equal(
      portico.sink.exchanges().find((e) => e.jsonrpcId === 1),
      undefined,
    )
  })

  it('a server request over the bound with the same id is dropped, not taken for the answer', async () => {
    assert.equal(
      await client.post({ jsonrpc: '2.0', id: 5, method: 'big-request-then-answer' }),
      202,
    )
    await client.readUntil(() => answerTo(5) !== undefined, 'the answer to id 5')
    assert.deepEqual(answerTo(5)?.result, { small: true })
    assert.ok(
      logs.some((line) => /discarded \(a message from the server, not an answer\)/.test(line)),
    )
  })

  it('an event whose id cannot be read is logged; its call and the pending one get their own deadline', async () => {
    assert.equal(await client.post({ jsonrpc: '2.0', id: 6, method: 'big-without-id' }), 202)
    await client.readUntil(
      () => answerTo(6) !== undefined && answerTo(1) !== undefined,
      'the deadline errors of ids 6 and 1',
      8000,
    )
    for (const id of [1, 6]) {
      const error = answerTo(id)?.error as { code: number; data?: { reason?: string } }
      assert.equal(error.code, -32603, `id ${id}`)
      assert.equal(error.data?.reason, 'timeout', `id ${id}`)
    }
    assert.ok(
      logs.some((line) => /no top-level id could be read from it/.test(line)),
      logs.join('\n'),
    )
    // The stream is still the session's: a last call is answered on it.
    assert.equal(await client.post({ jsonrpc: '2.0', id: 7, method: 'echo' }), 202)
    await client.readUntil(() => answerTo(7) !== undefined, 'the answer to id 7')
    assert.equal(upstream.openStreams(), 1)
  })
})
