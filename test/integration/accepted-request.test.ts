/**
 * An upstream that answers a request with 202 or 204 (Streamable HTTP allows that only for
 * notifications and responses): the client must get an error with its id at once, in both
 * modes, not a 202 it would wait behind for ever (an MCP SDK client does not read a 202's body)
 * nor a wait for the timeout.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openSession, postToolCall } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'

/** How the upstream answers `tools/call`s, by the tool's name. */
const ANSWERS: Record<string, { status: number; type?: string; body: string }> = {
  'empty-202': { status: 202, body: '' },
  'sse-202': { status: 202, type: 'text/event-stream', body: 'id: 1\ndata:\n\n' },
  'json-202': {
    status: 202,
    type: 'application/json',
    body: '{"jsonrpc":"2.0","method":"notifications/progress"}',
  },
  'empty-204': { status: 204, body: '' },
}

async function call(portico: RunningPortico, name: string, id: string) {
  const response = await postToolCall(portico.url, await openSession(portico.url), name, id)
  const answer = (await response.json()) as { id: unknown; error?: { message: string } }
  return { status: response.status, answer }
}

describe('a request the upstream accepts without answering it', () => {
  let upstream: RawUpstream
  let transparent: RunningPortico
  let gateway: RunningPortico

  before(async () => {
    upstream = await startRawUpstream('accepting', (res, request) => {
      const answer =
        ANSWERS[request.params?.name?.replace(/^up__/, '') ?? ''] ?? ANSWERS['empty-202']
      const headers = answer?.type === undefined ? {} : { 'content-type': answer.type }
      res.writeHead(answer?.status ?? 202, headers).end(answer?.body)
    })
    // A timeout far above what the answers take: a call that waited for it would fail the
    // test's own time limit, and its error would say `did not answer in time` instead.
    transparent = await startPortico({ upstream: upstream.url, request_timeout: '20s' })
    gateway = await startPortico({
      backends: [{ name: 'up', transport: 'http', url: upstream.url, timeout: '20s' }],
    })
  })
  after(async () => {
    await transparent?.close()
    await gateway?.close()
    await upstream?.close()
  })

  it('transparent: answered at once with 502 and an error carrying its id', async () => {
    for (const name of Object.keys(ANSWERS)) {
      const { status, answer } = await call(transparent, name, `t-${name}`)
      assert.equal(status, 502, name)
      assert.equal(answer.id, `t-${name}`, name)
      assert.match(answer.error?.message ?? '', /without answering it \(HTTP 20[24]\)/, name)
    }
    await transparent.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.reason === 'upstream_bad_response'),
    )
  })

  it('gateway: answered at once with an error carrying its id', async () => {
    for (const name of Object.keys(ANSWERS)) {
      const { answer } = await call(gateway, `up__${name}`, `g-${name}`)
      assert.equal(answer.id, `g-${name}`, name)
      assert.match(answer.error?.message ?? '', /without answering it \(HTTP 20[24]\)/, name)
    }
  })
})
