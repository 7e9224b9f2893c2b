/**
 * `initialize` sent as a JSON-RPC batch of one (the SDK's server accepts it alone in a batch):
 * the answer carries the session it opened, as a lone `initialize`'s does, in transparent mode
 * (the gateway refuses a batched `initialize`: MCP forbids it). The
 * batch answer carried none of the upstream's headers, so the client had no session id and the
 * upstream kept a session nobody could use. From the transparent-streams fuzzer (L4).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Served } from '../fixtures/serve.ts'
import { startStoreUpstream } from '../fixtures/store-upstream.ts'
import { initializeBody, MCP_ACCEPT, sessionHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

describe('initialize in a batch of one (transparent mode)', () => {
  let upstream: Served
  let portico: RunningPortico
  before(async () => {
    upstream = await startStoreUpstream()
    portico = await startPortico({ upstream: upstream.url })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  it('answers with the session it opened, which then serves', async () => {
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: MCP_ACCEPT,
      body: `[${initializeBody()}]`,
    })
    const text = await response.text()
    assert.equal(response.status, 200, text)
    assert.match(text, /"protocolVersion"/)
    const session = response.headers.get('mcp-session-id')
    assert.ok(session, 'the batch answer carries Mcp-Session-Id')
    const list = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, ...sessionHeaders(session) },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    })
    assert.equal(list.status, 200)
    assert.match(await list.text(), /"tools"/)
  })
})
