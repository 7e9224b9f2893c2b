/**
 * What a verified token's claims make of a caller, against a real Portico and a real token
 * issuer (JWKS over HTTP, jose-signed tokens): a token mapped to no role under `default_deny`
 * is told which scopes would give it one (403 `insufficient_scope`, MCP's step-up); a numeric
 * subject past 2^53 is refused, not merged with its neighbour; a client's identity and a user
 * whose subject spells `client:<id>` are two callers; an array claim with a comma in a value is
 * sent as JSON, not joined; an issuer down past `jwks_max_age` does not refuse the tokens its
 * keys last fetched can verify. From the OAuth fuzzer's second round; each failed before.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type JwtIssuer, startJwtIssuer } from '../fixtures/jwt-issuer.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { startStoreUpstream } from '../fixtures/store-upstream.ts'
import { openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { bearer, request, rpc } from '../helpers/rpc.ts'

const HEADERS = request(1, 'tools/call', { name: 'headers', arguments: {} })

/** JWT auth where roles come from scopes, and a token without one is refused. */
const authOf = (issuer: JwtIssuer) => ({
  type: 'jwt' as const,
  issuer: issuer.issuer,
  jwks_uri: issuer.jwksUri,
  required_scopes: ['mcp:tools'],
  jwks_max_age: '1s',
  roles: [{ name: 'reader' }],
  role_mapping: { claim: 'scope', mapping: { 'mcp:read': 'reader' }, default_deny: true },
  identity: { headers: { 'x-user-groups': 'groups' } },
})

describe('claims and identities (transparent mode, JWT)', () => {
  let issuer: JwtIssuer
  let probe: Served
  let portico: RunningPortico
  const token = (claims: Record<string, unknown>) => issuer.sign(portico.url, { claims })

  before(async () => {
    issuer = await startJwtIssuer('alice')
    probe = await startProbeHttp()
    portico = await startPortico({ upstream: probe.url, auth: authOf(issuer) })
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
    await issuer?.close()
  })

  it('default_deny names the role scopes to ask for (403 insufficient_scope), then admits', async () => {
    const scoped = await rpc(portico.url, HEADERS, bearer(await token({ scope: 'mcp:tools' })))
    assert.equal(scoped.status, 403)
    const challenge = scoped.headers.get('www-authenticate') ?? ''
    assert.match(challenge, /error="insufficient_scope"/)
    assert.match(challenge, /scope="mcp:tools mcp:read"/)
    assert.match(scoped.message?.error?.message ?? '', /no recognized role \(default_deny\)/)
    const stepped = await token({ scope: 'mcp:tools mcp:read' })
    assert.equal((await rpc(portico.url, HEADERS, bearer(stepped))).status, 200)
  })

  it('refuses a numeric subject past 2^53, which cannot be read exactly', async () => {
    const answer = await rpc(
      portico.url,
      HEADERS,
      // 2^60 + 1, read as 2^60 (a double): its neighbour's id.
      bearer(await token({ sub: 2 ** 60 + 1, scope: 'mcp:tools mcp:read' })),
    )
    assert.equal(answer.status, 401)
    assert.match(answer.message?.error?.message ?? '', /sub is a number past 2\^53/)
    const small = await token({ sub: 42, scope: 'mcp:tools mcp:read' })
    assert.equal((await rpc(portico.url, HEADERS, bearer(small))).status, 200)
  })

  it("a client's identity and a user whose subject reads client:<id> are two callers", async () => {
    // An upstream with sessions: their owners are the callers' identity keys.
    const stateful = await startStoreUpstream()
    const beside = await startPortico({ upstream: stateful.url, auth: authOf(issuer) })
    try {
      const as = (claims: Record<string, unknown>) =>
        issuer.sign(beside.url, { claims: { scope: 'mcp:tools mcp:read', ...claims } })
      const robot = await as({ sub: undefined, client_id: 'ci-bot' })
      const user = await as({ sub: 'client:ci-bot' })
      const session = await openSession(beside.url, '2025-11-25', {}, bearer(robot))
      const list = request(2, 'tools/list')
      const own = await rpc(beside.url, list, { ...sessionHeaders(session), ...bearer(robot) })
      assert.equal(own.status, 200)
      // The robot's session is not the user's: one key for both let the user in.
      const other = await rpc(beside.url, list, { ...sessionHeaders(session), ...bearer(user) })
      assert.equal(other.status, 403)
    } finally {
      await beside.close()
      await stateful.close()
    }
  })

  it('reads a role mapping claim given as a dotted path into nested claims', async () => {
    // Keycloak's realm roles: `realm_access.roles`. Read only as a top-level name, it matched
    // nothing, and the caller went unrestricted (here: refused by default_deny instead).
    const nested = await startPortico({
      upstream: probe.url,
      auth: {
        ...authOf(issuer),
        role_mapping: {
          claim: 'realm_access.roles',
          mapping: { 'mcp-reader': 'reader' },
          default_deny: true,
        },
      },
    })
    try {
      const reader = await issuer.sign(nested.url, {
        claims: { scope: 'mcp:tools', realm_access: { roles: ['mcp-reader'] } },
      })
      assert.equal((await rpc(nested.url, HEADERS, bearer(reader))).status, 200)
      const none = await issuer.sign(nested.url, {
        claims: { scope: 'mcp:tools', realm_access: { roles: ['other'] } },
      })
      assert.equal((await rpc(nested.url, HEADERS, bearer(none))).status, 403)
    } finally {
      await nested.close()
    }
  })

  it('sends an array claim holding a comma as JSON, not joined with the others', async () => {
    const seen = async (groups: string[]) => {
      const answer = await rpc(
        portico.url,
        HEADERS,
        bearer(await token({ groups, scope: 'mcp:tools mcp:read' })),
      )
      const content = (answer.message?.result?.content ?? []) as Array<{ text: string }>
      return (JSON.parse(content[0]?.text ?? '{}') as Record<string, string>)['x-user-groups']
    }
    assert.equal(await seen(['self-made', 'admins']), 'self-made,admins')
    assert.equal(await seen(['self-made,admins']), '["self-made,admins"]')
  })

  it('verifies with the keys last fetched while the issuer is down past jwks_max_age', async () => {
    const good = await token({ scope: 'mcp:tools mcp:read' })
    assert.equal((await rpc(portico.url, HEADERS, bearer(good))).status, 200)
    issuer.failing = true
    try {
      // Past jwks_max_age (1 s): the key set is stale, and cannot be fetched again.
      await sleep(1500)
      assert.equal((await rpc(portico.url, HEADERS, bearer(good))).status, 200)
      // A token the last keys cannot verify is still refused, as the issuer is down (502).
      const unknown = await issuer.sign(portico.url, {
        claims: { scope: 'mcp:tools mcp:read' },
        unpublished: true,
      })
      assert.equal((await rpc(portico.url, HEADERS, bearer(unknown))).status, 502)
    } finally {
      issuer.failing = false
    }
  })
})

