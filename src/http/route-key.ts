/**
 * A path as an upstream's router may read it: decoded, lower-cased, repeated and trailing
 * slashes dropped. Express and most frameworks route `/MCP`, `/mcp/` and `//mcp` to `/mcp`.
 * Used to keep MCP off other paths (transparent/mode.ts) and the upstream's OAuth with it
 * (isUpstreamAuthPath, which config/paths.ts also keeps Portico's own paths off).
 */
export function routeKey(path: string): string {
  let decoded = path
  try {
    decoded = decodeURIComponent(path)
  } catch {
    // Malformed escapes: compare the raw text.
  }
  // `;` starts a path parameter that servlet containers (Java MCP servers) drop: `/mcp;x` is
  // their `/mcp`.
  const key = decoded
    .toLowerCase()
    .replace(/;[^/]*/g, '')
    .replace(/\/{2,}/g, '/')
    .replace(/\/+$/, '')
  return key === '' ? '/' : key
}

/**
 * The paths of an MCP server's own OAuth (the SDK's auth router and common layouts): its
 * discovery documents and endpoints. With mcpr's `widgets` URL taking the other non-MCP
 * traffic, these still go to the upstream: its clients discover and get tokens there.
 */
export function isUpstreamAuthPath(pathname: string): boolean {
  // As a router reads it (route-key.ts: decoded, any case, no trailing slash):
  // `/TOKEN/` and `/%2Ewell-known/…` are the upstream's endpoints to an Express server.
  const path = routeKey(pathname)
  return (
    path.startsWith('/.well-known/') ||
    OAUTH_ENDPOINTS.has(path) ||
    path.startsWith('/oauth/') ||
    path.startsWith('/oauth2/')
  )
}

const OAUTH_ENDPOINTS: ReadonlySet<string> = new Set([
  '/authorize',
  '/token',
  '/register',
  '/revoke',
  '/introspect',
  '/userinfo',
  '/jwks',
  '/jwks.json',
])
