/**
 * A path as an upstream's router may read it: decoded, lower-cased, repeated and trailing
 * slashes dropped. Express and most frameworks route `/MCP`, `/mcp/` and `//mcp` to `/mcp`.
 * Used to keep MCP off other paths (transparent/mode.ts) and the upstream's OAuth with it
 * (url-map.ts).
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
