/**
 * The in-thread JWS signature check (src/auth/jws.ts) against tokens jose signs: every
 * allowlisted algorithm verifies, a tampered payload or signature does not, a key of the wrong
 * type for the algorithm never verifies, nor an RSA key under 2048 bits, and malformed compact
 * forms are not parsed.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, it } from 'node:test'
import { CompactSign } from 'jose'
import { compactParts, verifySignature } from '../../src/auth/jws.ts'

async function signed(alg: string, key: Parameters<CompactSign['sign']>[0]): Promise<string> {
  return new CompactSign(new TextEncoder().encode('{"sub":"alice"}'))
    .setProtectedHeader({ alg })
    .sign(key)
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')

describe('JWS signature check', () => {
  it('verifies each algorithm with its key and refuses tampering', async () => {
    const cases = [
      ['RS256', rsa],
      ['PS256', rsa],
      ['ES256', ec],
      ['EdDSA', ed],
    ] as const
    for (const [alg, pair] of cases) {
      const token = await signed(alg, pair.privateKey)
      const parts = compactParts(token)
      assert.ok(parts, alg)
      assert.ok(verifySignature(parts, alg, pair.publicKey), alg)
      const tampered = compactParts(
        token.replace(/\.[^.]+\./, `.${Buffer.from('{"sub":"root"}').toString('base64url')}.`),
      )
      assert.ok(
        tampered && !verifySignature(tampered, alg, pair.publicKey),
        `${alg} tampered payload`,
      )
    }
  })

  it('never verifies with a key of the wrong type, a short RSA key or an unknown algorithm', async () => {
    const token = compactParts(await signed('RS256', rsa.privateKey))
    assert.ok(token)
    assert.ok(!verifySignature(token, 'ES256', ec.publicKey))
    assert.ok(!verifySignature(token, 'RS256', ec.publicKey))
    assert.ok(!verifySignature(token, 'HS256', rsa.publicKey))
    assert.ok(
      !verifySignature(token, 'RS256', rsa.privateKey),
      'a private key is not a verification key',
    )
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const weak = compactParts(await signed('RS256', short.privateKey).catch(() => 'x.y.z'))
    if (weak) assert.ok(!verifySignature(weak, 'RS256', short.publicKey))
  })

  it('parses only compact JWS', () => {
    for (const bad of [
      '',
      'a',
      'a.b',
      'a.b.c.d',
      '.b.c',
      'a..c',
      'a+.b.c',
      `${Buffer.from('[1]').toString('base64url')}.b.c`,
    ]) {
      assert.equal(compactParts(bad), undefined, bad)
    }
    assert.ok(compactParts(`${Buffer.from('{"alg":"none"}').toString('base64url')}.e30.`))
  })
})