describe('the protected resource metadata and URL profiles, beside the address rules', () => {
  let issuer: JwtIssuer
  let probe: Served

  before(async () => {
    issuer = await startJwtIssuer('alice')
    probe = await startProbeHttp()
  })
  after(async () => {
    await probe?.close()
    await issuer?.close()
  })

  it('answers the metadata only to addresses the rules let in, as every other path', async () => {
    const portico = await startPortico({
      upstream: probe.url,
      auth: authOf(issuer),
      security: { deny_ips: ['127.0.0.0/8'] },
    })
    try {
      // It answered 200 and named the issuer to an address every other path refused.
      const metadata = await fetch(`${portico.origin}/.well-known/oauth-protected-resource/mcp`)
      assert.equal(metadata.status, 403)
    } finally {
      await portico.close()
    }
  })

  it('serves a profile at /{name} when mcp_path is "/", not at //{name}', async () => {
    const portico = await startPortico({
      upstream: probe.url,
      mcp_path: '/',
      auth: { ...authOf(issuer), profiles: [{ name: 'ro', allow_tools: ['headers'] }] },
    })
    try {
      const good = await issuer.sign(portico.url, { claims: { scope: 'mcp:tools mcp:read' } })
      const answer = await rpc(`${portico.origin}/ro`, HEADERS, bearer(good))
      assert.equal(answer.status, 200, JSON.stringify(answer.message))
    } finally {
      await portico.close()
    }
  })
})

