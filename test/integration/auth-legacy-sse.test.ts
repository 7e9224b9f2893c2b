/**
 * The legacy HTTP+SSE transport (2024-11-05) behind API keys: the SDK v1 SSE client with its
 * key on the stream and on every POST reaches server-everything through Portico; the stream
 * and the POSTs refuse a missing key, and the session announced on one caller's stream cannot
 * be posted to by another caller.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { sseClientWithKey as sseClient } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'

describe('legacy HTTP+SSE behind API keys', () => {
  let everything: Spawned & { url: string }
  let portico: RunningPortico
  let client: Client

  before(async () => {
    everything = await startEverything('sse')
    portico = await startPortico({
      upstream: everything.url,
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'bob', key: 'bob-key-0123456789a' },
        ],
      },
    })
    client = new Client({ name: 'sse-client', version: '0.1.0' })
    await client.connect(sseClient(portico.origin, 'alice-key-0123456789'))
  })
  after(async () => {
    await client?.close().catch(() => undefined)
    await portico?.close()
    await everything?.stop()
  })

  it('serves the caller with a key, stream and POSTs alike', async () => {
    const result = await client.callTool({ name: 'echo', arguments: { message: 'legacy' } })
    assert.match(JSON.stringify(result.content), /legacy/)
  })

  it('refuses the stream without a key, and a POST to alice\u2019s session from bob', async () => {
    const stream = await fetch(new URL('/sse', portico.origin), {
      headers: { accept: 'text/event-stream' },
    })
    await stream.body?.cancel()
    assert.equal(stream.status, 401)
    // The session the stream announced, as alice's POSTs were recorded with it.
    const sessionId =
      portico.sink.exchanges().find((e) => e.transport === 'sse' && e.sessionId !== undefined)
        ?.sessionId ?? ''
    assert.ok(sessionId, 'alice posted to her session')
    const url = `${portico.origin}/message?sessionId=${sessionId}`
    assert.equal((await rpc(url, request(9, 'tools/list'))).status, 401)
    const stolen = await rpc(url, request(9, 'tools/list'), bearer('bob-key-0123456789a'))
    assert.equal(stolen.status, 403)
    assert.match(stolen.message?.error?.message ?? '', /another identity/)
  })

  it("bob's own session in the header, or a second spelling in the query, does not open alice's", async () => {
    const bob = new Client({ name: 'sse-bob', version: '0.1.0' })
    await bob.connect(sseClient(portico.origin, 'bob-key-0123456789a'))
    await bob.callTool({ name: 'echo', arguments: { message: 'bob' } })
    const sessions = [
      ...new Set(
        portico.sink
          .exchanges()
          .filter((e) => e.transport === 'sse' && e.sessionId !== undefined)
          .map((e) => e.sessionId as string),
      ),
    ]
    assert.equal(sessions.length, 2, 'alice and bob each have a session')
    const [alices, bobs] = sessions as [string, string]
    const withHeader = await rpc(
      `${portico.origin}/message?sessionId=${alices}`,
      request(10, 'tools/list'),
      { ...bearer('bob-key-0123456789a'), 'mcp-session-id': bobs },
    )
    assert.equal(withHeader.status, 403)
    const twoSpellings = await rpc(
      `${portico.origin}/message?sessionId=${bobs}&session_id=${alices}`,
      request(11, 'tools/list'),
      bearer('bob-key-0123456789a'),
    )
    assert.equal(twoSpellings.status, 400)
    assert.match(twoSpellings.message?.error?.message ?? '', /more than one session/)
    // Express's default query parser reads these as ["<alice's>"], which a plain-object lookup
    // of sessions finds: they name alice's session, and bob may not post to it.
    for (const [i, key] of ['sessionId[]', 'sessionId[0]', 'session_id%5B%5D'].entries()) {
      const bracketed = await rpc(
        `${portico.origin}/message?${key}=${alices}`,
        request(20 + i, 'tools/list'),
        bearer('bob-key-0123456789a'),
      )
      assert.equal(bracketed.status, 403, key)
    }
    await bob.close()
  })
})
