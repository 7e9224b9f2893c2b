/**
 * Answer headers naming the upstream's origin, rewritten to Portico's (forward/url-map.ts):
 * challenges anywhere in them, redirects only when they point at the upstream itself.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mapOriginHeaders } from '../../src/forward/url-map.ts'

const UPSTREAM = 'http://10.0.0.5:8080'
const PUBLIC = 'https://mcp.example.com'

describe('mapOriginHeaders', () => {
  it('rewrites a redirect to the upstream itself, keeping path and query', () => {
    const headers = mapOriginHeaders(
      { location: `${UPSTREAM}/mcp/?a=1`, 'content-location': UPSTREAM },
      UPSTREAM,
      PUBLIC,
    )
    assert.equal(headers.location, `${PUBLIC}/mcp/?a=1`)
    assert.equal(headers['content-location'], `${PUBLIC}/`)
  })

  it('rewrites every spelling a client resolves to the upstream itself', () => {
    for (const location of [
      '//10.0.0.5:8080/login?x=1#f',
      'HTTP://10.0.0.5:8080/login?x=1#f',
      'http://user:secret@10.0.0.5:8080/login?x=1#f',
      'http:/\\10.0.0.5:8080/login?x=1#f',
      '  http://10.0.0.5:8080/login?x=1#f',
    ]) {
      const headers = mapOriginHeaders({ location }, UPSTREAM, PUBLIC)
      assert.equal(headers.location, `${PUBLIC}/login?x=1#f`, location)
    }
  })

  it('passes relative redirects, redirects elsewhere and look-alike origins unchanged', () => {
    for (const location of ['/mcp/', 'https://login.example.com/', `${UPSTREAM}0/mcp`]) {
      assert.equal(mapOriginHeaders({ location }, UPSTREAM, PUBLIC).location, location)
    }
  })

  it("rewrites the upstream's origin anywhere in a challenge", () => {
    const challenge = `Bearer resource_metadata="${UPSTREAM}/.well-known/oauth-protected-resource"`
    const headers = mapOriginHeaders({ 'www-authenticate': challenge }, UPSTREAM, PUBLIC)
    assert.equal(
      headers['www-authenticate'],
      `Bearer resource_metadata="${PUBLIC}/.well-known/oauth-protected-resource"`,
    )
  })
})
