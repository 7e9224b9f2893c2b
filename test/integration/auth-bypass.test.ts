/**
 * The bypass matrix: every way around authentication a client might try, against a real
 * Portico with a real token issuer (JWKS over HTTP, jose-signed tokens) and real upstreams.
 * Each attempt must be refused, recorded with Portico's reason, and never reach the upstream.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Logger } from '../../src/observe/logger.ts'
import { openStore } from '../../src/store/open.ts'
import { type ExpressUpstream, startExpressUpstream } from '../fixtures/express-upstream.ts'
import { type JwtIssuer, startJwtIssuer } from '../fixtures/jwt-issuer.ts'
import { buildProbeServer, startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { serveMcp } from '../fixtures/serve.ts'
import { startStoreUpstream } from '../fixtures/store-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { listenOnZero } from '../helpers/ports.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'
import { until } from '../helpers/wait.ts'

const LIST = request(1, 'tools/list')

describe('bypass matrix: JWT tokens (transparent mode)', () => {
  let issuer: JwtIssuer
  let probe: Served
  let portico: RunningPortico
  const aud = () => portico.url

  before(async () => {
    issuer = await startJwtIssuer('alice')
    probe = await startProbeHttp()
    portico = await startPortico({
      upstream: probe.url,
      auth: {
        type: 'jwt',
        issuer: issuer.issuer,
        jwks_uri: issuer.jwksUri,
        required_scopes: ['mcp:tools'],
        // Rotation is tested: an unknown kid refetches the key set at once.
        jwks_cooldown: 0,
        identity: { headers: { 'x-user-email': 'email' } },
      },
    })
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
    await issuer?.close()
  })

  /** Asserts a 401 whose challenge carries `error` (or none) and whose message says `why`. */
  async function refused(headers: Record<string, string>, error: string | undefined, why: RegExp) {
    const answer = await rpc(portico.url, LIST, headers)
    assert.equal(answer.status, 401)
    const challenge = answer.headers.get('www-authenticate') ?? ''
    assert.match(
      challenge,
      /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
    )
    if (error === undefined) assert.doesNotMatch(challenge, /error=/)
    else assert.match(challenge, new RegExp(`error="${error}"`))
    assert.match(answer.message?.error?.message ?? '', why)
    // Refused before the call was read, yet answered with the request's id.
    assert.equal(answer.message?.id, LIST.id)
  }

  it('accepts a valid token; the upstream gets the verified identity, not the token', async () => {
    const token = await issuer.sign(aud(), { claims: { email: 'alice@example.test' } })
    const answer = await rpc(
      portico.url,
      request(2, 'tools/call', { name: 'headers', arguments: {} }),
      {
        ...bearer(token),
        'x-user-id': 'mallory',
        'X-User-Email': 'mallory@example.test',
        // A WSGI server reads these as HTTP_X_USER_ID and HTTP_X_USER_EMAIL beside the real ones.
        x_user_id: 'admin',
        X_User_Email: 'boss@example.test',
      },
    )
    assert.equal(answer.status, 200)
    const content = (answer.message?.result?.content ?? []) as Array<{ text: string }>
    const seen = JSON.parse(content[0]?.text ?? '{}') as Record<string, string>
    assert.equal(seen['x-user-id'], 'alice', 'a forged x-user-id is replaced')
    assert.equal(seen['x-user-email'], 'alice@example.test')
    assert.equal(seen.x_user_id, undefined, 'an underscore spelling is dropped')
    assert.equal(seen.x_user_email, undefined, 'an underscore spelling is dropped')
    assert.equal(seen.authorization, undefined, 'no token passthrough')
    // The client (undici's fetch) accepts gzip; the upstream is asked for plain bytes, which
    // Portico can read (SSE events, list filters).
    assert.equal(seen['accept-encoding'], 'identity')
    // A notification naming tools/call (no id: nothing to answer, so nothing was checked) is
    // refused before it reaches the upstream.
    const sneaky = await rpc(
      portico.url,
      { jsonrpc: '2.0', method: 'tools/call', params: { name: 'headers', arguments: {} } },
      bearer(token),
    )
    assert.equal(sneaky.status, 400)
    assert.match(sneaky.message?.error?.message ?? '', /tools\/call is a request and needs an id/)
    // `Connection: x-user-id` (which would make the verified header hop-by-hop) changes nothing.
    const hopped = await rawPost(
      portico.url,
      JSON.stringify(request(3, 'tools/call', { name: 'headers', arguments: {} })),
      { ...bearer(token), connection: 'keep-alive, X-User-Id, x-user-email' },
    )
    // The answer as JSON, or as the data of its one SSE event.
    const message = hopped.startsWith('{') ? hopped : (/^data: (.*)$/m.exec(hopped)?.[1] ?? '{}')
    const hoppedSeen = JSON.parse(
      (JSON.parse(message) as { result: { content: Array<{ text: string }> } }).result.content[0]
        ?.text ?? '{}',
    ) as Record<string, string>
    assert.equal(hoppedSeen['x-user-id'], 'alice')
    assert.equal(hoppedSeen['x-user-email'], 'alice@example.test')
  })

  it('no token', () => refused({}, undefined, /bearer token is required/))
  it('malformed Authorization headers', async () => {
    await refused({ authorization: 'Basic YWxpY2U6eA==' }, 'invalid_request', /must be "Bearer/)
    await refused({ authorization: 'Bearer' }, 'invalid_request', /must be "Bearer|malformed/)
    await refused({ authorization: 'Bearer a b' }, 'invalid_request', /malformed/)
    await refused({ authorization: 'Bearer not.a.jwt' }, 'invalid_token', /malformed/)
  })
  it('expired', async () => {
    const exp = Math.floor(Date.now() / 1000) - 3600
    await refused(bearer(await issuer.sign(aud(), { claims: { exp } })), 'invalid_token', /expired/)
  })
  it('not yet valid', async () => {
    const nbf = Math.floor(Date.now() / 1000) + 3600
    await refused(
      bearer(await issuer.sign(aud(), { claims: { nbf } })),
      'invalid_token',
      /not yet valid/,
    )
  })
  it('wrong issuer', async () => {
    const token = await issuer.sign(aud(), { claims: { iss: 'http://127.0.0.1:1/' } })
    await refused(bearer(token), 'invalid_token', /another issuer/)
  })
  it('wrong audience, and a token for another resource', async () => {
    await refused(bearer(await issuer.sign('portico')), 'invalid_token', /audience/)
    const other = `${portico.origin}/other/mcp`
    await refused(bearer(await issuer.sign(other)), 'invalid_token', /audience/)
  })
  it('alg none', () => refused(bearer(issuer.unsigned(aud())), 'invalid_token', /algorithm/))
  it('HS256 signed with the public key', async () => {
    await refused(bearer(await issuer.hmacWithPublicKey(aud())), 'invalid_token', /algorithm/)
  })
  it('unknown kid', async () => {
    const token = await issuer.sign(aud(), { unpublished: true })
    await refused(bearer(token), 'invalid_token', /unknown key/)
  })
  it('missing scope: 403 insufficient_scope', async () => {
    const answer = await rpc(
      portico.url,
      LIST,
      bearer(await issuer.sign(aud(), { claims: { scope: 'mcp:read' } })),
    )
    assert.equal(answer.status, 403)
    assert.match(
      answer.headers.get('www-authenticate') ?? '',
      /error="insufficient_scope", error_description="missing scope mcp:tools"/,
    )
    assert.match(answer.headers.get('www-authenticate') ?? '', /scope="mcp:tools"/)
  })
  it('a rotated key: the new key is accepted after rotation, the withdrawn one refused', async () => {
    const old = await issuer.sign(aud())
    assert.equal((await rpc(portico.url, LIST, bearer(old))).status, 200)
    await issuer.rotate()
    const fresh = await issuer.sign(aud())
    assert.equal((await rpc(portico.url, LIST, bearer(fresh))).status, 200)
    await refused(bearer(old), 'invalid_token', /unknown key/)
  })
  it('a token without kid: each published key of its type is tried', async () => {
    await issuer.addKey() // two RS256 keys published: the token's header names neither
    // Its new kid has the key set fetched again (a kid-less token alone would not).
    assert.equal((await rpc(portico.url, LIST, bearer(await issuer.sign(aud())))).status, 200)
    const signed = await issuer.sign(aud(), { noKid: true })
    assert.equal((await rpc(portico.url, LIST, bearer(signed))).status, 200)
    const forged = await issuer.sign(aud(), { noKid: true, unpublished: true })
    await refused(bearer(forged), 'invalid_token', /signature invalid/)
  })
  it('every refusal was recorded with its reason and no identity', async () => {
    await portico.sink.waitFor(
      (events) => events.filter((e) => e.type === 'exchange' && e.httpStatus === 401).length >= 13,
    )
    const refusals = portico.sink.exchanges().filter((e) => e.httpStatus === 401)
    assert.ok(refusals.every((e) => e.reason === 'unauthorized' && e.subject === undefined))
    const why = refusals.map((e) => e.errorMessage ?? '').join('\n')
    for (const words of [
      'required',
      'malformed',
      'expired',
      'not yet valid',
      'another issuer',
      'audience',
      'algorithm',
      'unknown key',
    ]) {
      assert.ok(why.includes(words), `a refusal recorded as "${words}"`)
    }
    const scope = portico.sink.exchanges().find((e) => e.httpStatus === 403) as ExchangeEvent
    assert.equal(scope.reason, 'forbidden')
  })
})

