/**
 * Stopping Portico keeps the promise of an answer for every call (from the lifecycle fuzzer;
 * both failed on the build before): a call still running when `drain_timeout` ends gets
 * `shutting_down` with its id, on its SSE stream too (its stream ended with nothing, and an SDK
 * client waited for its own timeout, minutes after Portico had gone); and a legacy HTTP+SSE
 * session's stream, which carries its calls' answers, stays open while they run (it was ended
 * at the first moment of the drain, as if it only listened, and the calls never answered).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { type CancelUpstream, startCancelUpstream } from '../fixtures/cancel-upstream.ts'
import {
  type LegacyUpstream,
  messagesIn,
  openLegacyClient,
  sseMessage,
  startLegacyUpstream,
} from '../helpers/legacy-upstream.ts'
import { openSession, postToolCall } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

describe('stopping Portico with calls in flight', () => {
  let upstream: CancelUpstream | undefined
  let legacy: LegacyUpstream | undefined
  after(async () => {
    await upstream?.close()
    await legacy?.close()
  })

  it('a call still running at the end of drain_timeout gets shutting_down on its stream', async () => {
    upstream = await startCancelUpstream()
    const portico = await startPortico({ upstream: upstream.url, drain_timeout: 0.3 })
    const session = await openSession(portico.url)
    const answer = await postToolCall(portico.url, session, 'wait', 'cut')
    assert.equal(answer.headers.get('content-type'), 'text/event-stream')
    const waiting = upstream
    await until(() => waiting.started > 0 || undefined, 5000, 'the upstream to start wait')
    const closing = portico.close()
    const text = await answer.text()
    await closing
    const [response] = messagesIn(text)
    assert.equal(response?.id, 'cut', text)
    const error = response?.error as { message?: string } | undefined
    assert.match(error?.message ?? '', /shutting down/)
    const recorded = portico.sink.exchanges().find((e) => e.method === 'tools/call')
    assert.equal(recorded?.reason, 'shutting_down')
  })

  it('a gateway call to a stdio backend still running at the deadline gets shutting_down', async () => {
    const portico = await startPortico({
      drain_timeout: 0.3,
      backends: [
        {
          name: 'slow',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('faulty-stdio')],
        },
      ],
    })
    const session = await openSession(portico.url)
    // A gateway answer's head comes with its answer: the POST is stopped while it waits.
    const answer = postToolCall(portico.url, session, 'slow__hang', 'cut')
    await until(() => hangsRunning(portico.url, session), 5000, 'the backend to run hang')
    const closing = portico.close()
    const text = await (await answer).text()
    await closing
    const response = answerIn(text)
    assert.equal(response?.id, 'cut', text)
    assert.match((response?.error as { message?: string })?.message ?? '', /shutting down/, text)
    const recorded = portico.sink.exchanges().find((e) => e.jsonrpcId === 'cut')
    assert.equal(recorded?.reason, 'shutting_down')
  })

  it('a gateway call to an HTTP backend still running at the deadline: the backend hears the cancel', async () => {
    const backend = await startCancelUpstream()
    try {
      const portico = await startPortico({
        drain_timeout: 0.3,
        backends: [{ name: 'up', transport: 'http', url: backend.url }],
      })
      const session = await openSession(portico.url)
      const answer = postToolCall(portico.url, session, 'up__wait', 'cut')
      await until(() => backend.started > 0 || undefined, 5000, 'the backend to start wait')
      await portico.close()
      const response = answerIn(await (await answer).text())
      assert.match((response?.error as { message?: string })?.message ?? '', /shutting down/)
      // Its cancel went out on the pools the stop then destroyed: it never arrived.
      await until(() => backend.cancels > 0 || undefined, 5000, 'the backend to hear the cancel')
    } finally {
      await backend.close()
    }
  })

  it("a legacy session's stream stays open until its calls are answered", async () => {
    legacy = await startLegacyUpstream({
      answer(message, stream) {
        if (message.id === undefined) return
        const result = { content: [{ type: 'text', text: 'late but whole' }] }
        setTimeout(() => stream.write(sseMessage({ jsonrpc: '2.0', id: message.id, result })), 500)
      },
    })
    const answer = await stopDuringLegacyCall(legacy.url, 10, 5)
    assert.deepEqual(answer?.result, { content: [{ type: 'text', text: 'late but whole' }] })
  })

  it("a legacy session's call still running at the deadline gets shutting_down on the stream", async () => {
    const silent = await startLegacyUpstream({ answer() {} })
    try {
      const answer = await stopDuringLegacyCall(silent.url, 0.3, 6)
      // Not blamed on the upstream ("ended its answer without a response"): Portico cut it.
      assert.match((answer?.error as { message?: string })?.message ?? '', /shutting down/)
    } finally {
      await silent.close()
    }
  })
})

/**
 * Posts call `id` on a legacy session through a Portico in front of `upstream`, stops Portico
 * (`drainTimeout` seconds), and gives the answer the session's stream carried for it.
 */
async function stopDuringLegacyCall(
  upstream: string,
  drainTimeout: number,
  id: number,
): Promise<Record<string, unknown> | undefined> {
  const portico = await startPortico({ upstream, drain_timeout: drainTimeout })
  const client = await openLegacyClient(portico.origin)
  const status = await client.post({ jsonrpc: '2.0', id, method: 'tools/call', params: {} })
  assert.equal(status, 202)
  const closing = portico.close()
  await client.readUntil((text) => text.includes(`"id":${id}`), 'the answer on the stream')
  await closing
  return messagesIn(client.text()).find((message) => message.id === id)
}

/** The JSON-RPC answer of a POST, whether it came as JSON or as an SSE stream. */
function answerIn(text: string): Record<string, unknown> | undefined {
  if (text.startsWith('{')) return JSON.parse(text) as Record<string, unknown>
  return messagesIn(text)[0]
}

/** Resolves true once the faulty backend `slow` has started a `hang` (its `stats` tool says). */
async function hangsRunning(url: string, session: string): Promise<true | undefined> {
  const answer = await postToolCall(url, session, 'slow__stats', 'stats')
  const text = (answerIn(await answer.text())?.result as { content?: Array<{ text?: string }> })
    ?.content?.[0]?.text
  const stats = JSON.parse(text ?? '{}') as { runs?: Record<string, number> }
  return (stats.runs?.hang ?? 0) > 0 || undefined
}
