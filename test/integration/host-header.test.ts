/**
 * The Host header, sent raw over a real socket to a real Portico: a malformed one (not
 * `host[:port]`, IPv6 in brackets) is answered 400 before anything is forwarded, whether or not
 * the listener checks names; a well-formed foreign name on loopback stays 403 (DNS rebinding);
 * two Host headers are 400 (Node reads only the first).
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** POSTs a tools/list with exactly this Host header; resolves with the status. */
function postWithHost(url: string, host: string): Promise<number> {
  const target = new URL(url)
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        setHost: false,
        headers: {
          host,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const MALFORMED = [
  'localhost:abc',
  'localhost:3000:4000',
  'localhost:',
  'localhost:99999',
  'localhost@evil.example',
  'localhost/evil',
  'localhost\\evil',
  '127.0.0.1,evil.example',
  '..localhost',
  '[::1',
  '[::1]junk',
  '[::1]:',
  '[not-an-address]',
  '::1',
  '',
]

describe('Host header syntax', () => {
  let upstream: Served
  let loopback: RunningPortico
  let anyName: RunningPortico

  before(async () => {
    upstream = await startProbeHttp()
    loopback = await startPortico({ upstream: upstream.url })
    anyName = await startPortico({ upstream: upstream.url, allowed_hosts: ['*'] })
  })
  after(async () => {
    await loopback?.close()
    await anyName?.close()
    await upstream?.close()
  })

  it('serves well-formed loopback names, with or without a port', async () => {
    const port = new URL(loopback.url).port
    for (const host of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      assert.equal(await postWithHost(loopback.url, host), 200, host)
    }
  })

  it('takes a name with the root dot as the same name (a relay routes it alike)', async () => {
    const port = new URL(loopback.url).port
    // Before: 403, though `localhost.` is `localhost` (and a tunnel's `alice.relay.test.` the
    // name the relay sent it for).
    for (const host of ['localhost.', `localhost.:${port}`, 'LOCALHOST.']) {
      assert.equal(await postWithHost(loopback.url, host), 200, host)
    }
    assert.equal(await postWithHost(loopback.url, 'evil.example.'), 403, 'a foreign name')
  })

  it('answers 400 to a malformed Host on a loopback listener', async () => {
    for (const host of MALFORMED) {
      assert.equal(await postWithHost(loopback.url, host), 400, JSON.stringify(host))
    }
    assert.equal(await postWithHost(loopback.url, 'evil.example'), 403, 'a foreign name')
  })

  it("serves mcpr's [csp] domain as its public name, as public_url's", async () => {
    // Before: only the CSP rewrite read the domain, and its own name was refused (403).
    const named = await startPortico({ upstream: upstream.url, csp: { domain: 'mcp.example.com' } })
    try {
      assert.equal(await postWithHost(named.url, 'mcp.example.com'), 200)
      assert.equal(await postWithHost(named.url, 'evil.example'), 403)
    } finally {
      await named.close()
    }
  })

  it('answers 400 to a malformed Host where any name is allowed', async () => {
    assert.equal(await postWithHost(anyName.url, 'mcp.example.com:443'), 200)
    for (const host of MALFORMED) {
      assert.equal(await postWithHost(anyName.url, host), 400, JSON.stringify(host))
    }
  })

  it('answers 400 to two Host headers, whichever comes first', async () => {
    const target = new URL(loopback.url)
    const status = (hosts: string[]) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(target.port), '127.0.0.1')
        let answer = ''
        socket.setEncoding('latin1')
        socket.on('data', (chunk: string) => {
          answer += chunk
        })
        socket.on('end', () => resolve(answer.slice(9, 12)))
        socket.on('error', reject)
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
        // Written, not ended: the server closes (Connection: close) once it answered.
        socket.write(
          `POST ${target.pathname} HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}` +
            'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
            `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        )
      })
    assert.equal(await status(['localhost']), '200')
    assert.equal(await status(['localhost', 'evil.example']), '400')
    assert.equal(await status(['evil.example', 'localhost']), '400')
    assert.equal(await status(['localhost', 'localhost']), '400')
  })
})
