/**
 * RFC 7662 introspection against a real local endpoint: client credentials sent as Basic,
 * active tokens cached for their life (one request for many checks, one for concurrent ones),
 * refusals (inactive, no or another audience, another issuer, expired, a claim of the wrong
 * type) cached briefly, and an
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
  const held: Array<() => void> = []

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
      if (token === 'trickle') {
        // Headers at once, then a byte now and then, never the end.
        res.writeHead(200, { 'content-type': 'application/json' })
        const timer = setInterval(() => res.write(' '), 50)
        res.on('close', () => clearInterval(timer))
        return
      }
      if (token.startsWith('held-')) {
        // Answered when the test lets go: checks that stay in flight.
        await new Promise<void>((resolve) => held.push(resolve))
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
    // Claims of the wrong type are refused, not read as absent (no expiry, no issuer check).
    answers.textexp = { active: true, sub: 'a', aud: AUD, exp: 'soon' }
    answers.textnbf = { active: true, sub: 'a', aud: AUD, exp: now() + 60, nbf: '0' }
    answers.objiss = { active: true, sub: 'a', aud: AUD, exp: now() + 60, iss: { x: 1 } }
    const introspector = make()
    const cases: Array<[string, RegExp]> = [
      ['unknown', /inactive/],
      ['noaud', /audience/],
      ['other', /audience/],
      ['foreign', /another issuer/],
      ['old', /expired/],
      ['textexp', /malformed \(exp\)/],
      ['textnbf', /malformed \(nbf\)/],
      ['objiss', /malformed \(iss\)/],
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

  it('a claim written as null counts as absent', async () => {
    answers.nulls = { active: true, sub: 'a', aud: AUD, exp: now() + 60, nbf: null, iss: null }
    const claims = await make().introspect('nulls')
    assert.equal(claims.sub, 'a')
  })

  it('an endpoint that sends its headers and then trickles is given up at the deadline, each time', {
    timeout: 20_000,
  }, async () => {
    const introspector = new Introspector({
      endpoint: url,
      clientId: 'rs',
      clientSecret: 's',
      issuer: undefined,
      audience: () => [AUD],
      cacheTtlMs: 60_000,
      clockToleranceMs: 0,
      timeoutMs: 300,
    })
    // The second check of a token once hung for ever (the first one was given up in time).
    for (let round = 0; round < 3; round++) {
      await assert.rejects(
        introspector.introspect('trickle'),
        (e: PorticoError) => e instanceof PorticoError && e.status === 502,
      )
    }
    assert.equal(introspector.requests, 3)
  })

  it('a failing endpoint refuses (502), never passes', async () => {
    await assert.rejects(
      make().introspect('boom'),
      (e: PorticoError) => e instanceof PorticoError && e.reason === 'upstream_unavailable',
    )
  })

  it('one address cannot take every slot: its 17th check in flight is refused 429, others pass', async () => {
    answers.other_client = { active: true, sub: 'bob', aud: AUD, exp: now() + 60 }
    const introspector = make()
    const flood = Array.from({ length: 16 }, (_, i) =>
      introspector.introspect(`held-${i}`, '203.0.113.9').catch((error: unknown) => error),
    )
    // Sent before any answer: the 16 checks are in flight at the endpoint.
    for (let waited = 0; held.length < 16 && waited < 200; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    assert.equal(held.length, 16, 'the endpoint holds the 16 checks')
    await assert.rejects(
      introspector.introspect('held-16', '203.0.113.9'),
      (e: PorticoError) =>
        e instanceof PorticoError && e.status === 429 && e.headers?.['retry-after'] === '1',
    )
    const other = await introspector.introspect('other_client', '198.51.100.7')
    assert.equal(other.sub, 'bob', 'another address is still served')
    for (const release of held.splice(0)) release()
    const settled = await Promise.all(flood)
    assert.ok(
      settled.every((result) => result instanceof AuthFailure),
      'made-up tokens refused',
    )
    // The address's slots are free again once its checks ended.
    answers.later = { active: true, sub: 'eve', aud: AUD, exp: now() + 60 }
    assert.equal((await introspector.introspect('later', '203.0.113.9')).sub, 'eve')
  })

  it('past 64 checks in flight from every address together, the next is 429 with Retry-After too', async () => {
    const introspector = make()
    // Four addresses at 16 each: none over its own bound, all of them at the global one.
    const flood = Array.from({ length: 64 }, (_, i) =>
      introspector
        .introspect(`held-all-${i}`, `203.0.113.${10 + (i % 4)}`)
        .catch((error: unknown) => error),
    )
    for (let waited = 0; held.length < 64 && waited < 400; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    assert.equal(held.length, 64, 'the endpoint holds the 64 checks')
    // 429, not 502: the token may be good, and the client should come back in a second.
    await assert.rejects(
      introspector.introspect('held-all-64', '198.51.100.20'),
      (e: PorticoError) =>
        e instanceof PorticoError && e.status === 429 && e.headers?.['retry-after'] === '1',
    )
    for (const release of held.splice(0)) release()
    await Promise.all(flood)
  })
})
