/**
 * Keeps an upstream's own OAuth working behind Portico: URLs naming the upstream's origin in
 * OAuth metadata documents and in `WWW-Authenticate` challenges are rewritten to Portico's
 * public origin, because clients check that the protected resource matches the URL they
 * dialled.
 */
import type { HeaderMap } from '../http/headers.ts'

export function mapOrigin(text: string, upstreamOrigin: string, publicOrigin: string): string {
  if (upstreamOrigin === publicOrigin || !text.includes(upstreamOrigin)) return text
  return text.split(upstreamOrigin).join(publicOrigin)
}

/** Rewrites `WWW-Authenticate` in place; returns the headers for chaining. */
export function mapChallenge(
  headers: HeaderMap,
  upstreamOrigin: string,
  publicOrigin: string,
): HeaderMap {
  const value = headers['www-authenticate']
  if (value === undefined) return headers
  headers['www-authenticate'] = Array.isArray(value)
    ? value.map((v) => mapOrigin(v, upstreamOrigin, publicOrigin))
    : mapOrigin(value, upstreamOrigin, publicOrigin)
  return headers
}

/** OAuth discovery documents whose bodies name the resource and authorization servers. */
export function isOAuthMetadataPath(pathname: string): boolean {
  return (
    pathname.startsWith('/.well-known/oauth-protected-resource') ||
    pathname.startsWith('/.well-known/oauth-authorization-server') ||
    pathname.startsWith('/.well-known/openid-configuration')
  )
}
