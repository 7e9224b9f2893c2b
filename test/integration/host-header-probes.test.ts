/**
 * The Host syntax check on the paths whose filter lists do not start with the Host filter: the
 * probes, the mounts of the main listener (`/metrics`) and the admin API's own listener
 * (`admin_bind`). Requests are written raw on a `net` socket, so the Host header is exactly
 * what the test says; a malformed one is answered 400 there as on the MCP endpoint.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startDashboard } from '../../src/dashboard/standalone.ts'
import { openStore } from '../../src/store/open.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { firstLineToExpect } from '../helpers/expect-continue.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scratchDir } from '../helpers/scratch.ts'

const TOKEN = 'admin-token-for-host-tests-0123456789'

/** Writes one GET with this exact Host header on a fresh socket; resolves with the status. */
function statusFor(url: string, path: string, host: string, token?: string): Promise<number> {
  const { hostname, port } = new URL(url)
  const auth = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    let head = ''
    socket.setEncoding('utf8')
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${path} within 10 s`)))
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${auth}Connection: close\r\n\r\n`)
    })
    socket.on('data', (chunk: string) => {
      head += chunk
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)
      if (status !== null) {
        resolve(Number(status[1]))
        socket.destroy()
      }
    })
    socket.on('error', reject)
    socket.on('end', () => reject(new Error(`connection closed without a status: ${head}`)))
  })
}

/** Writes a CONNECT on a fresh socket; resolves with all the listener answered before closing. */
function answerToConnect(url: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    let answer = ''
    socket.setEncoding('utf8')
    socket.setTimeout(10_000, () => socket.destroy(new Error('no end to CONNECT within 10 s')))
    socket.on('connect', () => {
      socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
    })
    socket.on('data', (chunk: string) => {
      answer += chunk
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
  })
}

const MALFORMED = ['a b', 'x:99999', 'localhost:3000:4000', '[::1]junk']

describe('Host syntax on probes, mounts and the admin listener', () => {
  let upstream: Served
  let main: RunningPortico
  let withAdminListener: RunningPortico

  before(async () => {
    upstream = await startProbeHttp()
    main = await startPortico({
      upstream: upstream.url,
      observability: { metrics: { enabled: true, process: false } },
    })
    withAdminListener = await startPortico({
      upstream: upstream.url,
      admin_bind: '127.0.0.1:0',
      admin: { token: TOKEN },
    })
  })
  after(async () => {
    await main?.close()
    await withAdminListener?.close()
    await upstream?.close()
  })

  it('probes and /metrics answer a well-formed Host, and 400 to a malformed one', async () => {
    const port = new URL(main.url).port
    for (const path of ['/healthz', '/readyz', '/version', '/metrics']) {
      assert.equal(await statusFor(main.url, path, `localhost:${port}`), 200, path)
      for (const host of MALFORMED) {
        assert.equal(await statusFor(main.url, path, host), 400, `${path} with Host ${host}`)
      }
    }
  })

  it('the admin listener answers 400 to a malformed Host, before the token is looked at', async () => {
    const adminUrl = withAdminListener.portico.adminUrl
    assert.ok(adminUrl !== undefined)
    const port = new URL(adminUrl).port
    assert.equal(await statusFor(adminUrl, '/admin/config', `127.0.0.1:${port}`, TOKEN), 200)
    for (const path of ['/admin/config', '/admin/nothing-here', '/elsewhere']) {
      for (const host of MALFORMED) {
        assert.equal(await statusFor(adminUrl, path, host, TOKEN), 400, `${path} with Host ${host}`)
      }
    }
  })

  it('CONNECT gets 405 and a JSON-RPC error on the main, admin and dashboard listeners', async () => {
    // Before: Node closed the socket without a status.
    const adminUrl = withAdminListener.portico.adminUrl
    assert.ok(adminUrl !== undefined)
    const db = join(scratchDir('portico-connect-'), 'store.db')
    openStore(db, { create: true }).close()
    const dashboard = await startDashboard({
      store: () => openStore(db),
      host: '127.0.0.1',
      port: 0,
    })
    after(() => dashboard.close())
    for (const url of [main.url, adminUrl, dashboard.url]) {
      const answer = await answerToConnect(url)
      assert.match(answer, /^HTTP\/1\.1 405 Method Not Allowed\r\n/, url)
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
        error?: { code?: number; message?: string }
      }
      assert.equal(body.error?.code, -32600)
      assert.match(body.error?.message ?? '', /CONNECT/)
    }
  })

  it('the admin listener refuses a body declared over its bound with Expect: 100-continue at once', async () => {
    const adminUrl = withAdminListener.portico.adminUrl
    assert.ok(adminUrl !== undefined)
    const { port } = new URL(adminUrl)
    const line = await firstLineToExpect(Number(port), {
      method: 'POST',
      path: '/admin/config/validate',
      host: `127.0.0.1:${port}`,
      length: 50_000_000,
      extra: `Authorization: Bearer ${TOKEN}\r\n`,
    })
    assert.equal(line, 'HTTP/1.1 413 Payload Too Large')
  })

  it("the admin listener serves the probes without the token, mcpr's /ready among them", async () => {
    const adminUrl = withAdminListener.portico.adminUrl
    assert.ok(adminUrl !== undefined)
    const origin = new URL(adminUrl).origin
    const bodies: Record<string, unknown> = {}
    for (const path of ['/healthz', '/ready', '/readyz', '/version']) {
      const response = await fetch(`${origin}${path}`)
      assert.equal(response.status, 200, path)
      bodies[path] = await response.json()
    }
    assert.deepEqual(bodies['/healthz'], { status: 'ok' })
    assert.equal((bodies['/ready'] as { status: string }).status, 'ready')
    assert.deepEqual(bodies['/ready'], bodies['/readyz'])
    assert.equal((bodies['/version'] as { name: string }).name, 'portico')
    for (const host of MALFORMED) assert.equal(await statusFor(adminUrl, '/ready', host), 400, host)
    // Anything else still needs the token, and the main listener's /ready is the upstream's.
    assert.equal((await fetch(`${origin}/admin/config`)).status, 401)
    const upstreamAnswer = await fetch(`${withAdminListener.origin}/ready`)
    await upstreamAnswer.body?.cancel()
    // The probe server answers MCP on every path: a plain GET is its 406, not Portico's 200.
    assert.equal(upstreamAnswer.status, 406, "the upstream's own answer")
  })
})
