/**
 * What building Portico from a config would refuse, without starting anything (no listener, no
 * backend process). `portico check`, `portico run`, `PUT /admin/config` and
 * `POST /admin/config/validate` share it, so a file one of them accepts does not fail when it
 * is applied: the schema alone cannot see a `re:` pattern that compiles alone but not beside
 * the others, a missing widgets folder or a CSP that does not build.
 */
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Config } from '../config/schema.ts'
import { cspFromConfig } from '../csp/setup.ts'
import { BackendCatalog } from '../gateway/catalog.ts'
import { isWidgetsFolder } from '../widgets/static.ts'

export function preflight(config: Config): string[] {
  const problems: string[] = []
  if (!config.upstream && !config.backends?.length) {
    problems.push('no upstream: set `upstream` (or `mcp`) or list [[backends]]')
  }
  if (isWidgetsFolder(config.widgets)) {
    const info = statSync(resolve(config.widgets), { throwIfNoEntry: false })
    if (!info?.isDirectory()) problems.push(`widgets: ${config.widgets} is not a folder`)
  }
  try {
    cspFromConfig(config)
  } catch (error) {
    problems.push(`csp: ${messageOf(error)}`)
  }
  for (const backend of config.backends ?? []) {
    try {
      new BackendCatalog(backend, config.proxy.separator)
    } catch (error) {
      problems.push(`backends.${backend.name}: ${messageOf(error)}`)
    }
  }
  return problems
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