describe('bypass matrix: sessions, streams and other paths (API keys, transparent mode)', () => {
  let upstream: Served
  let portico: RunningPortico
  const alice = bearer('alice-key-0123456789')
  const bob = bearer('bob-key-0123456789a')

  before(async () => {
    upstream = await startStoreUpstream()
    portico = await startPortico({
      upstream: upstream.url,
      auth: {
        api_keys: [
          { name: 'alice', key: 'alice-key-0123456789' },
          { name: 'bob', key: 'bob-key-0123456789a' },
        ],
      },
      security: { max_batch_size: 2 },
    })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  async function session(headers: Record<string, string>): Promise<string> {
    const init = await rpc(
      portico.url,
      request(0, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      }),
      headers,
    )
    assert.equal(init.status, 200)
    const id = init.headers.get('mcp-session-id')
    assert.ok(id, 'the upstream created a session')
    return id
  }

  it('a batch refused for its credential answers each of its requests under its id', async () => {
    const batch = [
      request(1, 'tools/list'),
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'two', method: 'tools/call', params: { name: 'echo', arguments: {} } },
    ]
    for (const headers of [{}, bearer('not-a-key-0123456789')]) {
      const answer = await fetch(portico.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify(batch),
      })
      assert.equal(answer.status, 401)
      const body = (await answer.json()) as Array<{ id?: unknown; error?: { code: number } }>
      // Before: one error object without any id, which answers none of the batch's requests.
      assert.ok(Array.isArray(body), JSON.stringify(body))
      assert.deepEqual(
        body.map((element) => element.id),
        [1, 'two'],
      )
      assert.ok(body.every((element) => typeof element.error?.code === 'number'))
    }
  })

  it('a session id reused by another identity is refused, on POST, GET and DELETE', async () => {
    const id = await session(alice)
    const asBob = { ...bob, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' }
    const post = await rpc(portico.url, LIST, asBob)
    assert.equal(post.status, 403)
    assert.match(post.message?.error?.message ?? '', /another identity/)
    assert.equal(post.message?.id, LIST.id)
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(portico.url, {
        method,
        headers: { ...asBob, accept: 'text/event-stream' },
        signal: AbortSignal.timeout(5000),
      })
      await response.body?.cancel()
      assert.equal(response.status, 403, method)
    }
    const mine = await rpc(portico.url, LIST, {
      ...alice,
      'mcp-session-id': id,
      'mcp-protocol-version': '2025-11-25',
    })
    assert.equal(mine.status, 200, 'the owner keeps the session')
    const madeUp = await rpc(portico.url, LIST, {
      ...alice,
      'mcp-session-id': 'made-up',
      'mcp-protocol-version': '2025-11-25',
    })
    assert.equal(madeUp.status, 404)
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.reason === 'forbidden' && e.subject === 'bob'),
    )
    const refused = portico.sink.exchanges().filter((e) => e.reason === 'forbidden')
    assert.ok(refused.length >= 3 && refused.every((e) => e.subject === 'bob'), 'recorded as bob')
  })

  it('GET, DELETE, legacy SSE and other paths without a token are refused', async () => {
    const id = await session(alice)
    const attempts: Array<[string, string, Record<string, string>]> = [
      ['GET', portico.url, { 'mcp-session-id': id, accept: 'text/event-stream' }],
      ['DELETE', portico.url, { 'mcp-session-id': id }],
      ['GET', `${portico.origin}/sse`, { accept: 'text/event-stream' }],
      ['POST', `${portico.origin}/message?sessionId=${id}`, { 'content-type': 'application/json' }],
      ['GET', `${portico.origin}/widget.js`, {}],
      ['GET', `${portico.origin}/.well-known/oauth-authorization-server`, {}],
      // An OPTIONS that is no CORS preflight (no Access-Control-Request-Method, a body).
      ['OPTIONS', portico.url, { 'content-type': 'application/json' }],
      ['OPTIONS', `${portico.origin}/anything`, { 'content-type': 'application/json' }],
    ]
    for (const [method, url, headers] of attempts) {
      const response = await fetch(url, {
        method,
        headers,
        ...(method === 'POST' || method === 'OPTIONS' ? { body: JSON.stringify(LIST) } : {}),
        signal: AbortSignal.timeout(5000),
      })
      await response.body?.cancel()
      assert.equal(response.status, 401, `${method} ${new URL(url).pathname}`)
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="portico"')
    }
    // A real browser preflight (no credentials, no body) still passes.
    const preflight = await fetch(portico.url, {
      method: 'OPTIONS',
      headers: {
        origin: portico.origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    })
    await preflight.body?.cancel()
    assert.notEqual(preflight.status, 401)
    const alive = await rpc(portico.url, LIST, {
      ...alice,
      'mcp-session-id': id,
      'mcp-protocol-version': '2025-11-25',
    })
    assert.equal(alive.status, 200, 'the session was not ended by the refused DELETE')
    await portico.sink.waitFor((events) =>
      attempts.every(([method, url]) =>
        events.some(
          (e) =>
            e.type === 'exchange' &&
            e.reason === 'unauthorized' &&
            e.method === method &&
            (e.path === new URL(url).pathname || (e.path === undefined && method === 'POST')),
        ),
      ),
    )
  })

  it('a batch over max_batch_size is refused whole', async () => {
    const batch = [request(1, 'ping'), request(2, 'ping'), request(3, 'ping')]
    const answer = await rpc(portico.url, batch, alice)
    assert.equal(answer.status, 400)
    assert.match(answer.message?.error?.message ?? '', /batch of 3 messages \(limit 2\)/)
  })
})

