/**
 * Who may register which subdomain, in mcpr's three modes, by priority: static tokens
 * (`[[relay.tokens]]`), an auth provider (`POST <auth_provider>/api/verify` with
 * `{token, subdomain}` and `X-Relay-Secret`), else open (any token; the subdomain asked for,
 * else one derived from the token, stable across restarts). Tokens are compared by their
 * SHA-256 in constant time and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { SUBDOMAIN } from '../config/tunnel.ts'
import { fetchText } from '../http/fetched.ts'

export type AuthMode = 'open' | 'static' | 'provider'

export interface RelayAuthOptions {
  mode: AuthMode
  tokens?: ReadonlyArray<{ token: string; subdomains: readonly string[] }>
  provider?: { url: string; secret?: string }
  /** The provider's time to answer (mcpr: 5 s). */
  providerTimeoutMs?: number
}

/**
 * A registration's verdict. `unavailable`: the auth provider could not say (down, an error, a
 * malformed answer): the tunnel is told to try again later, not refused for good (a provider's
 * short outage while tunnels reconnect after a relay restart ended them all until restarted).
 */
export type AuthResult =
  | { ok: true; subdomain: string }
  | { ok: false; message: string; unavailable?: true }

const UNAVAILABLE = { ok: false, message: 'auth provider unavailable', unavailable: true } as const

/** mcpr's pattern: one `*` as a wildcard (prefix, suffix or infix); `*` alone matches all. */
export function matchesPattern(pattern: string, name: string): boolean {
  const parts = pattern.split('*')
  if (parts.length === 1) return pattern === name
  if (parts.length > 2) return false
  const [head, tail] = parts as [string, string]
  return name.length >= head.length + tail.length && name.startsWith(head) && name.endsWith(tail)
}

/** The requested subdomain when allowed, else the one concrete allowed entry, else a refusal. */
export function pickSubdomain(
  patterns: readonly string[],
  requested: string | undefined,
): AuthResult {
  if (requested !== undefined) {
    if (patterns.some((p) => matchesPattern(p, requested)))
      return { ok: true, subdomain: requested }
    return { ok: false, message: `subdomain '${requested}' not authorized for this token` }
  }
  const concrete = patterns.filter((p) => !p.includes('*') && SUBDOMAIN.test(p))
  if (concrete.length === 1) return { ok: true, subdomain: concrete[0] as string }
  return {
    ok: false,
    message: `choose a subdomain ([tunnel] subdomain); this token allows: ${patterns.join(', ')}`,
  }
}

/** What the auth provider's answer may weigh (a verdict and a few subdomains). */
const MAX_PROVIDER_ANSWER = 64 * 1024

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

export class RelayAuth {
  readonly mode: AuthMode
  readonly #tokens: Array<{ hash: Buffer; subdomains: readonly string[] }>
  readonly #options: RelayAuthOptions

  constructor(options: RelayAuthOptions) {
    this.mode = options.mode
    this.#options = options
    this.#tokens = (options.tokens ?? []).map((t) => ({
      hash: digest(t.token),
      subdomains: t.subdomains,
    }))
  }

  async authorize(token: string, requested: string | undefined): Promise<AuthResult> {
    if (requested !== undefined && !SUBDOMAIN.test(requested)) {
      return { ok: false, message: 'invalid subdomain: expected one lowercase DNS label' }
    }
    if (this.mode === 'static') return this.#static(token, requested)
    if (this.mode === 'provider') return this.#provider(token, requested)
    return {
      ok: true,
      subdomain: requested ?? digest(token).subarray(0, 6).toString('hex'),
    }
  }

  #static(token: string, requested: string | undefined): AuthResult {
    const hash = digest(token)
    // Every entry is compared, so the time taken says nothing about which one matched.
    let found: readonly string[] | undefined
    for (const entry of this.#tokens) {
      if (timingSafeEqual(entry.hash, hash)) found ??= entry.subdomains
    }
    if (found === undefined) return { ok: false, message: 'invalid token' }
    return pickSubdomain(found, requested)
  }

  async #provider(token: string, requested: string | undefined): Promise<AuthResult> {
    const provider = this.#options.provider
    if (provider === undefined) return UNAVAILABLE
    const url = `${provider.url.replace(/\/+$/, '')}/api/verify`
    try {
      const { response, text } = await fetchText(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(provider.secret === undefined ? {} : { 'x-relay-secret': provider.secret }),
          },
          body: JSON.stringify({ token, subdomain: requested ?? '' }),
        },
        { maxBytes: MAX_PROVIDER_ANSWER, timeoutMs: this.#options.providerTimeoutMs ?? 5000 },
      )
      const body = parseObject(text)
      if (response.status === 200) {
        const subdomains = body?.subdomains
        if (!Array.isArray(subdomains) || !subdomains.every((s) => typeof s === 'string')) {
          return UNAVAILABLE
        }
        return pickSubdomain(subdomains as string[], requested)
      }
      if (response.status === 401 || response.status === 403) {
        const error = typeof body?.error === 'string' ? body.error.slice(0, 100) : 'invalid token'
        return { ok: false, message: error }
      }
      return UNAVAILABLE
    } catch {
      return UNAVAILABLE
    }
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
