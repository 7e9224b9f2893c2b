/**
 * The MCP endpoint's path may not be one of Portico's own: the router answers `mcp_path` before
 * anything else, so `mcp_path = "/metrics"` would silently take the metrics' place (and the
 * health probes', the admin API's, the dashboard's), and one equal to `sse_path` would make the
 * legacy stream unreachable.
 */
import type { z } from 'zod'
import { adminPlacement } from './operate.ts'

interface PathsView {
  mcp_path: string
  sse_path: string
  host: string
  admin_bind?: string | undefined
  admin: { enabled: boolean }
  observability: { metrics: { enabled: boolean; path: string } }
  dashboard?: { enabled: boolean; path: string }
}

/** Portico's own paths on the main listener: exact ones, and prefixes (ending in `/`). */
function ownPaths(config: PathsView): Array<{ path: string; what: string }> {
  const own = [
    { path: config.sse_path, what: 'sse_path (the legacy HTTP+SSE stream)' },
    { path: '/healthz', what: 'the health probe' },
    { path: '/readyz', what: 'the readiness probe' },
    { path: '/version', what: 'the version probe' },
  ]
  if (config.observability.metrics.enabled)
    own.push({ path: config.observability.metrics.path, what: 'the Prometheus metrics' })
  const admin = adminPlacement({ ...config, admin: { enabled: config.admin.enabled } })
  if (admin !== undefined && 'main' in admin) own.push({ path: '/admin/', what: 'the admin API' })
  if (config.dashboard?.enabled) own.push({ path: config.dashboard.path, what: 'the dashboard' })
  return own
}

export function refinePaths(config: PathsView, ctx: z.RefinementCtx): void {
  const mcp = config.mcp_path
  for (const { path, what } of ownPaths(config)) {
    const taken = path.endsWith('/')
      ? mcp.startsWith(path) || mcp === path.slice(0, -1)
      : mcp === path
    if (!taken) continue
    ctx.addIssue({
      code: 'custom',
      path: ['mcp_path'],
      message: `${mcp} is Portico's path for ${what}: choose another`,
    })
    return
  }
}