const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
}
const LISTEN_HEADERS = {
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'subscriptions/listen',
}

describe('MCP sent around the MCP endpoint (transparent mode)', () => {
  /** An upstream that answers JSON-RPC on every path, as some servers do; it logs each one. */
  const seen: string[] = []
  const upstream = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
    })
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`)
      // The request's id (re-encoded bodies keep big numbers' digits: read as text).
      const id = /"id":(\d+|"[^"]*")/.exec(body)?.[1] ?? 'null'
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(`{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"ran"}]}}`)
    })
  })
  let portico: RunningPortico

  before(async () => {
    const port = await listenOnZero(upstream)
    portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/mcp`,
      auth: {
        api_keys: [{ name: 'alice', key: 'alice-key-0123456789', roles: ['reader'] }],
        roles: [{ name: 'reader', allow_tools: ['echo'], deny_resources: ['secret://*'] }],
      },
    })
  })
  after(async () => {
    await portico?.close()
    upstream.closeAllConnections()
    upstream.close()
  })

  it('lets a CORS preflight pass without credentials only as a browser sends one, and relays no body', async () => {
    // Before: `Access-Control-Request-Method` alone made any OPTIONS a preflight, and the
    // upstream's answer to it came back whole to a caller with no credentials.
    const target = `${portico.origin}/private/report?id=1`
    const before = seen.length
    const bare = await fetch(target, {
      method: 'OPTIONS',
      headers: { 'access-control-request-method': 'GET' },
    })
    await bare.body?.cancel()
    assert.equal(bare.status, 401)
    assert.equal(seen.length, before, 'the upstream was not asked')
    const browser = await fetch(target, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    })
    assert.equal(browser.status, 200)
    assert.equal(await browser.text(), '')
    assert.match(seen.at(-1) ?? '', /^OPTIONS \/private\/report\?id=1 /)
    seen.length = before // the other cases read what the upstream saw from here
  })

  it('refuses a 2026-07-28 listen asking updates of a denied resource, before the upstream', async () => {
    const before = seen.length
    const answer = await rpc(
      portico.url,
      request(9, 'subscriptions/listen', {
        notifications: { resourceSubscriptions: ['public://readme', 'secret://vault'] },
        _meta: MODERN_META,
      }),
      { ...bearer('alice-key-0123456789'), ...LISTEN_HEADERS },
    )
    assert.equal(answer.status, 403)
    assert.equal(answer.message?.id, 9)
    assert.match(
      answer.message?.error?.message ?? '',
      /may not subscribe to resource secret:\/\/vault/,
    )
    assert.equal(seen.length, before, 'never forwarded')
    // Named under a member spelt in another case (Go's encoding/json reads it, last one
    // winning): refused as a case variant. Before, each reached the upstream with 200.
    const variants: Array<[string, Record<string, unknown>]> = [
      [
        'ResourceSubscriptions',
        {
          resourceSubscriptions: ['public://readme'],
          ResourceSubscriptions: ['secret://vault'],
        },
      ],
      ['Notifications', { toolsListChanged: true }],
    ]
    for (const [variant, notifications] of variants) {
      const params: Record<string, unknown> = { notifications, _meta: MODERN_META }
      if (variant === 'Notifications')
        params.Notifications = { resourceSubscriptions: ['secret://vault'] }
      const refused = await rpc(portico.url, request(10, 'subscriptions/listen', params), {
        ...bearer('alice-key-0123456789'),
        ...LISTEN_HEADERS,
      })
      assert.equal(refused.status, 400, variant)
      assert.equal(refused.message?.id, 10, variant)
      assert.equal(refused.message?.error?.code, -32600, variant)
      assert.match(refused.message?.error?.message ?? '', new RegExp(`"${variant}"`), variant)
    }
    assert.equal(seen.length, before, 'never forwarded')
  })

  it('is refused at every other path, never forwarded past the roles; other JSON still is', async () => {
    const call = JSON.stringify(request(1, 'tools/call', { name: 'secret', arguments: {} }))
    const headers = { ...bearer('alice-key-0123456789'), 'content-type': 'application/json' }
    const denied = await rpc(portico.url, JSON.parse(call), bearer('alice-key-0123456789'))
    assert.equal(denied.status, 403)
    for (const path of ['/mcp;x', '/MCP;jsessionid=1', '/mcp.json', '/anything', '/api']) {
      for (const body of [call, `[${call}]`]) {
        const response = await fetch(`${portico.origin}${path}`, { method: 'POST', headers, body })
        assert.equal(response.status, 404, `${path}: ${await response.text()}`)
      }
    }
    assert.deepEqual(seen, [], 'the upstream saw none of them')
    // An app's own JSON (OAuth dynamic client registration, an API) is forwarded as it came.
    const register = '{"client_name":"app","redirect_uris":["http://localhost/cb"]}'
    const forwarded = await fetch(`${portico.origin}/register`, {
      method: 'POST',
      headers,
      body: register,
    })
    assert.equal(forwarded.status, 200)
    assert.deepEqual(seen, [`POST /register ${register}`])
  })

  it('is refused however the body spells it: case variants, a BOM, UTF-16 and UTF-32', async () => {
    const headers = { ...bearer('alice-key-0123456789'), 'content-type': 'application/json' }
    const before = seen.length
    const call = JSON.stringify(request(1, 'tools/call', { name: 'secret', arguments: {} }))
    // Go's encoding/json reads "Method" as method; Python's json.loads reads bytes with a BOM,
    // UTF-16 and UTF-32 (RFC 4627's encodings): an upstream serving MCP at another path would
    // run each of these past the roles.
    const utf16be = Buffer.from(call, 'utf16le').swap16()
    const utf32 = (littleEndian: boolean) => {
      const out = Buffer.alloc(call.length * 4)
      for (let i = 0; i < call.length; i++) {
        if (littleEndian) out.writeUInt32LE(call.charCodeAt(i), i * 4)
        else out.writeUInt32BE(call.charCodeAt(i), i * 4)
      }
      return out
    }
    const bodies: Array<[string, Buffer]> = [
      ['"Method"', Buffer.from(call.replace('"method"', '"Method"'))],
      ['"METHOD" in a batch', Buffer.from(`[${call.replace('"method"', '"METHOD"')}]`)],
      ['"method" then "Method"', Buffer.from(call.replace('"method":', '"method":"x","Method":'))],
      ['a UTF-8 BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(call)])],
      [
        'UTF-16LE with a BOM',
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(call, 'utf16le')]),
      ],
      ['UTF-16LE', Buffer.from(call, 'utf16le')],
      ['UTF-16BE with a BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be])],
      ['UTF-16BE', utf16be],
      ['UTF-32LE', utf32(true)],
      ['UTF-32BE', utf32(false)],
      // Text JSON.parse refuses and other readers take (before: forwarded unchecked): Go's
      // decoder reads the first value, Python's reads NaN; a first-wins reader the first
      // of two `method`s.
      ['bytes after the message', Buffer.from(`${call} x`)],
      ['NaN in it', Buffer.from(call.replace('"arguments":{}', '"arguments":{"n":NaN}'))],
      [
        '"method" then "method"',
        Buffer.from(call.replace('"method":', '"method":"tools/call","method":"x","_":')),
      ],
      ['an escaped method', Buffer.from(call.replace('"tools/call"', '"tools\\/\\u0063all"'))],
    ]
    for (const [what, body] of bodies) {
      const response = await fetch(`${portico.origin}/anything`, { method: 'POST', headers, body })
      assert.equal(response.status, 404, `${what}: ${await response.text()}`)
    }
    assert.deepEqual(seen.slice(before), [], 'the upstream saw none of them')
    // JSON in another encoding that holds no MCP message is still forwarded as it came.
    const other = Buffer.from('{"client_name":"app"}', 'utf16le')
    const forwarded = await fetch(`${portico.origin}/register`, {
      method: 'POST',
      headers,
      body: other,
    })
    assert.equal(forwarded.status, 200)
    assert.equal(seen.length, before + 1)
  })

  it('forwards what the roles judged: a repeated member cannot name another tool upstream', async () => {
    const headers = {
      ...bearer('alice-key-0123456789'),
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    }
    const post = (body: string) => fetch(portico.url, { method: 'POST', headers, body })
    // JSON.parse reads the last "name" (echo, allowed); a first-wins parser would read "secret".
    const repeated = await post(
      '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"secret","name":"echo"}}',
    )
    assert.equal(repeated.status, 200)
    assert.equal(
      seen.at(-1),
      'POST /mcp {"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}}',
    )
    // A member a case-insensitive parser would read instead is refused, with the id.
    for (const body of [
      '{"jsonrpc":"2.0","id":6,"method":"ping","Method":"tools/call","params":{"name":"secret"}}',
      '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","Name":"secret"}}',
      '{"jsonrpc":"2.0","id":6,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"echo","Name":"secret"},"argument":{"name":"a","value":""}}}',
    ]) {
      const refused = await post(body)
      assert.equal(refused.status, 400, body)
      const answer = (await refused.json()) as { id: number; error: { message: string } }
      assert.equal(answer.id, 6)
      assert.match(answer.error.message, /differs from a JSON-RPC or MCP member only by case/)
    }
    assert.equal(seen.filter((line) => line.includes('secret')).length, 0)
    // Re-encoded, an integer argument past 2^53 keeps its digits (JSON.stringify would write
    // 1.2345678901234568e+22).
    const big = await post(
      '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"n":12345678901234567890123}}}',
    )
    assert.equal(big.status, 200)
    assert.equal(
      seen.at(-1),
      'POST /mcp {"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"n":12345678901234567890123}}}',
    )
  })
})

