/**
 * Portico as an OAuth 2.1 resource server, end to end with real parts: oidc-provider as the
 * authorization server, the SDK v2 client running the whole flow through Portico (401 →
 * protected resource metadata → authorization server metadata → token for Portico's URL → the
 * call), a probe upstream that reports the headers it received. Covers the client credentials
 * and the authorization code (PKCE) flows, JWT validation through discovered JWKS, and
 * introspection of opaque tokens.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  ClientCredentialsProvider,
  Client as ClientV2,
  type OAuthClientInformationMixed,
  type OAuthClientProvider,
  type OAuthTokens,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError,
} from '@modelcontextprotocol/client'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import {
  type AuthorizationServer,
  CODE_CLIENT,
  completeAuthorization,
  MCP_CLIENT,
  RESOURCE_SERVER,
  startAuthorizationServer,
} from '../fixtures/oauth-server.ts'
import { startProbeHttp } from '../fixtures/probe-server.ts'
import type { Served } from '../fixtures/serve.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** The probe's `headers` tool: what the upstream received. */
async function upstreamHeaders(client: ClientV2): Promise<Record<string, string>> {
  const result = await client.callTool({ name: 'headers', arguments: {} })
  const content = result.content as Array<{ type: string; text: string }>
  return JSON.parse(content[0]?.text ?? '{}') as Record<string, string>
}

/** A headless authorization code client: its "browser" is `completeAuthorization`. */
class CodeFlowProvider implements OAuthClientProvider {
  #tokens: OAuthTokens | undefined
  #verifier = ''
  code: { code: string; iss?: string } | undefined
  get redirectUrl() {
    return CODE_CLIENT.redirect
  }
  get clientMetadata() {
    return {
      client_name: 'portico-code-test',
      redirect_uris: [CODE_CLIENT.redirect],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }
  clientInformation(): OAuthClientInformationMixed {
    return { client_id: CODE_CLIENT.id }
  }
  tokens() {
    return this.#tokens
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier
  }
  codeVerifier() {
    return this.#verifier
  }
  async redirectToAuthorization(url: URL) {
    this.code = await completeAuthorization(url, CODE_CLIENT.redirect)
  }
}

describe('OAuth resource server: JWT access tokens from a real authorization server', () => {
  let server: AuthorizationServer
  let probe: Served
  let portico: RunningPortico

  before(async () => {
    server = await startAuthorizationServer()
    probe = await startProbeHttp()
    portico = await startPortico({
      upstream: probe.url,
      auth: { type: 'oauth', issuer: server.issuer, scopes_supported: ['mcp:tools'] },
    })
    server.allowResource(portico.url)
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
    await server?.close()
  })

  it('serves protected resource metadata naming Portico and its authorization server', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource',
    ]) {
      const response = await fetch(`${portico.origin}${path}`)
      assert.equal(response.status, 200, path)
      assert.deepEqual(await response.json(), {
        resource: portico.url,
        authorization_servers: [server.issuer],
        bearer_methods_supported: ['header'],
        scopes_supported: ['mcp:tools'],
      })
    }
    const challenge = await fetch(portico.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    })
    assert.equal(challenge.status, 401)
    const browser = await fetch(portico.url, {
      method: 'POST',
      headers: {
        origin: 'http://localhost:6274',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    })
    await browser.body?.cancel()
    assert.equal(browser.status, 401)
    assert.equal(browser.headers.get('access-control-allow-origin'), 'http://localhost:6274')
    assert.equal(browser.headers.get('access-control-expose-headers'), 'WWW-Authenticate')
    assert.equal(
      challenge.headers.get('www-authenticate'),
      `Bearer resource_metadata="${portico.origin}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`,
    )
  })

  it('client credentials: the SDK v2 client discovers, gets a token for Portico and calls', async () => {
    const provider = new ClientCredentialsProvider({
      clientId: MCP_CLIENT.id,
      clientSecret: MCP_CLIENT.secret,
      expectedIssuer: server.issuer,
    })
    const client = new ClientV2({ name: 'cc-client', version: '1.0.0' })
    await client.connect(new TransportV2(new URL(portico.url), { authProvider: provider }))
    const headers = await upstreamHeaders(client)
    // oidc-provider names the client as the subject of a client credentials token.
    assert.equal(headers['x-user-id'], MCP_CLIENT.id)
    assert.equal(headers.authorization, undefined, 'the client token never reaches the upstream')
    await client.close()
    await portico.sink.waitFor((events) =>
      events.some((e) => e.type === 'exchange' && e.name === 'headers' && e.subject !== undefined),
    )
    const call = portico.sink.exchanges().find((e) => e.name === 'headers') as ExchangeEvent
    assert.equal(call.subject, MCP_CLIENT.id)
    assert.equal(call.authClient, MCP_CLIENT.id)
    const refusals = portico.sink.exchanges().filter((e) => e.httpStatus === 401)
    assert.ok(refusals.length >= 1, 'the first unauthenticated request was refused and recorded')
    assert.ok(refusals.every((e) => e.reason === 'unauthorized' && e.subject === undefined))
  })

  it('authorization code with PKCE: the user signs in and the upstream sees the user', async () => {
    const provider = new CodeFlowProvider()
    const first = new TransportV2(new URL(portico.url), { authProvider: provider })
    const client = new ClientV2({ name: 'code-client', version: '1.0.0' })
    await assert.rejects(client.connect(first), UnauthorizedError)
    assert.ok(provider.code, 'the authorization server issued a code')
    await first.finishAuth(provider.code.code, provider.code.iss)
    const signedIn = new ClientV2({ name: 'code-client', version: '1.0.0' })
    await signedIn.connect(new TransportV2(new URL(portico.url), { authProvider: provider }))
    const headers = await upstreamHeaders(signedIn)
    assert.equal(headers['x-user-id'], server.user)
    await signedIn.close()
  })
})

