/**
 * The auth pieces one by one, with stub `next` and hand-built requests (no sockets): reading
 * the credential, the challenge, identities and role mapping, the policy, the authorization
 * middleware on calls and lists (JSON and SSE answers), session owners, client address rules
 * with trusted proxies, and the argument guard.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ArgumentGuard } from '../../src/auth/arguments.ts'
import { authorize } from '../../src/auth/authorize.ts'
import { AuthFailure, challenge, refusal } from '../../src/auth/challenge.ts'
import { bearerToken } from '../../src/auth/credentials.ts'
import { headerSafe, IdentityBuilder } from '../../src/auth/identity.ts'
import { IpPolicy } from '../../src/auth/ip.ts'
import { Policy } from '../../src/auth/policy.ts'
import { SessionOwners, sessionKeyOf } from '../../src/auth/sessions.ts'
import { authSchema } from '../../src/config/auth.ts'
import { OPEN_PORTICO_TOOLS } from '../../src/config/gateway.ts'
import type { PorticoError } from '../../src/errors.ts'
import { markTunnelled } from '../../src/http/via.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type Call, withMessage } from '../../src/pipeline/call.ts'
import type { Identity } from '../../src/pipeline/identity.ts'
import { MessageReply, type Reply, StreamEvent, StreamReply } from '../../src/pipeline/reply.ts'
import { requestCall } from '../helpers/calls.ts'
import { stubReloadTarget } from '../helpers/reload-target.ts'

const AUTH_INPUT = {
  type: 'jwt',
  issuer: 'https://as.example',
  jwks_uri: 'https://as.example/jwks',
  audience: 'https://mcp.example/mcp',
  roles: [
    {
      name: 'reader',
      allow_tools: ['files__read_*'],
      deny_resources: ['secret://*', 'file:///etc/*', 'mem://vault', 'urn:vault:*'],
    },
    { name: 'ops', admin: true },
  ],
  role_mapping: { claim: 'scope', mapping: { 'mcp:read': 'reader', 'mcp:ops': 'ops' } },
  profiles: [{ name: 'narrow', allow_tools: ['files__read_text'] }],
  identity: { headers: { 'x-user-email': 'email' } },
}
const auth = authSchema.parse(AUTH_INPUT)
const builder = new IdentityBuilder(auth)
const reader = builder.fromClaims(
  { iss: 'https://as.example', sub: 'alice', scope: 'openid mcp:read', email: 'a@x' },
  'jwt',
)
const ops = builder.fromClaims({ iss: 'https://as.example', sub: 'olga', scope: 'mcp:ops' }, 'jwt')
const nobody = builder.fromClaims({ iss: 'https://as.example', sub: 'nina', scope: 'other' }, 'jwt')

function as(call: Call, identity: Identity | undefined): Call {
  return { ...call, identity }
}

function req(
  headers: Record<string, string>,
  remoteAddress = '127.0.0.1',
  url = '/mcp',
  method = 'POST',
): IncomingMessage {
  return { headers, url, method, socket: { remoteAddress } } as unknown as IncomingMessage
}

describe('credentials and challenges', () => {
  it('reads Bearer tokens and refuses everything else as malformed', () => {
    assert.equal(bearerToken({}), undefined)
    assert.equal(bearerToken({ authorization: 'Bearer abc.def-_~+/=' }), 'abc.def-_~+/=')
    assert.equal(bearerToken({ authorization: 'bearer abc' }), 'abc')
    // Any visible ASCII, as mcp-proxy matched its static tokens.
    assert.equal(
      bearerToken({ authorization: 'Bearer p@ss:word!Correct-Horse' }),
      'p@ss:word!Correct-Horse',
    )
    for (const value of ['Basic abc', 'Bearer', 'Bearer a b', 'Bearer ä', 'abc']) {
      assert.throws(() => bearerToken({ authorization: value }), AuthFailure, value)
    }
  })

  it('builds RFC 6750 / MCP challenges and 401/403 refusals', () => {
    const params = {
      resourceMetadata: 'https://p/.well-known/oauth-protected-resource/mcp',
      scopes: ['a', 'b'],
    }
    assert.equal(
      challenge(params),
      'Bearer resource_metadata="https://p/.well-known/oauth-protected-resource/mcp", scope="a b"',
    )
    assert.equal(challenge({}), 'Bearer realm="portico"')
    const expired = refusal(params, new AuthFailure('invalid_token', 'token "expired"'))
    assert.equal(expired.status, 401)
    assert.match(
      expired.headers?.['www-authenticate'] ?? '',
      /error="invalid_token", error_description="token {2}expired "/,
    )
    const scope = refusal(params, new AuthFailure('insufficient_scope', 'missing scope c', ['c']))
    assert.equal(scope.status, 403)
    assert.match(scope.headers?.['www-authenticate'] ?? '', /scope="c", error="insufficient_scope"/)
  })
})

describe('identities', () => {
  it('takes subject, scopes, the first mapped role and identity headers from claims', () => {
    assert.equal(reader.subject, 'alice')
    assert.deepEqual(reader.roles, ['reader'])
    assert.deepEqual(reader.headers, { 'x-user-id': 'alice', 'x-user-email': 'a@x' })
    assert.equal(reader.admin, false)
    assert.equal(ops.admin, true)
    assert.deepEqual(nobody.roles, [])
    assert.notEqual(
      reader.key,
      builder.fromKey('alice', 'api_key', [], false).key,
      'a key never passes for a token subject',
    )
  })

  it("reads configured claim names as the token's own: `constructor` or `toString` absent is absent", () => {
    const odd = new IdentityBuilder(
      authSchema.parse({
        type: 'jwt',
        issuer: 'https://as.example',
        jwks_uri: 'https://as.example/jwks',
        audience: 'https://mcp.example/mcp',
        roles: [{ name: 'reader', allow_tools: ['*'] }],
        role_mapping: { claim: 'constructor', mapping: { x: 'reader' } },
        identity: { subject_claim: 'valueOf', headers: { 'x-odd': 'toString' } },
      }),
    )
    // Read through the prototype, each was a function: a TypeError (500) for every such token.
    // (A user's token without the subject claim is refused: see the test below.)
    const plain = odd.fromClaims({ iss: 'https://as.example', client_id: 'app' }, 'jwt')
    assert.deepEqual(plain.roles, [])
    assert.deepEqual(plain.headers, { 'x-user-id': 'client:app' })
    const carried = odd.fromClaims(
      { iss: 'https://as.example', valueOf: 'vic', constructor: 'x', toString: 't' },
      'jwt',
    )
    assert.equal(carried.subject, 'vic')
    assert.deepEqual(carried.roles, ['reader'])
    assert.equal(carried.headers['x-odd'], 't')
  })

  it("never makes a user's token its client: one without the subject claim, or a subject that is no string or integer, is refused", () => {
    const byEmail = new IdentityBuilder(
      authSchema.parse({ ...AUTH_INPUT, identity: { subject_claim: 'email' } }),
    )
    const refused = (claims: Record<string, unknown>, by = byEmail) =>
      assert.throws(
        () => by.fromClaims({ iss: 'https://as.example', azp: 'web-app', ...claims }, 'jwt'),
        (e: unknown) => e instanceof AuthFailure && e.error === 'invalid_token',
        JSON.stringify(claims),
      )
    // Before: both were `client:web-app`, one principal (sessions, per-user processes, budgets).
    refused({ sub: 'auth0|alice' })
    refused({ sub: 'auth0|bob' })
    for (const sub of [{ id: 'alice' }, ['alice'], true, '']) refused({ sub }, builder)
    refused({ email: { id: 'a' } })
    assert.equal(byEmail.fromClaims({ iss: 'x', sub: 's', email: 'a@x' }, 'jwt').subject, 'a@x')
    // A client's own token (no subject at all) is still its client.
    const machine = byEmail.fromClaims({ iss: 'https://as.example', client_id: 'ci' }, 'jwt')
    assert.equal(machine.subject, 'client:ci')
  })

  it('reads a dotted subject claim and dotted claim headers as nested claims', () => {
    const nested = new IdentityBuilder(
      authSchema.parse({
        ...AUTH_INPUT,
        identity: { subject_claim: 'user.id', headers: { 'x-org': 'org.name' } },
      }),
    )
    const claims = {
      iss: 'https://as.example',
      sub: 's',
      user: { id: 'u-1' },
      org: { name: 'acme' },
    }
    const identity = nested.fromClaims(claims, 'jwt')
    assert.equal(identity.subject, 'u-1')
    assert.deepEqual(identity.headers, { 'x-user-id': 'u-1', 'x-org': 'acme' })
  })

  it('maps roles from the scopes whether role_mapping names the claim scope or scp', () => {
    const scp = new IdentityBuilder(
      authSchema.parse({
        ...AUTH_INPUT,
        role_mapping: { ...AUTH_INPUT.role_mapping, claim: 'scp' },
      }),
    )
    // Before: claim = "scp" read only `scp`, so a `scope` token had no role (unrestricted).
    for (const claims of [{ scope: 'mcp:read' }, { scp: ['mcp:read'] }]) {
      const identity = scp.fromClaims({ iss: 'https://as.example', sub: 'a', ...claims }, 'jwt')
      assert.deepEqual(identity.roles, ['reader'], JSON.stringify(claims))
    }
  })

  it('a token gets the role of every scope that maps, whatever the order of its scopes', () => {
    const both = ['mcp:read mcp:ops', 'mcp:ops mcp:read'].map(
      (scope) => builder.fromClaims({ iss: 'https://as.example', sub: 'bo', scope }, 'jwt').roles,
    )
    // mcp-proxy's first mapped scope made these ['reader'] and ['ops'].
    assert.deepEqual(
      both.map((roles) => [...roles].sort()),
      [
        ['ops', 'reader'],
        ['ops', 'reader'],
      ],
    )
  })

  it('one user is one identity whatever trailing slashes the issuer writes', () => {
    const again = builder.fromClaims({ iss: 'https://as.example//', sub: 'alice' }, 'jwt')
    assert.equal(again.key, reader.key, 'the session owner check compares these keys')
  })

  it('makes any claim value a header value', () => {
    assert.equal(headerSafe('plain'), 'plain')
    assert.equal(headerSafe('Zoë\r\nx-evil: 1'), 'Zo%C3%AB%0D%0Ax-evil%3A%201')
    assert.equal(headerSafe(['a', 'b']), 'a,b')
    assert.equal(headerSafe({ a: 1 }), '{"a":1}')
    // No two subjects are sent alike: a `%` or a space at either end is encoded, never dropped.
    assert.notEqual(headerSafe('ä'), headerSafe('%C3%A4'))
    assert.equal(headerSafe('%C3%A4'), '%25C3%25A4')
    assert.equal(headerSafe(' alice '), '%20alice%20')
    assert.equal(headerSafe('a b'), 'a b')
  })
})

describe('policy and the authorization middleware', () => {
  const policy = new Policy(auth, 'portico__')
  const guard = authorize(policy, '/mcp')
  const ok = async () => MessageReply.of({ jsonrpc: '2.0', id: 1, result: {} })

  it('opens the discovery tools on a profile path too; what they reach is still the profile', () => {
    const discovery = new Policy(auth, 'portico__', OPEN_PORTICO_TOOLS)
    // Before: judged by the profile first, a profile's clients in search mode had nothing.
    assert.ok(discovery.allows(reader, 'tool', 'portico__search_tools', 'narrow'))
    assert.ok(discovery.allows(reader, 'tool', 'portico__call_tool', 'narrow'))
    assert.ok(discovery.allows(reader, 'tool', 'files__read_text', 'narrow'))
    assert.ok(!discovery.allows(ops, 'tool', 'files__write', 'narrow'), 'the profile still narrows')
    assert.ok(!discovery.allows(reader, 'tool', 'portico__add_backend', 'narrow'), 'admin tools')
  })

  it('decides by role glob; admin tools need admin rights', () => {
    assert.ok(policy.allows(reader, 'tool', 'files__read_text'))
    assert.ok(!policy.allows(reader, 'tool', 'files__write'))
    assert.ok(!policy.allows(reader, 'resource', 'secret://key'))
    // Other spellings of a denied file are denied too; other files are not.
    for (const uri of [
      'file:///etc/passwd',
      'file:///tmp/../etc/passwd',
      'file:///tmp/%2e%2e/etc/passwd',
      'file:////etc/passwd',
      'file://localhost/etc/passwd',
      // Percent-escapes of plain letters and of dot segments, as fileURLToPath decodes them.
      'file:///%65tc/passwd',
      'file:///%65%74%63/%70asswd',
      'file:///tmp/%2E%2E%2Fetc/passwd',
      // A doubled slash before `..`: the URL parser resolves it to /tmp/etc/passwd, a file
      // system (Python's urlparse and open) to /etc/passwd.
      'file:///tmp//../etc/passwd',
      'file:///tmp/a////../../../../etc/passwd',
      'file:///tmp//%2e%2e/etc/passwd',
      // `localhost` with a trailing dot, or another host a file server ignores.
      'file://localhost./etc/passwd',
      'file://LOCALHOST/etc/passwd',
      'file://127.0.0.1/etc/passwd',
      // A port or a user the URL parser refuses in a file: URL, which Python's urlparse reads.
      'file://localhost:80/etc/passwd',
      'file://u@localhost/etc/passwd',
      'file://x:y@otherhost:1/etc/passwd',
      // Tabs and line breaks anywhere, spaces at either end: dropped by urlparse before reading.
      'fil\te://localhost:80/etc/passwd',
      ' file://localhost:80/etc/passwd',
      'file:\t//u@localhost/etc/passwd',
      'file://localhost:80/et\nc/passwd ',
    ]) {
      assert.ok(!policy.allows(reader, 'resource', uri), uri)
    }
    // The scheme in any case; escapes in a host the URL parser leaves encoded, and in an opaque
    // path: a server decoding them reads the denied resource.
    for (const uri of [
      'SECRET://key',
      'mem://%76ault',
      'MEM://v%61ult',
      'urn:%76ault:1',
      'URN:vault:1',
      // A query, a fragment or a user: fileURLToPath and servers read the same resource.
      'file:///etc/passwd?x',
      'file:///etc/passwd#x',
      'mem://vault?x',
      'mem://u:p@vault',
      // A host in another case, or with a trailing dot.
      'mem://VAULT',
      'mem://vault.',
    ]) {
      assert.ok(!policy.allows(reader, 'resource', uri), uri)
    }
    // Allowed files are judged the same way: a path that leaves the allowed folder is refused.
    const pub = new Policy(
      authSchema.parse({
        ...AUTH_INPUT,
        roles: [{ name: 'pub', allow_resources: ['file:///srv/pub/*'] }],
      }),
      'portico__',
    )
    const pubReader = { ...reader, roles: ['pub'] }
    assert.ok(pub.allows(pubReader, 'resource', 'file:///srv/pub/a.txt'))
    for (const uri of ['file:///srv/pub/a////../../../../etc/passwd', 'file:///srv/pub//../x']) {
      assert.ok(!pub.allows(pubReader, 'resource', uri), uri)
    }
    assert.ok(policy.allows(reader, 'resource', 'mem://vaults'))
    assert.ok(policy.allows(reader, 'resource', 'file:///tmp/notes.txt'))
    assert.ok(policy.allows(reader, 'resource', 'file:///tmp/my%20notes.txt'))
    assert.ok(policy.allows(reader, 'prompt', 'any'))
    assert.ok(policy.allows(nobody, 'tool', 'files__write'), 'no role: unrestricted')
    assert.ok(!policy.allows(nobody, 'tool', 'portico__config'))
    assert.ok(policy.allows(ops, 'tool', 'portico__config'))
  })

  it('a URL-path profile narrows every caller, admins included', async () => {
    assert.ok(policy.allows(ops, 'tool', 'files__read_text', 'narrow'))
    assert.ok(!policy.allows(ops, 'tool', 'files__write', 'narrow'))
    assert.ok(!policy.allows(ops, 'tool', 'portico__config', 'narrow'))
    assert.ok(!policy.allows(nobody, 'tool', 'files__read_text', 'unknown'), 'unknown profile')
    const call = { ...as(requestCall('tools/call', { name: 'files__write' }), ops) }
    const viaProfile = { ...call, request: { ...call.request, path: '/mcp/narrow' } }
    await assert.rejects(guard(viaProfile, ok), /through profile narrow/)
    await guard(call, ok)
  })

  it('refuses a denied call with forbidden, keeping what it was', async () => {
    const call = as(requestCall('tools/call', { name: 'files__write' }, 7), reader)
    await assert.rejects(guard(call, ok), (error: PorticoError) => {
      assert.equal(error.reason, 'forbidden')
      assert.deepEqual(error.data, { tool: 'files__write' })
      return true
    })
    await assert.rejects(guard(as(requestCall('tools/call', {}), reader), ok), /needs a name/)
    await assert.rejects(
      guard(requestCall('tools/list'), ok),
      /Unauthorized/,
      'no identity: fail closed',
    )
    const completion = requestCall('completion/complete', {
      ref: { type: 'ref/resource', uri: 'secret://x' },
    })
    await assert.rejects(guard(as(completion, reader), ok), /Forbidden/)
  })

  it('filters list answers, JSON and SSE', async () => {
    const tools = {
      tools: [{ name: 'files__read_text' }, { name: 'files__write' }, { name: 'portico__config' }],
    }
    const json = await guard(as(requestCall('tools/list'), reader), async () =>
      MessageReply.of({ jsonrpc: '2.0', id: 1, result: tools }),
    )
    const body = await (json as MessageReply).json()
    assert.deepEqual(
      ((body?.result?.tools ?? []) as Array<{ name: string }>).map((t) => t.name),
      ['files__read_text'],
    )
    async function* events() {
      yield StreamEvent.of({ jsonrpc: '2.0', method: 'notifications/progress', params: {} })
      yield StreamEvent.of({ jsonrpc: '2.0', id: 1, result: tools })
    }
    const sse = (await guard(
      as(requestCall('tools/list'), nobody),
      async () => new StreamReply(events()),
    )) as StreamReply
    const seen: unknown[] = []
    for await (const event of sse.events) seen.push(event.message())
    assert.deepEqual(
      (seen[1] as { result: typeof tools }).result.tools.map((t) => t.name),
      ['files__read_text', 'files__write'],
      'no role: everything but the admin tools',
    )
  })

  it('refuses a list answer it cannot read rather than pass it unfiltered', async () => {
    const { Readable } = await import('node:stream')
    const big = MessageReply.fromBody(
      Readable.from([Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}')]),
      8,
      {},
    )
    await assert.rejects(
      guard(as(requestCall('tools/list'), reader), async () => big as Reply),
      /too large to filter/,
    )
  })
})

describe('policy on an aliased resource (gateway mode)', () => {
  // `memo://a` of backend `sub` is aliased `notes://first`; its namespaced URI still routes.
  const ALIAS = 'notes://first'
  const ORIGINAL = 'memo://sub__a'
  const aliasAuth = authSchema.parse({
    type: 'jwt',
    issuer: 'https://as.example',
    jwks_uri: 'https://as.example/jwks',
    roles: [
      { name: 'alias-only', allow_resources: ['notes://*'] },
      { name: 'original-only', allow_resources: ['memo://sub__*'] },
      { name: 'deny-alias', deny_resources: [ALIAS] },
      { name: 'deny-original', deny_resources: [ORIGINAL] },
    ],
    role_mapping: {
      claim: 'scope',
      mapping: { ao: 'alias-only', oo: 'original-only', da: 'deny-alias', do: 'deny-original' },
    },
  })
  const people = new IdentityBuilder(aliasAuth)
  const who = (scope: string) =>
    people.fromClaims({ iss: 'https://as.example', sub: scope, scope }, 'jwt')
  const policy = new Policy(aliasAuth, undefined)
  policy.resourceNames = (uri) =>
    uri === ALIAS || uri === ORIGINAL ? { exposed: ALIAS, original: ORIGINAL } : undefined

  it('judges the alias, the name roles are written for, under either name', () => {
    const aliasOnly = who('ao')
    assert.ok(policy.allows(aliasOnly, 'resource', ALIAS))
    assert.ok(!policy.allows(aliasOnly, 'resource', ORIGINAL), 'the original is not allowed')
    // Allowed only under the original: the alias is what clients see, so neither works.
    const originalOnly = who('oo')
    assert.ok(!policy.allows(originalOnly, 'resource', ALIAS))
    assert.ok(!policy.allows(originalOnly, 'resource', ORIGINAL))
    assert.ok(policy.allows(originalOnly, 'resource', 'memo://sub__b'), 'unaliased: as before')
  })

  it('fails closed: a deny on either name holds under the other', () => {
    for (const scope of ['da', 'do']) {
      for (const uri of [ALIAS, ORIGINAL]) {
        assert.ok(!policy.allows(who(scope), 'resource', uri), `${scope} ${uri}`)
      }
      assert.ok(policy.allows(who(scope), 'resource', 'memo://sub__b'))
    }
    // Without the gateway's names (transparent mode) a URI is judged as it is.
    const bare = new Policy(aliasAuth, undefined)
    assert.ok(bare.allows(who('do'), 'resource', ALIAS))
  })
})

describe('policy on an aliased tool or prompt (gateway mode)', () => {
  // Tool `secret` of backend `a` is aliased `nice`; its namespaced name still routes.
  const ALIAS = 'a__nice'
  const ORIGINAL = 'a__secret'
  const aliasAuth = authSchema.parse({
    type: 'jwt',
    issuer: 'https://as.example',
    jwks_uri: 'https://as.example/jwks',
    roles: [
      { name: 'alias-only', allow_tools: ['a__nice'], allow_prompts: ['a__nice'] },
      { name: 'deny-alias', deny_tools: [ALIAS], deny_prompts: [ALIAS] },
      { name: 'deny-original', deny_tools: [ORIGINAL], deny_prompts: [ORIGINAL] },
    ],
    role_mapping: {
      claim: 'scope',
      mapping: { ao: 'alias-only', da: 'deny-alias', do: 'deny-original' },
    },
  })
  const people = new IdentityBuilder(aliasAuth)
  const who = (scope: string) =>
    people.fromClaims({ iss: 'https://as.example', sub: scope, scope }, 'jwt')
  const policy = new Policy(aliasAuth, undefined)
  policy.itemNames = (_kind, name) =>
    name === ALIAS || name === ORIGINAL
      ? { exposed: ALIAS, original: ORIGINAL }
      : { exposed: name, original: name }

  it('fails closed: a deny on either name holds under the other', () => {
    for (const kind of ['tool', 'prompt'] as const) {
      for (const scope of ['da', 'do']) {
        for (const name of [ALIAS, ORIGINAL]) {
          assert.ok(!policy.allows(who(scope), kind, name), `${kind} ${scope} ${name}`)
        }
        assert.ok(policy.allows(who(scope), kind, 'a__other'), `${kind} ${scope}`)
      }
    }
  })

  it('an allow written for the alias allows the alias, as for resources', () => {
    const aliasOnly = who('ao')
    assert.ok(policy.allows(aliasOnly, 'tool', ALIAS))
    assert.ok(!policy.allows(aliasOnly, 'tool', ORIGINAL), 'the original is not allowed')
    assert.ok(!policy.allows(aliasOnly, 'tool', 'a__other'))
  })
})

describe('session owners', () => {
  it('binds a session to the identity whose initialize created it', async () => {
    const owners = new SessionOwners(2)
    const init = as(requestCall('initialize', {}), reader)
    await owners.middleware()(init, async () => {
      init.notes.sessionId = 's1'
      return MessageReply.of({ jsonrpc: '2.0', id: 1, result: {} })
    })
    owners.check(req({ 'mcp-session-id': 's1' }), reader)
    assert.throws(() => owners.check(req({ 'mcp-session-id': 's1' }), ops), /another identity/)
    assert.throws(
      () => owners.check(req({ 'mcp-session-id': 'unknown' }), reader),
      (e: PorticoError) => e.reason === 'session_not_found',
    )
    owners.check(req({}, '127.0.0.1', '/message?sessionId=legacy'), reader)
    assert.throws(
      () => owners.check(req({}, '127.0.0.1', '/message?sessionId=legacy'), ops),
      /another identity/,
      'legacy: the first POST binds',
    )
  })

  it('owns a UUID session id in every spelling an upstream reads as the same UUID', () => {
    const owners = new SessionOwners()
    const id = 'd8a03395032147a989485f7ecbe55e36'
    owners.check(req({}, '127.0.0.1', `/messages/?session_id=${id}`), reader)
    // Python's UUID(hex=…) reads each of these as alice's session.
    for (const spelling of [
      id.toUpperCase(),
      'd8a03395-0321-47a9-8948-5f7ecbe55e36',
      `{${id}}`,
      `urn:uuid:${id}`,
      'D8A0-3395-0321-47A9-8948-5F7E-CBE5-5E36',
    ]) {
      assert.throws(
        () =>
          owners.check(
            req({}, '127.0.0.1', `/messages/?session_id=${encodeURIComponent(spelling)}`),
            ops,
          ),
        /another identity/,
        spelling,
      )
    }
    assert.equal(sessionKeyOf('not-a-uuid'), 'not-a-uuid')
    assert.equal(sessionKeyOf(id), sessionKeyOf(id.toUpperCase()))
  })
})

describe('session owners and an upstream that reuses session ids', () => {
  it("refuses a second caller's initialize answered with the first one's session id", async () => {
    const owners = new SessionOwners(10)
    const initAs = (identity: Identity) => {
      const init = as(requestCall('initialize', {}), identity)
      return owners.middleware()(init, async () => {
        init.notes.sessionId = 'fixed'
        return MessageReply.of({ jsonrpc: '2.0', id: 1, result: {} })
      })
    }
    await initAs(reader)
    await assert.rejects(initAs(ops), (e: PorticoError) => e.reason === 'upstream_bad_response')
    // The creator keeps it; the other caller never got it.
    owners.check(req({ 'mcp-session-id': 'fixed' }), reader)
    assert.throws(() => owners.check(req({ 'mcp-session-id': 'fixed' }), ops), /another identity/)
    // The creator initializing again on the same id is its own session still.
    await initAs(reader)
    // Once its owner ended it (DELETE), the id is nobody's: an upstream that numbers its
    // sessions again after a restart may give it to another caller.
    owners.check(req({ 'mcp-session-id': 'fixed' }, '127.0.0.1', '/mcp', 'DELETE'), reader)
    await initAs(ops)
    owners.check(req({ 'mcp-session-id': 'fixed' }), ops)
  })
})

describe('session owners past their bound', () => {
  it('forgets the least recently used session, not one still in use', async () => {
    const owners = new SessionOwners(2)
    const open = async (id: string) => {
      const init = as(requestCall('initialize', {}), reader)
      await owners.middleware()(init, async () => {
        init.notes.sessionId = id
        return MessageReply.of({ jsonrpc: '2.0', id: 1, result: {} })
      })
    }
    await open('busy')
    await open('idle')
    // 'busy' is used after 'idle' was created; then a third session needs a place.
    owners.check(req({ 'mcp-session-id': 'busy' }), reader)
    await open('new')
    owners.check(req({ 'mcp-session-id': 'busy' }), reader)
    owners.check(req({ 'mcp-session-id': 'new' }), reader)
    assert.throws(
      () => owners.check(req({ 'mcp-session-id': 'idle' }), reader),
      (e: PorticoError) => e.reason === 'session_not_found',
      'the session unused the longest is the one forgotten',
    )
  })
})

describe('client address rules', () => {
  it('denies first, then admits only the allow list', () => {
    const ip = new IpPolicy({
      allow: ['10.0.0.0/8', '::1'],
      deny: ['10.9.0.0/16'],
      trustedProxies: [],
    })
    ip.check(req({}, '10.1.2.3'))
    ip.check(req({}, '::ffff:10.1.2.3'))
    ip.check(req({}, '::1'))
    assert.throws(() => ip.check(req({}, '10.9.1.1')), /address not allowed/)
    assert.throws(() => ip.check(req({}, '192.168.1.1')), /address not allowed/)
  })

  it('never takes the relay of tunnelled traffic for a trusted proxy, nor its traffic for local', () => {
    const ip = new IpPolicy({
      allow: ['127.0.0.1'],
      deny: [],
      trustedProxies: ['10.0.0.0/8'],
    })
    // The relay names the public client 10.1.2.3, in a trusted range, with a loopback hop.
    const tunnelled = req({ 'x-forwarded-for': '127.0.0.1' }, '10.1.2.3')
    markTunnelled(tunnelled.socket)
    assert.equal(ip.clientAddress(tunnelled), '10.1.2.3')
    assert.equal(ip.isLocal(tunnelled), false)
    assert.throws(() => ip.check(tunnelled), /address not allowed/)
    // The same from a socket of this machine's network is believed, as before.
    assert.equal(ip.clientAddress(req({ 'x-forwarded-for': '127.0.0.1' }, '10.1.2.3')), '127.0.0.1')
  })

  it('believes X-Forwarded-For only from trusted proxies, read from the right', () => {
    const ip = new IpPolicy({
      allow: [],
      deny: ['203.0.113.7'],
      trustedProxies: ['127.0.0.1', '10.0.0.0/8'],
    })
    const forwarded = (xff: string, peer = '127.0.0.1') =>
      ip.clientAddress(req({ 'x-forwarded-for': xff }, peer))
    assert.equal(forwarded('203.0.113.7, 10.0.0.5'), '203.0.113.7')
    assert.equal(
      forwarded('198.51.100.1, 203.0.113.9'),
      '203.0.113.9',
      'the client-written left part is not believed',
    )
    assert.equal(
      forwarded('203.0.113.7', '192.0.2.1'),
      '192.0.2.1',
      'an untrusted peer is the client',
    )
    assert.throws(
      () => ip.check(req({ 'x-forwarded-for': '203.0.113.7' }, '127.0.0.1')),
      /not allowed/,
    )
    // A hop written with its port is the same address; one that is no address is refused.
    for (const hop of ['203.0.113.7:5678', '[::ffff:203.0.113.7]:443', 'unknown']) {
      assert.throws(
        () => ip.check(req({ 'x-forwarded-for': `${hop}, 10.0.0.5` }, '127.0.0.1')),
        /not allowed/,
        hop,
      )
    }
    assert.equal(forwarded('[2001:db8::1]:443'), '2001:db8::1')
    ip.check(req({ 'x-forwarded-for': '198.51.100.1:80' }, '127.0.0.1'))
  })
})

describe('argument guard', () => {
  const guard = new ArgumentGuard({
    maxArgumentSize: 30,
    validate: true,
    logger: new Logger({ level: 'silent' }),
  })
  const call = (args: unknown) => requestCall('tools/call', { name: 'add', arguments: args })
  guard.learn({
    tools: [
      {
        name: 'add',
        inputSchema: { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] },
      },
      { name: 'broken', inputSchema: { type: 'object', properties: { a: { type: 'nope' } } } },
    ],
  })

  it('refuses arguments over the size limit', () => {
    assert.throws(
      () => guard.check(call({ a: 1, pad: 'x'.repeat(40) })),
      /exceed maximum size: \d+ bytes \(limit: 30 bytes\)/,
    )
  })

  it('validates against the learned schema; unknown or uncompilable schemas pass', () => {
    guard.check(call({ a: 1 }))
    assert.throws(
      () => guard.check(call({ a: 'one' })),
      /do not match its inputSchema: \/a must be number/,
    )
    assert.throws(() => guard.check(call({})), /must have required property 'a'/)
    guard.check(
      withMessage(call({}), {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'unknown', arguments: {} },
      }),
    )
    guard.check(
      withMessage(call({}), {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'broken', arguments: { a: 1 } },
      }),
    )
  })

  it('refuses an argument named like a parameter in another case, as Go folds it', () => {
    // Before: the schema checked `a` and let `A` through; a Go server reads `A` as `a`.
    assert.throws(
      () => guard.check(call({ a: 1, A: 'x' })),
      /argument "A" of add differs from its parameter "a" only by case/,
    )
    guard.check(call({ a: 1, b: 'other' }))
  })

  it('refuses such an argument at any depth the schema describes, in every Go folding', () => {
    const nested = new ArgumentGuard({
      maxArgumentSize: undefined,
      validate: true,
      logger: new Logger({ level: 'silent' }),
    })
    nested.learn({
      tools: [
        {
          name: 'open',
          inputSchema: {
            type: 'object',
            properties: {
              options: {
                type: 'object',
                properties: { mode: { enum: ['ro'] }, items: { type: 'array' } },
              },
              files: {
                type: 'array',
                items: { type: 'object', properties: { path: { type: 'string' } } },
              },
              id: { type: 'string' },
            },
          },
        },
      ],
    })
    const open = (args: unknown) =>
      requestCall('tools/call', { name: 'open', arguments: args }) as Call
    // Before: only the top level was compared, and `Mode` (a Go server's `mode`) went on.
    for (const [args, path] of [
      [{ options: { mode: 'ro', Mode: 'rw' } }, 'options.Mode'],
      [{ files: [{ path: '/tmp/a' }, { path: '/tmp/b', PATH: '/etc' }] }, 'files[1].PATH'],
      [{ ıd: 'x' }, 'ıd'],
      [{ options: { modİ: 'x' } }, undefined],
    ] as const) {
      if (path === undefined) nested.check(open(args))
      else {
        assert.throws(
          () => nested.check(open(args)),
          (error: Error) => error.message.includes(`argument "${path}"`),
          path,
        )
      }
    }
    nested.check(open({ options: { mode: 'ro' }, files: [{ path: '/tmp/a' }], id: 'x' }))
  })

  it('follows local $refs, allOf/anyOf/oneOf and additionalProperties (R16-04)', () => {
    const guard = new ArgumentGuard({
      maxArgumentSize: undefined,
      validate: true,
      logger: new Logger({ level: 'silent' }),
    })
    // Pydantic's shape: every nested model a $ref into $defs, an optional one anyOf with null.
    guard.learn({
      tools: [
        {
          name: 'pyd',
          inputSchema: {
            type: 'object',
            $defs: {
              Options: { type: 'object', properties: { mode: { enum: ['safe'] } } },
              Tag: { type: 'object', properties: { label: { type: 'string' } } },
            },
            properties: {
              options: { $ref: '#/$defs/Options' },
              maybe: { anyOf: [{ $ref: '#/$defs/Options' }, { type: 'null' }] },
              both: { allOf: [{ $ref: '#/$defs/Options' }] },
              tags: { type: 'object', additionalProperties: { $ref: '#/$defs/Tag' } },
            },
          },
        },
      ],
    })
    const pyd = (args: unknown) =>
      requestCall('tools/call', { name: 'pyd', arguments: args }) as Call
    for (const [args, path] of [
      [{ options: { mode: 'safe', Mode: 'unsafe' } }, 'options.Mode'],
      [{ maybe: { mode: 'safe', MODE: 'unsafe' } }, 'maybe.MODE'],
      [{ both: { Mode: 'unsafe' } }, 'both.Mode'],
      [{ tags: { a: { label: 'x', Label: 'y' } } }, 'tags.a.Label'],
    ] as const) {
      assert.throws(
        () => guard.check(pyd(args)),
        (error: Error) => error.message.includes(`argument "${path}"`),
        path,
      )
    }
    guard.check(pyd({ options: { mode: 'safe' }, maybe: null, tags: { a: { label: 'x' } } }))
  })

  it('takes a name spelt exactly as one branch of a union declares it (R17-03)', () => {
    const guard = new ArgumentGuard({
      maxArgumentSize: undefined,
      validate: true,
      logger: new Logger({ level: 'silent' }),
    })
    guard.learn({
      tools: [
        {
          name: 'lookup',
          inputSchema: {
            type: 'object',
            $defs: {
              Legacy: { type: 'object', properties: { ID: { type: 'string' } } },
              Modern: { type: 'object', properties: { id: { type: 'string' } } },
            },
            properties: {
              target: { anyOf: [{ $ref: '#/$defs/Legacy' }, { $ref: '#/$defs/Modern' }] },
            },
          },
        },
      ],
    })
    const lookup = (args: unknown) =>
      requestCall('tools/call', { name: 'lookup', arguments: args }) as Call
    // Before: the last branch's spelling won, and `ID` (the Legacy branch's own) was refused.
    guard.check(lookup({ target: { ID: 'x' } }))
    guard.check(lookup({ target: { id: 'x' } }))
    assert.throws(() => guard.check(lookup({ target: { Id: 'x' } })), /argument "target.Id"/)
  })
})

describe('argument guard and schemas with an $id', () => {
  it('validates a tool whose schema (with an $id) changes, as often as it changes', () => {
    const guard = new ArgumentGuard({
      maxArgumentSize: 1000,
      validate: true,
      logger: new Logger({ level: 'silent' }),
    })
    const call = (args: unknown) => requestCall('tools/call', { name: 'tagged', arguments: args })
    for (const type of ['number', 'string', 'number']) {
      guard.learn({
        tools: [
          {
            name: 'tagged',
            inputSchema: {
              $id: 'https://example.test/tagged',
              type: 'object',
              properties: { a: { type } },
              required: ['a'],
            },
          },
        ],
      })
      // A schema Ajv had seen before under this $id is compiled again, not refused (which
      // switched validation off for the tool).
      assert.throws(() => guard.check(call({ a: type === 'number' ? 'x' : 1 })), /must be/)
      guard.check(call({ a: type === 'number' ? 1 : 'x' }))
    }
  })

  it('keeps its memory bounded however many times the schemas change', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const guard = new ArgumentGuard({
      maxArgumentSize: 1000,
      validate: true,
      logger: new Logger({ level: 'silent' }),
    })
    const listing = (round: number) => ({
      tools: Array.from({ length: 100 }, (_, i) => ({
        name: `t${i}`,
        inputSchema: {
          type: 'object',
          definitions: { d: { $id: `https://example.test/${round}/${i}`, type: 'string' } },
          properties: { a: { type: 'string' } },
        },
      })),
    })
    const round = (n: number) => {
      guard.learn(listing(n))
      for (let i = 0; i < 100; i++) {
        guard.check(requestCall('tools/call', { name: `t${i}`, arguments: { a: 'x' } }))
      }
    }
    for (let n = 0; n < 20; n++) round(n)
    gc()
    const before = process.memoryUsage().heapUsed
    for (let n = 20; n < 100; n++) round(n)
    gc()
    const grown = process.memoryUsage().heapUsed - before
    // 8,000 compiles; before, each left about 4 KB in Ajv's scope and registry (over 30 MB).
    assert.ok(grown < 12_000_000, `${Math.round(grown / 1e6)} MB more after 8,000 compiles`)
  })
})

describe('hot reload and auth', () => {
  it('rejects a reload that changes [auth] or [security] beyond their keys instead of ignoring it', async () => {
    const { reload } = await import('../../src/gateway/reload.ts')
    const { parseConfig } = await import('../../src/config/schema.ts')
    const backends = [{ name: 'a', transport: 'http' as const, url: 'http://127.0.0.1:1/mcp' }]
    const running = parseConfig({
      backends,
      auth: { tokens: ['one'] },
      proxy: { admin_tools: false },
    })
    // A role added (a key changed alone is applied: test/integration/auth-keys-reload.test.ts).
    const next = parseConfig({
      backends,
      auth: {
        tokens: ['two'],
        roles: [{ name: 'reader', allow_tools: ['echo'] }],
        api_keys: [{ name: 'r', key: 'reader-key-0123456789', roles: ['reader'] }],
      },
      proxy: { admin_tools: false },
    })
    const lines: string[] = []
    const { target: gateway, state } = stubReloadTarget(running)
    await reload(
      gateway as never,
      { file: 'portico.toml', load: () => next },
      new Logger({ write: (line) => lines.push(line) }),
    )
    assert.equal(state.applied, undefined)
    assert.match(lines.join(''), /\[auth\] or \[security\] changed; restart Portico/)
  })
})

describe('log lines', () => {
  it('name the verified caller', async () => {
    const { formatExchange } = await import('../../src/observe/stderr-sink.ts')
    const line = formatExchange({
      type: 'exchange',
      ts: 0,
      proxy: 'p',
      transport: 'streamable-http',
      era: 'legacy',
      kind: 'request',
      method: 'tools/call',
      name: 'echo',
      outcome: 'error',
      errorCode: -32600,
      errorMessage: 'Forbidden: alice may not use tool echo',
      reason: 'forbidden',
      httpStatus: 403,
      durationUs: 10,
      bytesIn: 1,
      bytesOut: 1,
      subject: 'alice',
    })
    assert.match(line, /reason=forbidden .*user=alice/)
  })
})