describe('an issuer whose key set cannot be fetched', () => {
  interface IssuerTest {
    issuer: JwtIssuer
    /** Portico's log lines. */
    lines: string[]
    /** A Portico in front of the probe, trusting `issuer` (closed when the test ends). */
    start(auth?: { jwks_cooldown?: number }): Promise<RunningPortico>
  }

  /** Runs `test` with an issuer, an upstream and Portico's log; closes them all after it. */
  async function withIssuer(test: (setup: IssuerTest) => Promise<void>): Promise<void> {
    const issuer = await startJwtIssuer('alice')
    const probe = await startProbeHttp()
    const lines: string[] = []
    const logger = new Logger({ level: 'info', write: (line) => lines.push(line) })
    const started: RunningPortico[] = []
    const start = async (auth = {}) => {
      const jwt = { type: 'jwt', issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ...auth } as const
      const portico = await startPortico({ upstream: probe.url, auth: jwt }, { logger })
      started.push(portico)
      return portico
    }
    try {
      await test({ issuer, lines, start })
    } finally {
      for (const portico of started) await portico.close()
      await probe.close()
      await issuer.close()
    }
  }

  it('the key set is fetched at start; one that cannot be is logged, and its tokens refused', () =>
    withIssuer(async ({ issuer, lines, start }) => {
      await start()
      assert.equal(issuer.fetches, 1, 'fetched before any token came')
      issuer.failing = true
      const portico = await start()
      assert.match(
        lines.join(''),
        /\[auth\] the key set at http:\/\/127\.0\.0\.1:\d+\/\S* cannot be fetched/,
      )
      const answer = await rpc(portico.url, LIST, bearer(await issuer.sign(portico.url)))
      assert.equal(answer.status, 502, 'started, and fails closed')
    }))

  it('a key set too large to be one is refused unread past 256 KB, and tokens fail closed', () =>
    withIssuer(async ({ issuer, lines, start }) => {
      // Valid keys followed by 20 MB: jose alone would read it all and accept the keys.
      issuer.padding = 20 * 1024 * 1024
      const portico = await start()
      assert.match(lines.join(''), /cannot be fetched \(answer over 262144 bytes\)/)
      const answer = await rpc(portico.url, LIST, bearer(await issuer.sign(portico.url)))
      assert.equal(answer.status, 502, 'fails closed')
    }))

  it('is not asked again for every token: refusals back off, and it is used once it answers', () =>
    withIssuer(async ({ issuer, start }) => {
      issuer.failing = true
      const { url } = await start({ jwks_cooldown: 0 })
      const before = issuer.fetches
      for (let i = 0; i < 20; i++) {
        // Each a kid never published: without the backoff, each one a fetch.
        const token = await issuer.sign(url, { unpublished: true })
        const answer = await rpc(url, LIST, bearer(token))
        assert.equal(answer.status, 502)
        assert.match(answer.message?.error?.message ?? '', /issuer keys are unavailable/)
      }
      // One fetch, then one per backoff (1 s, doubling): a few, whatever the machine's pace,
      // against one per token before.
      assert.ok(issuer.fetches - before <= 6, `${issuer.fetches - before} fetches for 20 tokens`)
      issuer.failing = false
      const token = await issuer.sign(url)
      await until(
        async () => ((await rpc(url, LIST, bearer(token))).status === 200 ? true : undefined),
        10_000,
        'a token accepted once the issuer answers',
      )
    }))
})

