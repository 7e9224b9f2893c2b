/**
 * Origin validation against DNS rebinding (MCP transport security): requests without an
 * Origin and from localhost origins are allowed; `allowed_origins` adds more ("*" = any).
 */

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

export type OriginCheck = (origin: string | undefined) => boolean

export function originCheck(allowed: readonly string[]): OriginCheck {
  if (allowed.includes('*')) return () => true
  const exact = new Set(allowed.map(normalizeOrigin))
  return (origin) => {
    if (origin === undefined) return true
    if (exact.has(normalizeOrigin(origin))) return true
    return isLocalOrigin(origin)
  }
}

export function isLocalOrigin(origin: string): boolean {
  if (!URL.canParse(origin)) return false
  const url = new URL(origin)
  return (url.protocol === 'http:' || url.protocol === 'https:') && LOCAL_HOSTS.has(url.hostname)
}

function normalizeOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase()
}
