/**
 * Authorization server metadata discovery (RFC 8414, then OpenID Connect Discovery), for
 * `type = "oauth"` and mcpr's `authorization_servers`: where the JWKS and the introspection
 * endpoint are, unless configured. The document's `issuer` must be the configured one (RFC 8414
 * §3.3), so a metadata document cannot redirect validation to another issuer's keys.
 */
import { fetchText } from '../http/fetched.ts'
import { redactUrl } from '../util/redact.ts'

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
    { headers: { accept: 'application/json' } },
    { maxBytes: MAX_BYTES, timeoutMs: TIMEOUT_MS },
  )
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('not a JSON object')
  }
  const doc = value as Record<string, unknown>
  const metadata: ServerMetadata = { issuer: typeof doc.issuer === 'string' ? doc.issuer : '' }
  const jwksUri = endpointOf(doc, 'jwks_uri')
  if (jwksUri !== undefined) metadata.jwks_uri = jwksUri
  const introspection = endpointOf(doc, 'introspection_endpoint')
  if (introspection !== undefined) metadata.introspection_endpoint = introspection
  return metadata
}

/**
 * A URL the metadata names for Portico to fetch, held to what `[auth]` keys are: an absolute
 * http(s) URL without credentials (they would be fetched without them, and logged). A relative
 * one stopped the start with a bare "Invalid URL"; `data:`, `file:` and `ftp:` ones were taken.
 */
function endpointOf(doc: Record<string, unknown>, key: string): string | undefined {
  const value = doc[key]
  if (typeof value !== 'string') return undefined
  if (!URL.canParse(value)) {
    const shown = value.includes('@') ? '' : ` ${JSON.stringify(value.slice(0, 200))}`
    throw new Error(`its ${key}${shown} is not an absolute URL`)
  }
  const url = new URL(value)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`its ${key} is not an http(s) URL (${url.protocol})`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(
      `its ${key} ${redactUrl(value)} carries credentials (user:password@): refused, as in [auth] keys`,
    )
  }
  return value
}

/** Issuers compare as strings, allowing only a trailing-slash difference. */
export function sameIssuer(a: string, b: string): boolean {
  return issuerKey(a) === issuerKey(b)
}

/** An issuer as it compares: without trailing slashes. */
export function issuerKey(issuer: string): string {
  return issuer.replace(/\/+$/, '')
}
