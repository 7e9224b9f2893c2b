/**
 * Authorization server metadata discovery (RFC 8414, then OpenID Connect Discovery), for
 * `type = "oauth"` and mcpr's `authorization_servers`: where the JWKS and the introspection
 * endpoint are, unless configured. The document's `issuer` must be the configured one (RFC 8414
 * §3.3), so a metadata document cannot redirect validation to another issuer's keys.
 */
import { fetchText } from '../http/fetched.ts'

export interface ServerMetadata {
  issuer: string
  jwks_uri?: string
  introspection_endpoint?: string
}

const TIMEOUT_MS = 5000
const MAX_BYTES = 256 * 1024

/** The well-known URLs to try for an issuer, in the order MCP clients use (2025-11-25). */
export function metadataUrls(issuer: string): URL[] {
  const url = new URL(issuer)
  const path = url.pathname.replace(/\/+$/, '')
  if (path === '') {
    return [
      new URL('/.well-known/oauth-authorization-server', url),
      new URL('/.well-known/openid-configuration', url),
    ]
  }
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, url),
    new URL(`/.well-known/openid-configuration${path}`, url),
    new URL(`${path}/.well-known/openid-configuration`, url),
  ]
}

/** Fetches the issuer's metadata; rejects with a message naming what was tried. */
export async function discover(issuer: string): Promise<ServerMetadata> {
  const tried: string[] = []
  for (const url of metadataUrls(issuer)) {
    const found = await fetchMetadata(url).catch((error: unknown) => {
      tried.push(`${url.href} (${error instanceof Error ? error.message : String(error)})`)
      return undefined
    })
    if (found === undefined) continue
    if (sameIssuer(found.issuer, issuer)) return found
    tried.push(`${url.href} (names issuer ${JSON.stringify(found.issuer)})`)
  }
  throw new Error(`authorization server metadata for ${issuer} not found: ${tried.join('; ')}`)
}

async function fetchMetadata(url: URL): Promise<ServerMetadata> {
  const { response, text } = await fetchText(
    url,
    { headers: { accept: 'application/json' }, redirect: 'error' },
    { maxBytes: MAX_BYTES, timeoutMs: TIMEOUT_MS },
  )
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('not a JSON object')
  }
  const doc = value as Record<string, unknown>
  const metadata: ServerMetadata = { issuer: typeof doc.issuer === 'string' ? doc.issuer : '' }
  if (typeof doc.jwks_uri === 'string') metadata.jwks_uri = doc.jwks_uri
  if (typeof doc.introspection_endpoint === 'string') {
    metadata.introspection_endpoint = doc.introspection_endpoint
  }
  return metadata
}

/** Issuers compare as strings, allowing only a trailing-slash difference. */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
}
