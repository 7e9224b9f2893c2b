/**
 * Adversarial input at the edge, against a real `portico run` process and a counting upstream:
 * no request line or path takes the process down, nothing reaches a host that is not the
 * configured upstream, the MCP endpoint is reachable only at its exact path and through its
 * filters (Origin, Host), and every refusal is answered.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startCli } from '../helpers/cli.ts'
import { MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { listenOnZero } from '../helpers/ports.ts'
import type { Spawned } from '../helpers/processes.ts'

/** Sends raw bytes on a fresh connection; resolves with what came back (bounded wait). */
function rawExchange(port: number, bytes: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(bytes.slice(0, 80))}`))
    }, timeoutMs)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
      // One answer is enough; the status line and headers tell what happened.
      if (text.includes('\r\n\r\n')) socket.end()
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(text)
    })
    socket.on('error', () => {
      // A reset after the answer (or instead of one) still counts: the process is alive.
    })
    socket.write(bytes, 'latin1')
  })
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)
}

/** A deterministic generator, so a failing fuzz case can be reproduced. */
function* randomLines(seed: number, count: number): Generator<string> {
  let state = seed
  const next = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state
  }
  const alphabet = '/:@[]%?#.&=-_~!$\'()*+,;\\AZaz09 \t"<>^`{|}\u00e9'
  for (let i = 0; i < count; i++) {
    let target = next() % 3 === 0 ? '//' : '/'
    const length = next() % 40
    for (let j = 0; j < length; j++) target += alphabet[next() % alphabet.length]
    yield target
  }
}

describe('adversarial input at the edge', () => {
  let upstream: Server
  let seen: string[]
  let portico: Spawned & { url: string }
  let port: number
  let dir: string

  before(async () => {
    seen = []
    upstream = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} host=${req.headers.host}`)
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"jsonrpc":"2.0","id":1,"result":{}}')
    })
    const upstreamPort = await listenOnZero(upstream)
    dir = mkdtempSync(join(tmpdir(), 'portico-adversarial-'))
    portico = await startCli([
      'run',
      '--upstream',
      `http://127.0.0.1:${upstreamPort}/mcp`,
      '--port',
      '0',
      '--db',
      join(dir, 'store.db'),
    ])
    port = Number(new URL(portico.url).port)
  })
  after(async () => {
    await portico?.stop()
    upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  async function alive(): Promise<void> {
    assert.equal(portico.child.exitCode, null, `the process exited:\n${portico.output()}`)
    const health = await fetch(`http://127.0.0.1:${port}/healthz`)
    assert.equal(health.status, 200)
  }

  it('survives request targets that make URL parsing throw, and answers them', async () => {
    for (const target of ['//[::1:bad/', '//[', '//:0/x', '//user@/x']) {
      const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      assert.equal(statusOf(answer), 400, `${target} → ${answer.split('\r\n')[0]}`)
    }
    // Malformed escapes are just paths: forwarded to the upstream's origin like any other.
    for (const target of ['/%E0%A4%A', '/%']) {
      const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      assert.ok(statusOf(answer) > 0, `${target} → ${answer}`)
    }
    await alive()
  })

  it('survives a fuzz of 300 request targets without a hang or a crash', async () => {
    for (const target of randomLines(20261201, 300)) {
      const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      // Node's parser refuses some lines itself (400) or the socket closes: both are answers.
      assert.ok(answer === '' || statusOf(answer) > 0, `${JSON.stringify(target)} → ${answer}`)
    }
    await alive()
  })

  it('never forwards an absolute-form or protocol-relative target to another host', async () => {
    const before = seen.length
    for (const target of [
      'http://other-host.invalid/x',
      'http://127.0.0.1:1/x',
      '//other-host.invalid/x',
      '//127.0.0.1:1/x',
    ]) {
      const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      assert.equal(statusOf(answer), 400, `${target} → ${answer.split('\r\n')[0]}`)
      assert.doesNotMatch(
        answer,
        /ENOTFOUND|ECONNREFUSED|getaddrinfo/,
        'no lookup, nothing revealed',
      )
    }
    assert.deepEqual(seen.slice(before), [], 'nothing reached the upstream either')
    await alive()
  })

  it('serves MCP only at the exact path: /MCP, /mcp/ and //mcp never reach the upstream', async () => {
    const before = seen.length
    for (const path of ['/MCP', '/mcp/', '//mcp', '/Mcp//', '/%6dcp']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, origin: 'https://evil.example' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      })
      assert.ok([403, 404].includes(response.status), `${path} → ${response.status}`)
      await response.body?.cancel()
    }
    assert.deepEqual(seen.slice(before), [])
  })

  it('refuses a foreign Host (DNS rebinding without an Origin) on a loopback listener', async () => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    const refused = await rawExchange(
      port,
      `POST /mcp HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    assert.equal(statusOf(refused), 403)
    assert.match(refused, /Host not allowed/)
    const accepted = await rawExchange(
      port,
      `POST /mcp HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    assert.equal(statusOf(accepted), 200)
  })

  it("checks the Origin on POSTs to the upstream's other paths, not on asset GETs", async () => {
    const post = await fetch(`http://127.0.0.1:${port}/api/do`, {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
      body: 'x',
    })
    assert.equal(post.status, 403)
    await post.body?.cancel()
    const asset = await fetch(`http://127.0.0.1:${port}/assets/app.js`, {
      headers: { origin: 'https://sandbox.host.example' },
    })
    assert.equal(asset.status, 200, 'widget assets are fetched cross-origin by hosts')
    await asset.body?.cancel()
  })
})