describe('an issuer whose key set fails once while several tokens wait on it', () => {
  it('counts one failure for the one fetch they shared: the new key is used a second later', async () => {
    const issuer = await startJwtIssuer('alice')
    const probe = await startProbeHttp()
    const jwt = {
      type: 'jwt',
      issuer: issuer.issuer,
      jwks_uri: issuer.jwksUri,
      jwks_cooldown: 0,
    } as const
    const portico = await startPortico({ upstream: probe.url, auth: jwt })
    try {
      // A key rotation while the issuer stalls: eight clients come with the new key, and wait on
      // the one fetch, which then fails. Counted once per waiter, the backoff was 2^7 s (capped
      // at a minute) before the new key could be fetched.
      const stall = issuer.hold()
      await issuer.rotate()
      const token = await issuer.sign(portico.url)
      const before = issuer.fetches
      const answers = Promise.all(
        Array.from({ length: 8 }, () => rpc(portico.url, LIST, bearer(token))),
      )
      await until(() => stall.waiting > 0 || undefined, 5000, 'the key set fetch held')
      // The eight requests come from this process at once: give them time to reach Portico.
      await new Promise((resolve) => setTimeout(resolve, 300))
      stall.release()
      assert.deepEqual(
        (await answers).map((answer) => answer.status),
        Array(8).fill(502),
      )
      assert.equal(issuer.fetches - before, 1, 'the eight waited on one fetch')
      await until(
        async () =>
          (await rpc(portico.url, LIST, bearer(token))).status === 200 ? true : undefined,
        10_000,
        'the new key accepted once the issuer answers (1 s backoff, not 60 s)',
      )
    } finally {
      await portico.close()
      await probe.close()
      await issuer.close()
    }
  })
})

