/**
 * An upstream's own OAuth through Portico: the SDK v1 client discovers the protected
 * resource metadata via Portico (its `resource` must name Portico, the URL the client
 * dialled), registers, authorizes and gets a token from the upstream's authorization server,
 * and then calls a protected tool through Portico with the token.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type {
  OAuthClientInformationMixed,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js'
import { type OAuthUpstream, startOAuthUpstream } from '../fixtures/oauth-upstream.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** A headless OAuth client: "visits" the authorization URL itself and keeps the code. */
class HeadlessProvider implements OAuthClientProvider {
  #client: OAuthClientInformationMixed | undefined
  #tokens: OAuthTokens | undefined
  #verifier = ''
  code: string | undefined
  readonly redirectUrl = 'http://127.0.0.1:1/callback'
  get clientMetadata() {
    return {
      client_name: 'portico-oauth-test',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }
  }
  clientInformation() {
    return this.#client
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info
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
    const response = await fetch(url, { redirect: 'manual' })
    const location = response.headers.get('location')
    this.code = location ? (new URL(location).searchParams.get('code') ?? undefined) : undefined
  }
}

describe("an upstream's own OAuth through Portico", () => {
  let upstream: OAuthUpstream
  let portico: RunningPortico

  before(async () => {
    upstream = await startOAuthUpstream()
    portico = await startPortico({ upstream: upstream.mcpUrl })
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
  })

  it('rewrites the protected resource metadata and the challenge to name Portico', async () => {
    const challenge = await fetch(portico.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    })
    assert.equal(challenge.status, 401)
    assert.match(
      challenge.headers.get('www-authenticate') ?? '',
      new RegExp(`resource_metadata="${portico.origin}/.well-known/oauth-protected-resource/mcp"`),
    )
    const metadata = (await (
      await fetch(`${portico.origin}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as { resource: string; authorization_servers: string[] }
    assert.equal(metadata.resource, portico.url)
    assert.deepEqual(metadata.authorization_servers, [upstream.authUrl])
  })

  it('completes the authorization code flow and calls a protected tool through Portico', async () => {
    const provider = new HeadlessProvider()
    const first = new StreamableHTTPClientTransport(new URL(portico.url), {
      authProvider: provider,
    })
    const client = new Client({ name: 'oauth-client', version: '1.0.0' })
    await assert.rejects(client.connect(first), UnauthorizedError)
    assert.ok(provider.code, 'the authorization server issued a code')
    await first.finishAuth(provider.code)
    const authed = new Client({ name: 'oauth-client', version: '1.0.0' })
    await authed.connect(
      new StreamableHTTPClientTransport(new URL(portico.url), { authProvider: provider }),
    )
    const result = await authed.callTool({ name: 'whoami', arguments: {} })
    assert.match(JSON.stringify(result.content), /client [\w-]+/)
    await authed.close()
  })
})

describe("an upstream's own OAuth behind a TLS proxy Portico trusts", () => {
  it('names the origin the client used (X-Forwarded-Proto and -Host), not http://', async () => {
    const upstream = await startOAuthUpstream()
    const portico = await startPortico({
      upstream: upstream.mcpUrl,
      allowed_hosts: ['mcp.example.com'],
      security: { trusted_proxies: ['127.0.0.1'] },
    })
    try {
      const { port } = new URL(portico.origin)
      // What the proxy sends: the public Host, and the scheme and host the client used.
      const headers = {
        host: 'mcp.example.com',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'mcp.example.com',
      }
      const metadata = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/.well-known/oauth-protected-resource/mcp',
            headers,
          },
          (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              body += chunk
            })
            res.on('end', () => resolve(body))
          },
        )
        req.on('error', reject)
        req.end()
      })
      // It said http://mcp.example.com/mcp, which an SDK client at https:// refuses.
      assert.equal(
        (JSON.parse(metadata) as { resource: string }).resource,
        'https://mcp.example.com/mcp',
      )
    } finally {
      await portico.close()
      await upstream.close()
    }
  })
})
