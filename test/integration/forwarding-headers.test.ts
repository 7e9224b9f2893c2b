/**
 * What an upstream learns of the client's hop, against a real Portico and a real upstream:
 * `X-Forwarded-Host` and `X-Forwarded-Proto` say what Portico saw (the Host, its own scheme),
 * whatever the client wrote, as a reverse proxy sets them; only a trusted proxy's values are
 * kept. `X-Forwarded-For` gets the peer appended. A client's `X-Real-IP` becomes the peer, and
 * a `Forwarded` gets Portico's element appended; neither is added to a request without one.
 * Other forwarding headers (`X-Forwarded-Port`, `-Prefix`) are removed unless a trusted proxy
 * sent them.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { ConfigInput } from '../../src/config/schema.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

describe('X-Forwarded-Host and X-Forwarded-Proto to the upstream', () => {
  let upstream: Server
  let origin: string
  const seen: IncomingHttpHeaders[] = []
  const running: RunningPortico[] = []

  before(async () => {
    upstream = createServer((req, res) => {
      seen.push(req.headers)
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [] } }))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  })
  after(async () => {
    for (const portico of running) await portico.close()
    await new Promise((resolve) => upstream.close(resolve))
  })

  const SPOOFED = {
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'https',
    'x-forwarded-for': '198.51.100.9',
    'x-real-ip': '198.51.100.9',
    forwarded: 'for=198.51.100.9;proto=https',
    'x-forwarded-port': '443',
    'x-forwarded-prefix': '/evil',
  }

  async function start(extra: Partial<ConfigInput> = {}): Promise<RunningPortico> {
    const portico = await startPortico({ upstream: `${origin}/mcp`, ...extra } as ConfigInput)
    running.push(portico)
    return portico
  }

  /** The headers the upstream got for a POST on the MCP endpoint and a GET of another path. */
  async function forwarded(
    portico: RunningPortico,
    sent: Record<string, string> = SPOOFED,
  ): Promise<IncomingHttpHeaders[]> {
    seen.length = 0
    const post = await fetch(portico.url, {
      method: 'POST',
      headers: {
        ...sent,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    assert.equal(post.status, 200)
    await post.arrayBuffer()
    const page = await fetch(`${portico.origin}/page`, { headers: sent })
    await page.arrayBuffer()
    assert.equal(seen.length, 2, 'both requests reached the upstream')
    return [...seen]
  }

  it('overwrites what a client wrote with what Portico saw', async () => {
    const portico = await start()
    const host = new URL(portico.origin).host
    for (const headers of await forwarded(portico)) {
      assert.equal(headers['x-forwarded-host'], host)
      assert.equal(headers['x-forwarded-proto'], 'http')
      assert.equal(headers['x-forwarded-for'], '198.51.100.9, 127.0.0.1')
      assert.equal(headers['x-real-ip'], '127.0.0.1')
      assert.equal(
        headers.forwarded,
        `for=198.51.100.9;proto=https, for=127.0.0.1;host="${host}";proto=http`,
      )
      // Portico cannot vouch for these: removed, not passed on as the client chose.
      assert.equal(headers['x-forwarded-port'], undefined)
      assert.equal(headers['x-forwarded-prefix'], undefined)
    }
  })

  it('drops their spellings with underscores, which CGI and WSGI servers read as the same', async () => {
    // Before: `x_real_ip` and `x_forwarded_prefix` reached the upstream as the client wrote
    // them (wsgiref joins them with the hyphenated header Portico sets).
    const underscored = {
      x_real_ip: '10.4.4.4',
      x_forwarded_for: '10.3.3.3',
      x_forwarded_prefix: '/admin',
      x_forwarded_port: '443',
      x_forwarded_host: 'evil.example',
    }
    for (const extra of [{}, { security: { trusted_proxies: ['127.0.0.1'] } }]) {
      const portico = await start(extra)
      for (const headers of await forwarded(portico, underscored)) {
        for (const name of Object.keys(underscored)) {
          assert.equal(headers[name], undefined, `${name} ${JSON.stringify(extra)}`)
        }
        assert.equal(headers['x-forwarded-for'], '127.0.0.1')
      }
    }
  })

  it('adds no X-Real-IP or Forwarded to a request that has none', async () => {
    const portico = await start()
    for (const headers of await forwarded(portico, {})) {
      assert.equal(headers['x-real-ip'], undefined)
      assert.equal(headers.forwarded, undefined)
      assert.equal(headers['x-forwarded-for'], '127.0.0.1')
    }
  })

  it('overwrites them when the peer is not a trusted proxy', async () => {
    const portico = await start({ security: { trusted_proxies: ['10.0.0.0/8'] } })
    for (const headers of await forwarded(portico)) {
      assert.equal(headers['x-forwarded-host'], new URL(portico.origin).host)
      assert.equal(headers['x-forwarded-proto'], 'http')
    }
  })

  it("keeps a trusted proxy's values: they describe the hop before it", async () => {
    const portico = await start({ security: { trusted_proxies: ['127.0.0.1'] } })
    for (const headers of await forwarded(portico)) {
      assert.equal(headers['x-forwarded-host'], 'evil.example')
      assert.equal(headers['x-forwarded-proto'], 'https')
      assert.equal(headers['x-real-ip'], '198.51.100.9')
      assert.equal(headers['x-forwarded-prefix'], '/evil')
      assert.match(String(headers.forwarded), /^for=198\.51\.100\.9;proto=https, for=127\.0\.0\.1;/)
    }
  })
})
