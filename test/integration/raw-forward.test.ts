/**
 * Non-MCP traffic (widget assets, images, anything not a JSON-RPC POST to the MCP path) is
 * forwarded with method, path, query, headers and streamed body intact: to `widgets` when
 * configured, else to the upstream's origin.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { listenOnZero } from '../helpers/ports.ts'

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

async function recordingServer(
  label: string,
): Promise<{ origin: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = []
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    })
    const type = req.url?.split('?')[0]?.endsWith('.css') ? 'text/css' : 'text/html'
    res.writeHead(req.url?.startsWith('/missing') ? 404 : 200, {
      'content-type': type,
      'x-served-by': label,
      'cache-control': 'max-age=60',
    })
    res.end(`${label}:${req.method}:${req.url}`)
  })
  return { origin: `http://127.0.0.1:${await listenOnZero(server)}`, seen, server }
}

describe('non-MCP traffic', () => {
  let upstream: Awaited<ReturnType<typeof recordingServer>>
  let widgets: Awaited<ReturnType<typeof recordingServer>>
  let toUpstream: RunningPortico
  let toWidgets: RunningPortico

  before(async () => {
    upstream = await recordingServer('upstream')
    widgets = await recordingServer('widgets')
    toUpstream = await startPortico({ upstream: `${upstream.origin}/mcp` })
    toWidgets = await startPortico({ upstream: `${upstream.origin}/mcp`, widgets: widgets.origin })
  })
  after(async () => {
    await toUpstream?.close()
    await toWidgets?.close()
    upstream?.server.close()
    widgets?.server.close()
  })

  it("goes to the upstream's origin with path, query and headers intact", async () => {
    const response = await fetch(`${toUpstream.origin}/assets/app.css?v=3`, {
      headers: { 'x-widget': 'yes' },
    })
    assert.equal(await response.text(), 'upstream:GET:/assets/app.css?v=3')
    assert.equal(response.headers.get('content-type'), 'text/css')
    assert.equal(response.headers.get('cache-control'), 'max-age=60')
    assert.equal(upstream.seen.at(-1)?.headers['x-widget'], 'yes')
  })

  it('goes to widgets when configured, bodies and statuses included', async () => {
    const response = await fetch(`${toWidgets.origin}/forms/submit?x=1`, {
      method: 'PUT',
      body: 'payload-bytes',
    })
    assert.equal(await response.text(), 'widgets:PUT:/forms/submit?x=1')
    assert.equal(widgets.seen.at(-1)?.body, 'payload-bytes')
    const missing = await fetch(`${toWidgets.origin}/missing.png`)
    assert.equal(missing.status, 404)
    assert.equal(await missing.text(), 'widgets:GET:/missing.png')
    assert.equal(missing.headers.get('x-served-by'), 'widgets')
  })

  it("sends the upstream's own OAuth to the upstream, not to widgets", async () => {
    // mcpr's `widgets` URL takes the other non-MCP traffic; discovery and tokens are the
    // upstream's (its clients got the widget server's HTML page for them before).
    for (const [method, path] of [
      ['GET', '/.well-known/oauth-authorization-server'],
      ['GET', '/.well-known/oauth-protected-resource/mcp'],
      ['POST', '/register'],
      ['POST', '/token'],
      ['GET', '/authorize?client_id=c'],
      // As the upstream's router reads them: any case, a trailing slash, an encoded dot.
      ['POST', '/TOKEN/'],
      ['GET', '/%2Ewell-known/oauth-authorization-server'],
      ['GET', '/jwks.json'],
    ] as const) {
      const response = await fetch(`${toWidgets.origin}${path}`, {
        method,
        ...(method === 'POST' ? { body: 'grant_type=x' } : {}),
      })
      assert.equal(await response.text(), `upstream:${method}:${path}`, path)
    }
    // Widget assets still go to widgets.
    assert.equal(await (await fetch(`${toWidgets.origin}/app.js`)).text(), 'widgets:GET:/app.js')
  })

  it('does not apply the Origin guard to widget assets (hosts fetch them cross-origin)', async () => {
    const response = await fetch(`${toWidgets.origin}/widget.html`, {
      headers: { origin: 'https://sandbox.example.com' },
    })
    assert.equal(response.status, 200)
    assert.equal(await response.text(), 'widgets:GET:/widget.html')
    assert.equal(widgets.seen.at(-1)?.headers.origin, 'https://sandbox.example.com')
  })

  it('records each forwarded request as an http exchange', async () => {
    const response = await fetch(`${toWidgets.origin}/missing-recorded.png`)
    assert.equal(response.status, 404)
    await response.text()
    await toWidgets.sink.waitFor((events) =>
      events.some(
        (e) => e.type === 'exchange' && e.kind === 'http' && e.path === '/missing-recorded.png',
      ),
    )
    const missing = toWidgets.sink.exchanges().find((e) => e.path === '/missing-recorded.png')
    assert.equal(missing?.httpStatus, 404)
    assert.equal(missing?.outcome, 'http_error')
  })
})