describe('forward_auth passes on a token an authorization server issued (gateway)', () => {
  it("the backend gets the caller's JWT as it came, on every request, initialize included", async () => {
    const issuer = await startJwtIssuer('alice')
    // A backend that, like an OAuth-protected one, refuses any request without a bearer token
    // (initialize and notifications too), and notes what it was sent.
    const received: Array<{ method: string; authorized: boolean; user: unknown }> = []
    const probe = await serveMcp(async (req: IncomingMessage, res: ServerResponse) => {
      const authorized = (req.headers.authorization ?? '').startsWith('Bearer ey')
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const body = Buffer.concat(chunks).toString()
      const method =
        body === '' ? (req.method ?? '') : (JSON.parse(body) as { method?: string }).method
      received.push({ method: method ?? 'answer', authorized, user: req.headers['x-user-id'] })
      if (!authorized) return void res.writeHead(401).end()
      const server = buildProbeServer()
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
      res.on('close', () => void server.close())
      await server.connect(transport)
      await transport.handleRequest(req, res, body === '' ? undefined : JSON.parse(body))
    })
    let gateway: RunningPortico | undefined
    try {
      gateway = await startPortico({
        backends: [{ name: 'probe', transport: 'http', url: probe.url, forward_auth: true }],
        proxy: { admin_tools: false },
        auth: { type: 'jwt', issuer: issuer.issuer, jwks_uri: issuer.jwksUri },
      })
      const token = await issuer.sign(gateway.url)
      const client = new Client({ name: 'forward-auth', version: '1.0.0' })
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), {
          requestInit: { headers: bearer(token) },
        }),
      )
      const result = await client.callTool({ name: 'probe__headers', arguments: {} })
      await client.close()
      const content = (result.content ?? []) as Array<{ text: string }>
      const seen = JSON.parse(content[0]?.text ?? '{}') as Record<string, string>
      assert.equal(seen.authorization, `Bearer ${token}`)
      assert.equal(seen['x-user-id'], 'alice')
      // Alice's session's own requests carried her identity and token: the revision probe the
      // gateway made again with her credentials (its start-up one has no client, so no token:
      // the backend refuses it), then initialize.
      const hers = received.filter((r) => r.user === 'alice')
      assert.deepEqual(
        hers.slice(0, 2).map((r) => r.method),
        ['server/discover', 'initialize'],
      )
      assert.deepEqual(
        hers.filter((r) => !r.authorized),
        [],
        'every request of her session carried the token',
      )
    } finally {
      await gateway?.close()
      await probe.close()
      await issuer.close()
    }
  })
})

