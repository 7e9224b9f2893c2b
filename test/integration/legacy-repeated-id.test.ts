/**
 * Legacy HTTP+SSE (2024-11-05) through transparent mode when a client repeats an id that is
 * still in flight: the repeat is refused on the stream without reaching the upstream, the first
 * request gets its own answer (not the repeat's), and the stream goes on for later requests.
 * The repeat used to be forwarded anyway and to clear the first request's place, so answers went
 * to the wrong request and every later event could queue behind a place no one would fill.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { readUntil } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

interface Received {
  id: unknown
  method: string
}

/** A legacy server answering on its stream: `slow` after 1 s, anything else at once. */
async function startLegacyUpstream(received: Received[]): Promise<{ url: string; server: Server }> {
  const streams = new Map<string, ServerResponse>()
  let sessions = 0
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (req.method === 'GET' && url.pathname === '/sse') {
      const session = `s${++sessions}`
      streams.set(session, res)
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`event: endpoint\ndata: /messages?sessionId=${session}\n\n`)
      return
    }
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => {
      const stream = streams.get(url.searchParams.get('sessionId') ?? '')
      if (req.method !== 'POST' || stream === undefined) return void res.writeHead(404).end()
      const message = JSON.parse(body) as Received
      received.push({ id: message.id, method: message.method })
      res.writeHead(202).end('Accepted')
      const answer = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { method: message.method } })}\n\n`
      setTimeout(() => stream.write(answer), message.method === 'slow' ? 1000 : 0)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`, server }
}

describe('legacy HTTP+SSE: a repeated id in flight', () => {
  const received: Received[] = []
  let upstream: { url: string; server: Server }
  let portico: RunningPortico

  before(async () => {
    upstream = await startLegacyUpstream(received)
    portico = await startPortico({ upstream: upstream.url })
  })
  after(async () => {
    await portico?.close()
    upstream?.server.closeAllConnections()
    await new Promise((resolve) => upstream?.server.close(resolve))
  })

  it('is refused without reaching the upstream; the first gets its answer; the stream goes on', async () => {
    const controller = new AbortController()
    const stream = await fetch(`${portico.origin}/sse`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    })
    let text = ''
    const onText = (chunk: string) => {
      text += chunk
    }
    await readUntil(stream, onText, () => text.includes('sessionId='), 'the endpoint', 5000, true)
    const endpoint = new URL(/data: (\S+)/.exec(text)?.[1] ?? '', portico.origin).href
    const post = (id: number, method: string) =>
      fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method }),
      }).then((response) => response.status)
    // In order, each POST answered (202: forwarded, or refused on the stream) before the next;
    // the first one's answer comes a second later, so it is still in flight for the repeat.
    assert.equal(await post(1, 'slow'), 202)
    assert.equal(await post(1, 'fast'), 202)
    assert.equal(await post(2, 'fast'), 202)
    await readUntil(
      stream,
      onText,
      () => text.includes('"method":"slow"') && text.includes('"id":2,'),
      'the first answer and the later one',
      5000,
    )
    controller.abort()
    assert.match(
      text,
      /"id":1,"error":\{"code":-32600,"message":"A request with this id is already in flight/,
    )
    assert.match(text, /"id":1,"result":\{"method":"slow"\}/)
    assert.match(text, /"id":2,"result":\{"method":"fast"\}/)
    assert.doesNotMatch(text, /"id":1,"result":\{"method":"fast"\}/)
    assert.deepEqual(received, [
      { id: 1, method: 'slow' },
      { id: 2, method: 'fast' },
    ])
  })
})
