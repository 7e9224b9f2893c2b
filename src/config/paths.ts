/**
 * Portico's paths on the main listener may not overlap: the router answers `mcp_path` before
 * anything else, so `mcp_path = "/metrics"` would silently take the metrics' place (and the
 * health probes', the admin API's, the dashboard's), and one equal to `sse_path` would make the
 * legacy stream unreachable; a metrics `path` of `/healthz` was never served (the probe answers
 * first), and one of `/` took every path but MCP's. Each configurable path is checked against
 * all the others, and the problem is named at the key that set it (the one changed from its
 * default, when only one of the two was).
 */
import type { z } from 'zod'
import { isUpstreamAuthPath } from '../http/route-key.ts'
import { DEFAULT_PATHS } from './default-paths.ts'
import { adminPlacement } from './operate.ts'

interface PathsView {
  mcp_path: string
  sse_path: string
  host: string
  admin_bind?: string | undefined
  admin: { enabled: boolean }
  observability: { metrics: { enabled: boolean; path: string } }
  dashboard?: { enabled: boolean; path: string }
  /** Transparent mode's upstream (its OAuth paths are its own); a gateway has none. */
  upstream?: string | undefined
}

interface OwnPath {
  path: string
  /** Every path under it is its own (a mount whose path ends in `/`, as the router has it). */
  prefix: boolean
  what: string
  /** The config key that sets it (fixed paths have none). */
  key?: string[]
  /** Set to something else than its default: the likelier one to change. */
  chosen?: boolean
}

/**
 * Portico's paths on the main listener, the configurable ones first, in the order they are
 * blamed when two of them overlap (the MCP endpoint's is the one most often chosen).
 */
function ownPaths(config: PathsView): OwnPath[] {
  const own: OwnPath[] = [
    {
      path: config.mcp_path,
      prefix: false,
      what: 'the MCP endpoint',
      key: ['mcp_path'],
      chosen: config.mcp_path !== DEFAULT_PATHS.mcp,
    },
  ]
  const { metrics } = config.observability
  if (metrics.enabled) {
    own.push({
      path: metrics.path,
      prefix: metrics.path.endsWith('/'),
      what: 'the Prometheus metrics',
      key: ['observability', 'metrics', 'path'],
      chosen: metrics.path !== DEFAULT_PATHS.metrics,
    })
  }
  if (config.dashboard?.enabled) {
    const path = config.dashboard.path
    const chosen = path !== DEFAULT_PATHS.dashboard
    own.push({ path, prefix: true, what: 'the dashboard', key: ['dashboard', 'path'], chosen })
  }
  own.push(
    {
      path: config.sse_path,
      prefix: false,
      what: 'sse_path (the legacy HTTP+SSE stream)',
      key: ['sse_path'],
      chosen: config.sse_path !== DEFAULT_PATHS.sse,
    },
    { path: '/healthz', prefix: false, what: 'the health probe' },
    { path: '/readyz', prefix: false, what: 'the readiness probe' },
    { path: '/version', prefix: false, what: 'the version probe' },
  )
  const admin = adminPlacement({ ...config, admin: { enabled: config.admin.enabled } })
  if (admin !== undefined && 'main' in admin)
    own.push({ path: '/admin/', prefix: true, what: 'the admin API' })
  return own
}

/** Whether `wider` is a prefix that takes `other` (or `other` without its last `/`). */
function within(wider: OwnPath, other: OwnPath): boolean {
  if (!wider.prefix) return false
  return other.path.startsWith(wider.path) || other.path === wider.path.slice(0, -1)
}

export function refinePaths(config: PathsView, ctx: z.RefinementCtx): void {
  const own = ownPaths(config)
  for (const path of config.upstream === undefined ? [] : own) {
    // A prefix Portico would take from the upstream's OAuth (`/.well-known/`, `/oauth/`,
    // `/token/`): its clients discover and get tokens there, so it always goes upstream.
    if (path.key === undefined || !path.chosen) continue
    if (isUpstreamAuthPath(path.path) || (path.prefix && isUpstreamAuthPath(`${path.path}x`))) {
      ctx.addIssue({
        code: 'custom',
        path: path.key,
        message: `${path.path} is where the upstream's own OAuth lives (its discovery and token endpoints always go to it): choose another path for ${path.what}`,
      })
      return
    }
  }
  for (const [index, first] of own.entries()) {
    for (const second of own.slice(index + 1)) {
      const problem = overlap(first, second)
      if (problem === undefined) continue
      ctx.addIssue({ code: 'custom', path: problem.key, message: problem.message })
      return
    }
  }
}

/** The key to blame and why, when `first` and `second` overlap (`first` comes earlier). */
function overlap(first: OwnPath, second: OwnPath): { key: string[]; message: string } | undefined {
  const exact = first.path === second.path
  if (!exact && !within(first, second) && !within(second, first)) return undefined
  // The path someone chose over one left at its default (or fixed), else the earlier one.
  const blamed = second.chosen === true && first.chosen !== true ? second : first
  const other = blamed === first ? second : first
  if (blamed.key === undefined) return undefined // two fixed paths never overlap
  const message = exact
    ? `${blamed.path} is Portico's path for ${other.what}: choose another`
    : `${blamed.path} overlaps Portico's path for ${other.what} (${other.path}): choose another`
  return { key: blamed.key, message }
}
