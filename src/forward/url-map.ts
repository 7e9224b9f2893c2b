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
    if (typeof value !== 'string') continue
    const mapped = onPublicOrigin(value, upstreamOrigin, publicOrigin)
    if (mapped !== undefined) headers[name] = mapped
  }
  return headers
}

/** A base no answer names: what a relative reference resolves against to show it is one. */
const NOWHERE = 'http://relative.invalid/'

/**
 * A reference to the upstream's origin, moved to Portico's; undefined for any other (a relative
 * one stays relative: it resolves against Portico already). Judged as a client resolves it, by
 * the URL parser, not by its spelling: `//host:port/x`, `HTTP://HOST:port`, `http://u:p@host:port`
 * and `http:/\\host:port` all name the upstream, and a prefix test let them through.
 */
function onPublicOrigin(
  value: string,
  upstreamOrigin: string,
  publicOrigin: string,
): string | undefined {
  if (!URL.canParse(value, NOWHERE)) return undefined
  const url = new URL(value, NOWHERE)
  if (url.origin !== upstreamOrigin) return undefined
  return publicOrigin + url.pathname + url.search + url.hash
}

/** OAuth discovery documents whose bodies name the resource and authorization servers. */
export function isOAuthMetadataPath(pathname: string): boolean {
  return (
    pathname.startsWith('/.well-known/oauth-protected-resource') ||
    pathname.startsWith('/.well-known/oauth-authorization-server') ||
    pathname.startsWith('/.well-known/openid-configuration')
  )
}
