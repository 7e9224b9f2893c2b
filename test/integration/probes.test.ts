/**
 * The probes (`/healthz`, `/readyz`, `/version`) against a real Portico over real sockets.
 * `/readyz` shows its details (an upstream's error text, a backend's pid) to a client on this
 * machine only: a loopback peer that relays no one, or a loopback address a trusted proxy
 * vouches for. A reverse proxy on the same host is a loopback peer too; everyone behind it
 * must not pass for local.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'

/** `/readyz` of a Portico whose upstream refuses: whether the answer carries the error text. */
async function detailed(portico: RunningPortico, headers: Record<string, string> = {}) {
  const answer = await fetch(`${portico.origin}/readyz`, { headers })
  assert.equal(answer.status, 503)
  const body = (await answer.json()) as Record<string, unknown>
  assert.equal(body.status, 'not_ready')
  // The upstream's address goes with the details (before: to everyone, through a tunnel too).
  assert.equal('upstream' in body, 'problem' in body, JSON.stringify(body))
  return 'problem' in body
}

describe('/readyz details: only for a client on this machine', () => {
  const running: RunningPortico[] = []
  after(async () => {
    for (const portico of running) await portico.close()
  })

  it('shows them to a loopback client, not to one a same-host proxy relays', async () => {
    const portico = await startPortico({ upstream: `${REFUSED_ORIGIN}/mcp` })
    running.push(portico)
    assert.equal(await detailed(portico), true, 'a local client sees the error text')
    assert.equal(await detailed(portico, { 'x-forwarded-for': '203.0.113.7' }), false)
    assert.equal(await detailed(portico, { 'x-forwarded-for': '127.0.0.1' }), false)
    assert.equal(await detailed(portico, { forwarded: 'for=203.0.113.7' }), false)
    assert.equal(await detailed(portico, { 'x-real-ip': '203.0.113.7' }), false)
  })

  it('judges the address a trusted proxy vouches for', async () => {
    const portico = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      security: { trusted_proxies: ['127.0.0.1'] },
    })
    running.push(portico)
    assert.equal(await detailed(portico), true, 'the proxy host itself, relaying no one')
    assert.equal(await detailed(portico, { 'x-forwarded-for': '203.0.113.7' }), false)
    assert.equal(
      await detailed(portico, { 'x-forwarded-for': '127.0.0.1, 203.0.113.7' }),
      false,
      'the rightmost untrusted hop is the client',
    )
    assert.equal(
      await detailed(portico, { 'x-forwarded-for': '127.0.0.1' }),
      true,
      'a client on the proxy host',
    )
  })

  it('does not take a forwarding header from an untrusted peer as its word', async () => {
    const portico = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      security: { trusted_proxies: ['10.0.0.0/8'] },
    })
    running.push(portico)
    assert.equal(await detailed(portico), true)
    assert.equal(await detailed(portico, { 'x-forwarded-for': '127.0.0.1' }), false)
  })
})

describe('probes and the client address rules', () => {
  const running: RunningPortico[] = []
  after(async () => {
    for (const portico of running) await portico.close()
  })
  const PROBES = ['/healthz', '/readyz', '/version']

  async function statuses(portico: RunningPortico, headers: Record<string, string> = {}) {
    const out: number[] = []
    for (const path of PROBES) {
      const answer = await fetch(`${portico.origin}${path}`, { headers })
      await answer.arrayBuffer()
      out.push(answer.status)
    }
    return out
  }

  it('holds the probes to allow_ips and deny_ips, as every path', async () => {
    const portico = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      security: { allow_ips: ['203.0.113.0/24'], trusted_proxies: ['127.0.0.1'] },
    })
    running.push(portico)
    assert.deepEqual(await statuses(portico), [403, 403, 403], 'the proxy itself is not allowed')
    // A client the trusted proxy vouches for is (the upstream is down: /readyz 503).
    assert.deepEqual(await statuses(portico, { 'x-forwarded-for': '203.0.113.5' }), [200, 503, 200])
    const denied = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      security: { deny_ips: ['127.0.0.0/8'] },
    })
    running.push(denied)
    assert.deepEqual(await statuses(denied), [403, 403, 403])
  })

  it('answers every address with exempt_probes; the rest stays behind the rules', async () => {
    const portico = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      security: { allow_ips: ['203.0.113.0/24'], exempt_probes: true },
    })
    running.push(portico)
    assert.deepEqual(await statuses(portico), [200, 503, 200])
    const mcp = await fetch(portico.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    await mcp.arrayBuffer()
    assert.equal(mcp.status, 403)
  })

  it('refuses exempt_probes without address rules: it would do nothing', async () => {
    await assert.rejects(
      startPortico({ upstream: `${REFUSED_ORIGIN}/mcp`, security: { exempt_probes: true } }),
      /exempt_probes exempts the probes from allow_ips and deny_ips, and neither is set/,
    )
  })
})