describe('roles read from scopes, and subjects, against a real issuer (third OAuth round)', () => {
  let issuer: JwtIssuer
  let upstream: Served
  before(async () => {
    issuer = await startJwtIssuer('alice')
    upstream = await startStoreUpstream()
  })
  after(async () => {
    await upstream?.close()
    await issuer?.close()
  })

  /** Readers may call `fast` only; `mcp:all` may call anything. */
  const scoped = (claim: 'scope' | 'scp', extra: Record<string, unknown> = {}) => ({
    upstream: upstream.url,
    auth: {
      type: 'jwt' as const,
      issuer: issuer.issuer,
      jwks_uri: issuer.jwksUri,
      roles: [{ name: 'reader', allow_tools: ['fast'] }, { name: 'all' }],
      role_mapping: { claim, mapping: { 'mcp:read': 'reader', 'mcp:all': 'all' } },
      ...extra,
    },
  })
  const slow = request(7, 'tools/call', { name: 'slow', arguments: {} })
  /** `message` on a session of its own (the upstream keeps sessions), with `token`. */
  const inSession = async (url: string, message: object, token: string) => {
    const session = await openSession(url, '2025-11-25', {}, bearer(token))
    return rpc(url, message, { ...sessionHeaders(session), ...bearer(token) })
  }

  it('a tool the scopes do not reach is 403 insufficient_scope naming the scope that would', async () => {
    const portico = await startPortico(scoped('scope'))
    try {
      const reader = await issuer.sign(portico.url, { claims: { scope: 'mcp:read' } })
      const refused = await rpc(portico.url, slow, bearer(reader))
      assert.equal(refused.status, 403)
      assert.equal(refused.message?.id, 7)
      // Before: a bare 403, and an SDK client had nothing to ask its authorization server for.
      const challenge = refused.headers.get('www-authenticate') ?? ''
      assert.match(challenge, /error="insufficient_scope"/)
      assert.match(challenge, /scope="mcp:read mcp:all"/)
      assert.match(challenge, /resource_metadata="/)
      const stepped = await issuer.sign(portico.url, { claims: { scope: 'mcp:read mcp:all' } })
      assert.equal((await inSession(portico.url, slow, stepped)).status, 200)
      // Names past Latin-1 in the challenge (the tool called, the subject): still a 403 with
      // it (writing such a header threw, and the client got a 502 blaming the upstream).
      const named = await issuer.sign(portico.url, { claims: { scope: 'mcp:read', sub: '山田' } })
      for (const [token, tool] of [
        [reader, '写入'],
        [named, 'slow'],
      ] as const) {
        const call = request(9, 'tools/call', { name: tool, arguments: {} })
        const answer = await rpc(portico.url, call, bearer(token))
        assert.equal(answer.status, 403, tool)
        assert.match(answer.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/)
        assert.match(answer.message?.error?.message ?? '', new RegExp(tool))
      }
    } finally {
      await portico.close()
    }
  })

  it('role_mapping.claim = "scp" reads the scope claim too (it ran open before)', async () => {
    const portico = await startPortico(scoped('scp'))
    try {
      const reader = await issuer.sign(portico.url, { claims: { scope: 'mcp:read' } })
      assert.equal((await rpc(portico.url, slow, bearer(reader))).status, 403)
      const fast = request(8, 'tools/call', { name: 'fast', arguments: {} })
      assert.equal((await inSession(portico.url, fast, reader)).status, 200)
    } finally {
      await portico.close()
    }
  })

  it("refuses a user's token without the configured subject claim instead of making it its app", async () => {
    const portico = await startPortico(scoped('scope', { identity: { subject_claim: 'email' } }))
    try {
      const as = (claims: Record<string, unknown>) =>
        issuer.sign(portico.url, { claims: { scope: 'mcp:all', azp: 'web-app', ...claims } })
      const list = request(2, 'tools/list')
      // Before: both were client:web-app, and bob was served on alice's session.
      for (const sub of ['auth0|alice', 'auth0|bob']) {
        const answer = await rpc(portico.url, list, bearer(await as({ sub })))
        assert.equal(answer.status, 401, sub)
        assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
        assert.match(answer.message?.error?.message ?? '', /no email claim/)
      }
      for (const sub of [{ id: 'alice' }, ['alice'], true]) {
        const answer = await rpc(portico.url, list, bearer(await as({ sub, email: sub })))
        assert.equal(answer.status, 401, JSON.stringify(sub))
      }
      const alice = await as({ sub: 'auth0|alice', email: 'alice@example.com' })
      const session = await openSession(portico.url, '2025-11-25', {}, bearer(alice))
      const bob = await as({ sub: 'auth0|bob', email: 'bob@example.com' })
      const bobs = await rpc(portico.url, list, { ...sessionHeaders(session), ...bearer(bob) })
      assert.equal(bobs.status, 403, "bob is not served on alice's session")
    } finally {
      await portico.close()
    }
  })

  it('publishes only the authorization server whose tokens it accepts', async () => {
    const portico = await startPortico({
      upstream: upstream.url,
      auth: {
        authorization_servers: [issuer.issuer, 'https://other-as.example.com'],
        jwks_uri: issuer.jwksUri,
      },
    })
    try {
      const metadata = await fetch(`${portico.origin}/.well-known/oauth-protected-resource/mcp`)
      const document = (await metadata.json()) as { authorization_servers?: string[] }
      assert.deepEqual(document.authorization_servers, [issuer.issuer])
    } finally {
      await portico.close()
    }
  })
})
