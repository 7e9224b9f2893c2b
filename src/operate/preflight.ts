/**
 * What building Portico from a config would refuse, without starting anything (no listener, no
 * backend process). `portico check`, `portico run`, `PUT /admin/config` and
 * `POST /admin/config/validate` share it, so a file one of them accepts does not fail when it
 * is applied: the schema alone cannot see a `re:` pattern that compiles alone but not beside
 * the others, a missing widgets folder or a CSP that does not build. `preflightWarnings` is
 * the same for what is allowed but probably not meant.
 */
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { noUpstream } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { cspFromConfig } from '../csp/setup.ts'
import { BackendCatalog } from '../gateway/catalog.ts'
import { redactUrl } from '../util/redact.ts'
import { isWidgetsFolder } from '../widgets/static.ts'

export function preflight(config: Config): string[] {
  const problems: string[] = []
  const missing = noUpstream(config)
  if (missing !== undefined) problems.push(missing)
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

/**
 * What a config that builds may still do that its author should know, as `portico check`
 * prints it and `createPortico` (so `portico run`) logs it: one list, so the two never drift.
 * (Check adds its own warnings about this machine: stdio backends that cannot start here.)
 */
export function preflightWarnings(config: Config): string[] {
  const warnings: string[] = []
  const tracing = config.observability.tracing
  if (tracing.enabled && new URL(tracing.endpoint).port === '4317') {
    warnings.push(
      `observability.tracing.endpoint ${redactUrl(tracing.endpoint)}: port 4317 is OTLP/gRPC's; Portico exports OTLP/HTTP (usually port 4318, e.g. http://localhost:4318)`,
    )
  }
  if (config.upstream && config.backends?.length) {
    warnings.push('upstream is not used in gateway mode ([[backends]] set): remove it')
  }
  return warnings
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
