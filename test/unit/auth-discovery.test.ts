/**
 * auth/discovery: the URLs an issuer's metadata names are held to what `[auth]` keys are (an
 * absolute http(s) URL without credentials) before Portico fetches them or logs them.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { discover } from '../../src/auth/discovery.ts'

describe('authorization server metadata discovery', () => {
  let server: Server
  let issuer: string
  /** What the metadata names as its key set, per test. */
  let jwksUri: unknown

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ issuer, jwks_uri: jwksUri }))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => server.close())

  it('takes an absolute http(s) key set URL', async () => {
    jwksUri = `${issuer}/jwks`
    assert.equal((await discover(issuer)).jwks_uri, `${issuer}/jwks`)
  })

  it('refuses a relative one, naming the key and the value (it was a bare "Invalid URL")', async () => {
    jwksUri = '/jwks'
    await assert.rejects(discover(issuer), /its jwks_uri "\/jwks" is not an absolute URL/)
  })

  it('refuses other schemes: data:, file:, ftp:', async () => {
    for (const uri of ['data:application/json,{"keys":[]}', 'file:///etc/passwd', 'ftp://x/j']) {
      jwksUri = uri
      await assert.rejects(discover(issuer), /its jwks_uri is not an http\(s\) URL/, uri)
    }
  })

  it('refuses credentials in it, and never says them', async () => {
    jwksUri = `http://jwksuser:Sup3rSecretPW@127.0.0.1:9/jwks`
    await assert.rejects(discover(issuer), (error: Error) => {
      assert.match(error.message, /carries credentials/)
      assert.doesNotMatch(error.message, /Sup3rSecretPW|jwksuser/)
      return true
    })
  })

  it('a key set URL that is not a string is no key set URL (the start then says it names none)', async () => {
    jwksUri = 42
    assert.equal((await discover(issuer)).jwks_uri, undefined)
  })
})
