/**
 * Keeps an upstream's own OAuth and redirects working behind Portico: URLs naming the
 * upstream's origin in OAuth metadata documents, `WWW-Authenticate` challenges and redirects
 * are rewritten to Portico's public origin, because clients check that the protected resource
 * matches the URL they dialled, and must never be sent past Portico.
 */
import type { HeaderMap } from '../http/headers.ts'

export function mapOrigin(text: string, upstreamOrigin: string, publicOrigin: string): string {
  if (upstreamOrigin === publicOrigin || !text.includes(upstreamOrigin)) return text
  return text.split(upstreamOrigin).join(publicOrigin)
}

/**
 * Rewrites, in place, the answer headers that name the upstream's origin: `WWW-Authenticate`
 * (anywhere in it), and `Location` / `Content-Location` when they start with it (a redirect to
 * the upstream itself, as nginx's `proxy_redirect default` does), so a client never learns or
 * follows the upstream's address. A redirect elsewhere is the upstream's to make and is passed
 * on. Returns the headers for chaining.
 */
export function mapOriginHeaders(
  headers: HeaderMap,
  upstreamOrigin: string,
  publicOrigin: string,
): HeaderMap {
  const challenge = headers['www-authenticate']
  if (challenge !== undefined) {
    headers['www-authenticate'] = Array.isArray(challenge)
      ? challenge.map((v) => mapOrigin(v, upstreamOrigin, publicOrigin))
      : mapOrigin(challenge, upstreamOrigin, publicOrigin)
  }
  for (const name of ['location', 'content-location']) {
    const value = headers[name]
    if (typeof value === 'string' && startsWithOrigin(value, upstreamOrigin)) {
      headers[name] = publicOrigin + value.slice(upstreamOrigin.length)
    }
  }
  return headers
}

/** `url` is the origin itself or a URL on it (not `http://host:80` matching `http://host:8080`). */
function startsWithOrigin(url: string, origin: string): boolean {
  if (!url.startsWith(origin)) return false
  const next = url.charAt(origin.length)
  return next === '' || next === '/' || next === '?' || next === '#'
}

/** OAuth discovery documents whose bodies name the resource and authorization servers. */
export function isOAuthMetadataPath(pathname: string): boolean {
  return (
    pathname.startsWith('/.well-known/oauth-protected-resource') ||
    pathname.startsWith('/.well-known/oauth-authorization-server') ||
    pathname.startsWith('/.well-known/openid-configuration')
  )
}
