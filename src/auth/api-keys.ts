/**
 * Static credentials: mcp-proxy's `tokens` and `scoped_tokens`, Portico's named `api_keys`,
 * and `[security] admin_token`. Keys are held as SHA-256 digests and looked up by the digest
 * of what the client sent, so a lookup takes the same time whatever prefix matches and the
 * configured secrets are not kept as strings the process could print.
 */
import { createHash } from 'node:crypto'
import { ADMIN_PRINCIPAL, type AuthConfig } from '../config/auth.ts'
import type { Identity } from '../pipeline/identity.ts'
import type { IdentityBuilder } from './identity.ts'

/** Synthetic role name of a scoped token (its allow/deny lists become that role). */
export function scopedRoleName(index: number): string {
  return `token:${index}`
}

export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url')
}

/** What tells an unnamed token's principal from the others: part of its digest, not its place. */
function principalOf(token: string): string {
  return `digest:${digest(token).slice(0, 22)}`
}

/**
 * The digest of the key each static identity stands for: a reload builds new identities, and a
 * stream admitted by an old one is judged by whether its key is still configured (`admits`).
 */
const DIGEST_OF = new WeakMap<Identity, string>()

export class StaticKeys {
  readonly #byDigest = new Map<string, Identity>()

  constructor(
    auth: AuthConfig | undefined,
    adminToken: string | undefined,
    build: IdentityBuilder,
  ) {
    const add = (secret: string, identity: Identity) => {
      const hashed = digest(secret)
      this.#byDigest.set(hashed, identity)
      DIGEST_OF.set(identity, hashed)
    }
    if (auth !== undefined) {
      // A token without a name is shown by its place in the list, and is the principal of its
      // own digest: named by its place, the tokens after one removed took over its sessions,
      // its stdio processes and its limits.
      for (const [i, token] of auth.tokens.entries()) {
        add(token, build.fromKey(`token-${i}`, 'api_key', [], false, principalOf(token)))
      }
      auth.scoped_tokens.forEach((scoped, i) => {
        const roles = [scopedRoleName(i)]
        const identity =
          scoped.name === undefined
            ? build.fromKey(`scoped-token-${i}`, 'api_key', roles, false, principalOf(scoped.token))
            : build.fromKey(scoped.name, 'api_key', roles, false)
        add(scoped.token, identity)
      })
      for (const key of auth.api_keys) {
        add(key.key, build.fromKey(key.name, 'api_key', key.roles, key.admin))
      }
    }
    if (adminToken !== undefined) {
      add(adminToken, build.fromKey(ADMIN_PRINCIPAL, 'admin_token', [], true))
    }
  }

  get size(): number {
    return this.#byDigest.size
  }

  /** The identity of a configured key, or undefined. */
  lookup(token: string): Identity | undefined {
    return this.#byDigest.get(digest(token))
  }

  /**
   * Whether an identity admitted earlier would be admitted now: a static key's only while that
   * key is configured; any other identity (a token an authorization server issued) is not
   * judged here.
   */
  admits(identity: Identity): boolean {
    const hashed = DIGEST_OF.get(identity)
    return hashed === undefined || this.#byDigest.has(hashed)
  }
}
