/** The forwarding headers Portico writes for its hop (http/headers.ts `addForwarded`). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addForwarded, type HeaderMap } from '../../src/http/headers.ts'

function forwarded(headers: HeaderMap, address: string | undefined, trusted = false): HeaderMap {
  const out = { ...headers }
  addForwarded(out, { address, host: 'portico.example', proto: 'https', trusted })
  return out
}

describe('X-Forwarded-For and X-Real-IP for this hop', () => {
  it('appends the peer, and nothing when the peer is unknown (no empty element)', () => {
    assert.equal(forwarded({}, '10.0.0.1')['x-forwarded-for'], '10.0.0.1')
    assert.equal(
      forwarded({ 'x-forwarded-for': '203.0.113.9' }, '10.0.0.1')['x-forwarded-for'],
      '203.0.113.9, 10.0.0.1',
    )
    // Before: `127.0.0.1, ` and an empty X-Real-IP.
    const unknown = forwarded({ 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '1.2.3.4' }, undefined)
    assert.equal(unknown['x-forwarded-for'], '127.0.0.1')
    assert.equal(unknown['x-real-ip'], undefined)
    assert.equal(forwarded({}, undefined)['x-forwarded-for'], undefined)
  })

  it('does not name a trusted hop’s last client twice (the relay names the tunnel’s peer)', () => {
    assert.equal(
      forwarded({ 'x-forwarded-for': '198.51.100.7, 10.9.9.9' }, '10.9.9.9', true)[
        'x-forwarded-for'
      ],
      '198.51.100.7, 10.9.9.9',
    )
    // An untrusted client's own last element proves nothing: the peer is appended.
    assert.equal(
      forwarded({ 'x-forwarded-for': '10.9.9.9' }, '10.9.9.9')['x-forwarded-for'],
      '10.9.9.9, 10.9.9.9',
    )
  })
})
