/**
 * List answers that reach a caller outside its call's own answer are filtered by its roles as
 * the chain filters them: a `tools/list` answer an SDK server with an event store replays on
 * a GET stream resumed with `Last-Event-ID`, and the answers of the legacy HTTP+SSE transport,
 * which come on its stream. Transparent mode, real SDK servers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { type ResumableServer, startResumableServer } from '../fixtures/resumable-server.ts'
import { type Served, serveMcp } from '../fixtures/serve.ts'
import { MCP_ACCEPT, sseClientWithKey } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, startEverything } from '../helpers/processes.ts'

const KEY = 'alice-key-0123456789'
const VERSION = '2025-11-25'

describe('a caller held to some tools resumes the stream its list came on', () => {
  let upstream: ResumableServer
  let portico: RunningPortico

  before(async () => {
    upstream = await startResumableServer()
    portico = await startPortico({
      upstream: upstream.url,
      auth: {
        api_keys: [{ name: 'alice', key: KEY, roles: ['counter'] }],
        roles: [{ name: 'counter', allow_tools: ['countdown'] }],
      },
    })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  const headers = (session?: string): Record<string, string> => ({
    ...MCP_ACCEPT,
    authorization: `Bearer ${KEY}`,
    'mcp-protocol-version': VERSION,
    ...(session === undefined ? {} : { 'mcp-session-id': session }),
  })

  const post = (body: object, session?: string) =>
    fetch(portico.url, { method: 'POST', headers: headers(session), body: JSON.stringify(body) })

  it('gets the replayed tools/list answer filtered as the first one was', async () => {
    const init = await post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: VERSION,
        capabilities: {},
        clientInfo: { name: 't', version: '1' },
      },
    })
    const session = init.headers.get('mcp-session-id') ?? ''
    await init.text()
    await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text()
    const listed = await (
      await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, session)
    ).text()
    assert.match(listed, /countdown/)
    assert.doesNotMatch(listed, /change_tools/)
    // The SDK's event store names each event; the stream resumed after the first one replays
    // what followed it: the list's answer.
    const first = /^id: (.+)$/m.exec(listed)?.[1]
    assert.ok(first, listed)
    const resumed = await fetch(portico.url, {
      headers: { ...headers(session), accept: 'text/event-stream', 'last-event-id': first },
    })
    assert.equal(resumed.status, 200)
    let text = ''
    const decoder = new TextDecoder()
    for await (const chunk of resumed.body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true })
      if (text.includes('"id":2')) break
    }
    await resumed.body?.cancel().catch(() => undefined)
    // Before: the replay was relayed as the upstream sent it, the hidden tool in it.
    assert.match(text, /countdown/)
    assert.doesNotMatch(text, /change_tools/)
  })
})

describe('a caller held to some tools on the legacy HTTP+SSE transport', () => {
  let everything: Spawned & { url: string }
  let portico: RunningPortico
  let client: Client

  before(async () => {
    everything = await startEverything('sse')
    portico = await startPortico({
      upstream: everything.url,
      auth: {
        api_keys: [{ name: 'alice', key: KEY, roles: ['echoer'] }],
        roles: [{ name: 'echoer', allow_tools: ['echo'] }],
      },
    })
    client = new Client({ name: 'legacy-lists', version: '1.0.0' })
    await client.connect(sseClientWithKey(portico.origin, KEY))
  })
  after(async () => {
    await client?.close().catch(() => undefined)
    await portico?.close()
    await everything?.stop()
  })

  it('lists only the tools it may call', async () => {
    const { tools } = await client.listTools()
    assert.deepEqual(
      tools.map((tool) => tool.name),
      ['echo'],
    )
  })
})

describe('a stream whose success is not an event stream, while answers on it are filtered', () => {
  // Clients (the SDK among them) read a GET body as SSE whatever its Content-Type: passed on
  // unread, the list below reached a caller held to `echo` with the hidden tool in it.
  const hiddenList = {
    jsonrpc: '2.0',
    id: 7,
    result: { tools: [{ name: 'echo' }, { name: 'secret', description: 'the hidden one' }] },
  }
  let upstream: Served
  let portico: RunningPortico

  before(async () => {
    upstream = await serveMcp(async (req, res) => {
      if (req.method !== 'GET') return void res.writeHead(405).end()
      if (req.url?.includes('empty')) return void res.writeHead(204).end()
      res.writeHead(200, { 'content-type': req.url?.includes('sse') ? 'text/plain' : 'text/html' })
      res.end(`event: message\ndata: ${JSON.stringify(hiddenList)}\n\n`)
    })
    portico = await startPortico({
      upstream: upstream.url,
      auth: {
        api_keys: [{ name: 'alice', key: KEY, roles: ['echoer'] }],
        roles: [{ name: 'echoer', allow_tools: ['echo'] }],
      },
    })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  for (const path of ['/mcp', '/sse']) {
    it(`is refused on ${path}, not passed on unread`, async () => {
      const response = await fetch(new URL(path, portico.origin), {
        headers: {
          accept: 'text/event-stream',
          authorization: `Bearer ${KEY}`,
          'mcp-protocol-version': VERSION,
        },
      })
      const body = await response.text()
      assert.equal(response.status, 502, body)
      assert.doesNotMatch(body, /secret/)
      assert.match(body, /not text\/event-stream: its messages cannot be checked/)
    })
  }

  it('passes a GET answer with no body (nothing in it to check)', async () => {
    const response = await fetch(new URL('/mcp?empty=1', portico.origin), {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${KEY}` },
    })
    assert.equal(response.status, 204)
  })
})
