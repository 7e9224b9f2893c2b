/**
 * A stream that only listens lives as long as its token: a GET stream opened with a JWT that
 * expires is ended once the token is past `exp` (and the clock tolerance), in both modes; a
 * stream opened with a token still good stays open. Before, it went on carrying the server's
 * messages for as long as the connection lasted. A real issuer (JWKS over HTTP, jose-signed
 * tokens), a real SDK server behind a real Portico.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { type ConfigInput, createPortico, type Portico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { type CancelUpstream, startCancelUpstream } from '../fixtures/cancel-upstream.ts'
import { type JwtIssuer, startJwtIssuer } from '../fixtures/jwt-issuer.ts'
import { sessionStream, streamEnded } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { settlesWithin } from '../helpers/wait.ts'

/** Transparent mode before `upstream`, or gateway mode with it a backend. */
const MODES: Record<string, (upstream: string) => Partial<ConfigInput>> = {
  transparent: (upstream) => ({ upstream }),
  gateway: (upstream) => ({
    backends: [{ name: 'up', transport: 'http', url: upstream }],
    // Without an admin token, jwt auth in gateway mode needs the admin tools off.
    proxy: { admin_tools: false },
  }),
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

for (const [mode, modeConfig] of Object.entries(MODES))
  describe(`a GET stream opened with a token that expires (${mode} mode)`, () => {
    let issuer: JwtIssuer
    let upstream: CancelUpstream
    let portico: RunningPortico

    before(async () => {
      issuer = await startJwtIssuer('alice')
      upstream = await startCancelUpstream()
      portico = await startPortico({
        ...modeConfig(upstream.url),
        auth: { type: 'jwt', issuer: issuer.issuer, jwks_uri: issuer.jwksUri, clock_tolerance: 0 },
      } as ConfigInput)
    })
    after(async () => {
      await portico?.close()
      await upstream?.close()
      await issuer?.close()
    })

    it('ends it once the token expired; a stream with a token still good stays open', async () => {
      const soon = Math.floor(Date.now() / 1000) + 2
      const expiring = await sessionStream(
        portico.url,
        bearer(await issuer.sign(portico.url, { claims: { exp: soon } })),
      )
      const lasting = await sessionStream(portico.url, bearer(await issuer.sign(portico.url)))
      assert.equal(
        await settlesWithin(streamEnded(expiring), 8000, 'the expired token’s stream to end'),
        true,
      )
      const still = await Promise.race([streamEnded(lasting), delay(300).then(() => 'open')])
      assert.equal(still, 'open')
      await lasting.cancel()
    })
  })

describe('a GET stream that expires, with portico.handler mounted in your own server', () => {
  let issuer: JwtIssuer
  let upstream: CancelUpstream
  let portico: Portico
  let host: Server
  let url: string

  before(async () => {
    issuer = await startJwtIssuer('alice')
    upstream = await startCancelUpstream()
    const audience = 'https://mcp.example.test/mcp'
    const config = {
      upstream: upstream.url,
      access_log: false,
      store: { enabled: false },
      auth: { type: 'jwt', issuer: issuer.issuer, jwks_uri: issuer.jwksUri, clock_tolerance: 0 },
    }
    portico = createPortico({ ...config, auth: { ...config.auth, audience } } as ConfigInput, {
      logger: new Logger({ level: 'silent' }),
    })
    host = createServer(portico.handler)
    host.listen(0, '127.0.0.1')
    await once(host, 'listening')
    url = `http://127.0.0.1:${(host.address() as AddressInfo).port}/mcp`
  })
  after(async () => {
    host?.closeAllConnections()
    host?.close()
    await portico?.close()
    await upstream?.close()
    await issuer?.close()
  })

  it('ends it once the token expired, as `listen` does (the sweep runs without it)', async () => {
    const soon = Math.floor(Date.now() / 1000) + 2
    const token = await issuer.sign('https://mcp.example.test/mcp', { claims: { exp: soon } })
    const expiring = await sessionStream(url, bearer(token))
    // Before, it stayed open: the sweep only started in `listen`.
    assert.equal(
      await settlesWithin(streamEnded(expiring), 8000, 'the expired token’s stream to end'),
      true,
    )
  })
})
