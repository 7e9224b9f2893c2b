/**
 * The defaults of Portico's configurable paths, in one place: the schema applies them, and the
 * check of overlapping paths (paths.ts) blames a path someone chose over one left as it was.
 */
export const DEFAULT_PATHS = {
  mcp: '/mcp',
  sse: '/sse',
  metrics: '/metrics',
  dashboard: '/_portico/',
} as const
