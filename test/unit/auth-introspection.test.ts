/**
 * RFC 7662 introspection against a real local endpoint: client credentials sent as Basic,
 * active tokens cached for their life (one request for many checks, one for concurrent ones),
 * refusals (inactive, no or another audience, another issuer, expired) cached briefly, and an
 * endpoint that fails makes Portico refuse rather than pass.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { AuthFailure } from '../../src/auth/challenge.ts'
import { Introspector } from '../../src/auth/introspection.ts'
import { PorticoError } from '../../src/errors.ts'

const AUD = 'http://127.0.0.1:3000/mcp'

describe('introspection', () => {
  let server: Server
  let url: URL
  const answers: Record<string, object> = {}
  let lastAuthorization = ''

  before(async () => {
    server = createServer(async (req, res) => {
      lastAuthorization = req.headers.authorization ?? ''
      let body = ''
      for await (const chunk of req) body += chunk
      const token = new URLSearchParams(body).get('token') ?? ''
      if (token === 'boom') {
        res.writeHead(500).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(answers[token] ?? { active: false }))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`)
  })
  after(() => server.close())

  const now = () => Math.floor(Date.now() / 1000)
  const make = () =>
    new Introspector({
      endpoint: url,
      clientId: 'rs',
      clientSecret: 's3cret:x',
      issuer: 'https://as.example',
      audience: () => [AUD],
      cacheTtlMs: 60_000,
      clockToleranceMs: 0,
    })

  it('accepts an active token for this resource, once per token', async () => {
    answers.good = {
      active: true,
      sub: 'alice',
      aud: [AUD, 'other'],
      iss: 'https://as.example',
      exp: now() + 60,
    }
    const introspector = make()
    const results = await Promise.all([1, 2, 3].map(() => introspector.introspect('good')))
    assert.ok(results.every((claims) => claims.sub === 'alice'))
    await introspector.introspect('good')
    assert.equal(introspector.requests, 1)
    assert.equal(lastAuthorization, `Basic ${Buffer.from('rs:s3cret%3Ax').toString('base64')}`)
  })

  it('refuses inactive, audience-less, foreign and expired tokens, caching the refusal', async () => {
    answers.noaud = { active: true, sub: 'a', exp: now() + 60 }
    answers.other = { active: true, sub: 'a', aud: 'http://elsewhere/mcp', exp: now() + 60 }
    answers.foreign = {
      active: true,
      sub: 'a',
      aud: AUD,
      iss: 'https://evil.example',
      exp: now() + 60,
    }
    answers.old = { active: true, sub: 'a', aud: AUD, exp: now() - 5 }
    const introspector = make()
    const cases: Array<[string, RegExp]> = [
      ['unknown', /inactive/],
      ['noaud', /audience/],
      ['other', /audience/],
      ['foreign', /another issuer/],
      ['old', /expired/],
    ]
    for (const [token, why] of cases) {
      await assert.rejects(
        introspector.introspect(token),
        (e: AuthFailure) => e instanceof AuthFailure && why.test(e.message),
      )
    }
    const before = introspector.requests
    await assert.rejects(introspector.introspect('unknown'), AuthFailure)
    assert.equal(introspector.requests, before, 'the refusal was cached')
  })

  it('a failing endpoint refuses (502), never passes', async () => {
    await assert.rejects(
      make().introspect('boom'),
      (e: PorticoError) => e instanceof PorticoError && e.reason === 'upstream_unavailable',
    )
  })
})
