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