describe('OAuth resource server: opaque tokens checked by introspection (RFC 7662)', () => {
  let server: AuthorizationServer
  let probe: Served
  let portico: RunningPortico

  before(async () => {
    server = await startAuthorizationServer({ format: 'opaque' })
    probe = await startProbeHttp()
    portico = await startPortico({
      upstream: probe.url,
      auth: {
        type: 'oauth',
        issuer: server.issuer,
        token_validation: 'introspection',
        client_id: RESOURCE_SERVER.id,
        client_secret: RESOURCE_SERVER.secret,
        required_scopes: ['mcp:tools'],
      },
    })
    server.allowResource(portico.url)
  })
  after(async () => {
    await portico?.close()
    await probe?.close()
    await server?.close()
  })

  it('the SDK v2 client calls with an opaque token Portico introspects', async () => {
    const provider = new ClientCredentialsProvider({
      clientId: MCP_CLIENT.id,
      clientSecret: MCP_CLIENT.secret,
      expectedIssuer: server.issuer,
    })
    const client = new ClientV2({ name: 'opaque-client', version: '1.0.0' })
    await client.connect(new TransportV2(new URL(portico.url), { authProvider: provider }))
    const token = (await provider.tokens())?.access_token ?? ''
    assert.equal(token.split('.').length, 1, 'the token is opaque')
    const headers = await upstreamHeaders(client)
    assert.equal(headers['x-user-id'], `client:${MCP_CLIENT.id}`)
    await client.close()
  })

  it('refuses a token without the required scope with 403 insufficient_scope', async () => {
    const token = await server.clientCredentials(portico.url, 'mcp:read')
    const response = await fetch(portico.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    })
    assert.equal(response.status, 403)
    assert.match(response.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/)
    assert.match(response.headers.get('www-authenticate') ?? '', /scope="mcp:tools"/)
  })
})
