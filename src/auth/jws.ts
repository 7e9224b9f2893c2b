/**
 * The signature check of a compact JWS with node:crypto, synchronously. jose fetches, caches
 * and rotates the issuer's keys and selects the key for a token; its own signature check goes
 * through WebCrypto, whose thread-pool hop made a JWT cost about 240 µs at p50 on a loaded
 * 2-core machine against about 25 µs for the same RSA check in-thread (bench/auth.ts). So the
 * key jose selected is converted once to a KeyObject and checked here. Only the asymmetric
 * algorithms of the config's allowlist reach this; a key of the wrong type for the algorithm,
 * or an RSA key under 2048 bits, never verifies.
 */
import { constants, KeyObject, verify } from 'node:crypto'
import { lookupTable } from '../util/lookup-table.ts'

interface AlgorithmSpec {
  hash: string | null
  keyTypes: readonly string[]
  curve?: string
  padding?: number
  saltLength?: number
  dsaEncoding?: 'ieee-p1363'
}

const PSS = constants.RSA_PKCS1_PSS_PADDING

const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = lookupTable({
  RS256: { hash: 'sha256', keyTypes: ['rsa'] },
  RS384: { hash: 'sha384', keyTypes: ['rsa'] },
  RS512: { hash: 'sha512', keyTypes: ['rsa'] },
  PS256: { hash: 'sha256', keyTypes: ['rsa', 'rsa-pss'], padding: PSS, saltLength: 32 },
  PS384: { hash: 'sha384', keyTypes: ['rsa', 'rsa-pss'], padding: PSS, saltLength: 48 },
  PS512: { hash: 'sha512', keyTypes: ['rsa', 'rsa-pss'], padding: PSS, saltLength: 64 },
  ES256: { hash: 'sha256', keyTypes: ['ec'], curve: 'prime256v1', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', keyTypes: ['ec'], curve: 'secp384r1', dsaEncoding: 'ieee-p1363' },
  ES512: { hash: 'sha512', keyTypes: ['ec'], curve: 'secp521r1', dsaEncoding: 'ieee-p1363' },
  EdDSA: { hash: null, keyTypes: ['ed25519', 'ed448'] },
  Ed25519: { hash: null, keyTypes: ['ed25519'] },
})

const BASE64URL = /^[A-Za-z0-9_-]+$/

export interface CompactParts {
  header: Record<string, unknown>
  /** `header.payload`, the bytes the signature covers. */
  signingInput: string
  payload: string
  signature: Buffer
}

/** Splits and decodes a compact JWS; undefined when it is not one. */
export function compactParts(token: string): CompactParts | undefined {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined
  const head = token.slice(0, first)
  const body = token.slice(first + 1, second)
  const sig = token.slice(second + 1)
  // An empty signature parses (`alg: none`) so the algorithm check names why it is refused.
  if (!BASE64URL.test(head) || !BASE64URL.test(body) || !/^[A-Za-z0-9_-]*$/.test(sig)) {
    return undefined
  }
  const header = parseObject(Buffer.from(head, 'base64url').toString('utf8'))
  if (header === undefined) return undefined
  return {
    header,
    signingInput: token.slice(0, second),
    payload: body,
    signature: Buffer.from(sig, 'base64url'),
  }
}

/** A JSON object, or undefined for anything else. */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

const KEY_OBJECTS = new WeakMap<object, KeyObject>()

/** The node:crypto key of a WebCrypto key jose imported (converted once per key). */
export function keyObjectOf(key: unknown): KeyObject {
  if (key instanceof KeyObject) return key
  const cached = KEY_OBJECTS.get(key as object)
  if (cached !== undefined) return cached
  const converted = KeyObject.from(key as Parameters<typeof KeyObject.from>[0])
  KEY_OBJECTS.set(key as object, converted)
  return converted
}

/** Whether `signature` over `signingInput` verifies with `key` under `alg`. */
export function verifySignature(parts: CompactParts, alg: string, key: KeyObject): boolean {
  const spec = ALGORITHMS[alg]
  if (spec === undefined || key.type !== 'public') return false
  const type = key.asymmetricKeyType ?? ''
  if (!spec.keyTypes.includes(type)) return false
  const details = key.asymmetricKeyDetails
  if (spec.curve !== undefined && details?.namedCurve !== spec.curve) return false
  if (type.startsWith('rsa') && (details?.modulusLength ?? 0) < 2048) return false
  const input = Buffer.from(parts.signingInput)
  const options = {
    key,
    ...(spec.padding === undefined ? {} : { padding: spec.padding, saltLength: spec.saltLength }),
    ...(spec.dsaEncoding === undefined ? {} : { dsaEncoding: spec.dsaEncoding }),
  }
  try {
    return verify(spec.hash, input, options, parts.signature)
  } catch {
    return false
  }
}

export function isSupportedAlgorithm(alg: string): boolean {
  return Object.hasOwn(ALGORITHMS, alg)
}