const ADMIN_API_TOKEN = 'admin-api-token-0123456789'

describe('client address rules (real sockets)', () => {
  let probe: Served
  let portico: RunningPortico
  // The dashboard reads a store: its own, not ~/.portico (absent on a fresh machine).
  const dir = mkdtempSync(join(tmpdir(), 'portico-address-rules-'))
  const db = join(dir, 'store.db')

  before(async () => {
    openStore(db, { create: true }).close()
    probe = await startProbeHttp()
    portico = await startPortico({
      upstream: probe.url,
      security: { allow_ips: ['203.0.113.0/24'], trusted_proxies: ['127.0.0.1'] },
      admin: { enabled: true, token: ADMIN_API_TOKEN },
      observability: { metrics: { enabled: true } },
      store: { path: db },
      dashboard: { enabled: true },
    })
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('admits a client a trusted proxy vouches for, refuses the proxy itself and forged hops', async () => {
    const via = (xff: string | undefined) =>
      rpc(portico.url, LIST, xff === undefined ? {} : { 'x-forwarded-for': xff })
    assert.equal((await via('203.0.113.5')).status, 200)
    const direct = await via(undefined)
    assert.equal(direct.status, 403)
    assert.match(direct.message?.error?.message ?? '', /client address not allowed/)
    assert.equal(direct.message?.id, LIST.id)
    assert.equal((await via('203.0.113.5, 198.51.100.9')).status, 403, 'the rightmost hop counts')
    await portico.sink.waitFor(
      (events) =>
        events.filter((e) => e.type === 'exchange' && e.reason === 'forbidden').length >= 2,
    )
  })

  it('holds the admin API, the dashboard API and /metrics to the same address rules', async () => {
    const origin = new URL(portico.url).origin
    const auth = { authorization: `Bearer ${ADMIN_API_TOKEN}` }
    for (const path of ['/admin/health', '/admin/config', '/_portico/api/overview', '/metrics']) {
      const refused = await fetch(`${origin}${path}`, { headers: auth })
      assert.equal(refused.status, 403, path)
      assert.match(await refused.text(), /client address not allowed/, path)
      const admitted = await fetch(`${origin}${path}`, {
        headers: { ...auth, 'x-forwarded-for': '203.0.113.5' },
      })
      assert.equal(admitted.status, 200, `${path}: ${await admitted.text()}`)
    }
  })
})

describe('a client a trusted proxy vouches for is itself beyond the address rules', () => {
  let probe: Served
  let portico: RunningPortico

  before(async () => {
    probe = await startProbeHttp()
    portico = await startPortico({
      upstream: probe.url,
      security: { allow_ips: ['203.0.113.0/24'], trusted_proxies: ['127.0.0.1'] },
      proxy: { rate_limit: { per_client: { requests: 2, period_seconds: 3600 } } },
    })
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
  })

  it('has its own per-client budget and is recorded under its own address', async () => {
    const via = (xff: string) => rpc(portico.url, LIST, { 'x-forwarded-for': xff })
    assert.equal((await via('203.0.113.5')).status, 200)
    assert.equal((await via('203.0.113.5')).status, 200)
    const over = await via('203.0.113.5')
    assert.equal(over.status, 429, 'the first client spent its own budget')
    assert.equal(over.message?.id, LIST.id)
    // Another client behind the same proxy (every request comes from 127.0.0.1) is not
    // refused for what the first one spent.
    assert.equal((await via('203.0.113.6')).status, 200, 'the second client has its own budget')
    assert.equal((await via('198.51.100.9')).status, 403)
    await portico.sink.waitFor((events) => events.filter((e) => e.type === 'exchange').length >= 5)
    const recorded = portico.sink
      .exchanges()
      .map((e) => `${e.httpStatus} ${e.clientAddress}`)
      .sort()
    assert.deepEqual(recorded, [
      '200 203.0.113.5',
      '200 203.0.113.5',
      '200 203.0.113.6',
      '403 198.51.100.9',
      '429 203.0.113.5',
    ])
  })

  it('counts each client as itself with trusted_proxies alone (no address rules)', async () => {
    // A reverse proxy in front, per-client limits, no allow/deny list: the common deployment.
    const alone = await startPortico({
      upstream: probe.url,
      security: { trusted_proxies: ['127.0.0.1'] },
      proxy: { rate_limit: { per_client: { requests: 1, period_seconds: 3600 } } },
    })
    try {
      const via = (xff: string) => rpc(alone.url, LIST, { 'x-forwarded-for': xff })
      assert.equal((await via('198.51.100.7')).status, 200)
      assert.equal((await via('198.51.100.7')).status, 429)
      assert.equal((await via('198.51.100.8')).status, 200, 'another client, its own budget')
      await alone.sink.waitFor((events) => events.filter((e) => e.type === 'exchange').length >= 3)
      assert.deepEqual(
        alone.sink
          .exchanges()
          .map((e) => `${e.httpStatus} ${e.clientAddress}`)
          .sort(),
        ['200 198.51.100.7', '200 198.51.100.8', '429 198.51.100.7'],
      )
    } finally {
      await alone.close()
    }
  })
})

/** A JSON POST through node:http, which sends any header as given (fetch refuses Connection). */
function rawPost(url: string, body: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve(text))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe('a body in another charset than the one Portico reads (transparent mode)', () => {
  // The SDK's Express app decodes a body by its declared charset; Portico reads UTF-8. Sent as
  // UTF-7, `"x":"+ACIALAAiAG4AYQBtAGUAIgA6ACIAYQBkAG0AaQBu-"` is `","name":"admin` to the
  // upstream: a second `name`, the last one winning.
  const KEY = 'alice-key-0123456789'
  const SMUGGLED =
    '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{},"x":"+ACIALAAiAG4AYQBtAGUAIgA6ACIAYQBkAG0AaQBu-"}}'
  let upstream: ExpressUpstream
  let portico: RunningPortico

  before(async () => {
    upstream = await startExpressUpstream()
    portico = await startPortico({
      upstream: upstream.url,
      auth: {
        api_keys: [{ name: 'alice', key: KEY, roles: ['reader'] }],
        roles: [{ name: 'reader', allow_tools: ['echo'] }],
      },
    })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  const post = (path: string, contentType: string, body: string) =>
    fetch(new URL(path, portico.origin), {
      method: 'POST',
      headers: {
        'content-type': contentType,
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${KEY}`,
        'mcp-protocol-version': '2025-06-18',
      },
      body,
    })

  it('is refused 415 with its id, so the tool the roles judged is the one that runs', async () => {
    for (const type of [
      'application/json; charset=utf-7',
      'application/json;CHARSET="UTF-7"',
      'application/json; charset=utf-16le',
      'application/json; charset',
    ]) {
      const response = await post('/mcp', type, SMUGGLED)
      const body = (await response.json()) as { id?: unknown; error?: { code: number } }
      assert.equal(response.status, 415, type)
      assert.deepEqual([body.id, body.error?.code], [4, -32600], type)
    }
    // Before: 200, and the upstream ran `admin`.
    assert.deepEqual(upstream.ran, [])
    for (const type of ['application/json; charset=utf-8', 'application/json; charset="UTF-8"']) {
      const response = await post('/mcp', type, SMUGGLED)
      assert.equal(response.status, 200, type)
      await response.arrayBuffer()
    }
    assert.deepEqual(upstream.ran, ['echo', 'echo'])
  })

  it('is not forwarded to another path in UTF-7 (any spelling), where an MCP message would pass unseen', async () => {
    // Every quote written `+ACI-`: read as UTF-8 it holds no JSON-RPC member at all.
    const hidden = '{"jsonrpc":"2.0","id":5,"method":"tools/call"}'.replaceAll('"', '+ACI-')
    // iconv reads a charset name by its letters and digits: `utf--7` is UTF-7 too.
    for (const charset of ['utf-7', 'utf--7', 'utf-_7', '"UTF- 7"', 'unicode-1-1-utf-7']) {
      const response = await post('/api', `application/json; charset=${charset}`, hidden)
      assert.equal(response.status, 415, charset)
      await response.arrayBuffer()
    }
    assert.ok(!upstream.ran.includes('POST /api'))
    const plain = await post('/api', 'application/json', '{"app":"data"}')
    assert.equal(plain.status, 200)
    assert.deepEqual(await plain.json(), { app: 'data' })
  })
})
