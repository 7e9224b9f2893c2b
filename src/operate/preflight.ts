/**
 * What building Portico from a config would refuse, without starting anything (no listener, no
 * backend process). `portico check`, `portico run`, `PUT /admin/config` and
 * `POST /admin/config/validate` share it, so a file one of them accepts does not fail when it
 * is applied: the schema alone cannot see a `re:` pattern that compiles alone but not beside
 * the others, a missing widgets folder or a CSP that does not build. `preflightWarnings` is
 * the same for what is allowed but probably not meant.
 */
import { existsSync, readFileSync, type Stats, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { adminPrefix } from '../config/gateway.ts'
import { noUpstream } from '../config/load.ts'
import { keyLocator } from '../config/locate.ts'
import type { Config } from '../config/schema.ts'
import { isYamlFile, parseYaml } from '../config/yaml.ts'
import { cspFromConfig } from '../csp/setup.ts'
import { BackendCatalog } from '../gateway/catalog.ts'
import { defaultStorePath } from '../store/open.ts'
import { redactUrl } from '../util/redact.ts'
import { isWidgetsFolder } from '../widgets/static.ts'

export interface PreflightOptions {
  /**
   * Whether to check the store's folder (`check`): `run` opens the store itself and says so
   * then, naming `--db` or the file's key as it was given.
   */
  store?: boolean
}

/** A problem preflight found: the key as shown, its path in the file (to find its line). */
export interface PreflightProblem {
  key: string
  path: PropertyKey[]
  message: string
}

export function preflightProblems(
  config: Config,
  options: PreflightOptions = {},
): PreflightProblem[] {
  const problems: PreflightProblem[] = []
  const missing = noUpstream(config)
  if (missing !== undefined) problems.push({ key: '', path: [], message: missing })
  if (isWidgetsFolder(config.widgets)) {
    const info = statSync(resolve(config.widgets), { throwIfNoEntry: false })
    if (!info?.isDirectory()) {
      problems.push({
        key: 'widgets',
        path: ['widgets'],
        message: `${config.widgets} is not a folder`,
      })
    }
  }
  const storePath = options.store === false ? undefined : storePathProblem(config)
  if (storePath !== undefined) problems.push(storePath)
  try {
    cspFromConfig(config)
  } catch (error) {
    problems.push({ key: 'csp', path: ['csp'], message: messageOf(error) })
  }
  for (const [index, backend] of (config.backends ?? []).entries()) {
    try {
      new BackendCatalog(backend, config.proxy.separator)
    } catch (error) {
      problems.push({
        key: `backends.${backend.name}`,
        path: ['backends', index],
        message: messageOf(error),
      })
    }
  }
  return problems
}

/** `preflightProblems` as `key: message` lines (the admin API's answers). */
export function preflight(config: Config): string[] {
  return preflightProblems(config).map(said)
}

/**
 * `preflightProblems` as `portico check` and `run` say them: `FILE:LINE: key: message`, the
 * line found in a TOML file (as every other config problem names its line).
 */
export function preflightLines(
  config: Config,
  file: string | undefined,
  options: PreflightOptions = {},
): string[] {
  const problems = preflightProblems(config, options)
  if (problems.length === 0) return []
  const where = file ?? 'config'
  const locate = file === undefined ? undefined : lineLocator(file)
  return problems.map((problem) => {
    const line = problem.path.length === 0 ? undefined : locate?.(problem.path)
    return `${where}${line === undefined ? '' : `:${line}`}: ${said(problem)}`
  })
}

/** Where a key path is written in a TOML or YAML config file (the file was read and parsed). */
function lineLocator(file: string): ((path: PropertyKey[]) => number | undefined) | undefined {
  const text = /\.(toml|ya?ml)$/i.test(file) ? readable(file) : undefined
  if (text === undefined) return undefined
  if (!isYamlFile(file)) {
    const locator = keyLocator(text)
    return (path) => locator.key(path)
  }
  try {
    return parseYaml(text).locate
  } catch {
    return undefined // loaded a moment ago: changed since, and no line is better than a wrong one
  }
}

/** `key: message`, or the message alone for a problem of the whole file (no upstream at all). */
function said(problem: PreflightProblem): string {
  return problem.key === '' ? problem.message : `${problem.key}: ${problem.message}`
}

function readable(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * A `[store] path` (or `--db`) no store can be at: its folder missing (`run` refuses it when
 * the store opens: only the default folder is made for you), a file where a folder of the path
 * should be, or the path a folder itself. `check` says so too: it said ok, and `run` exited 1.
 */
function storePathProblem(config: Config): PreflightProblem | undefined {
  const path = config.store.path
  if (!config.store.enabled || path === undefined || path === ':memory:') return undefined
  const problem = (message: string): PreflightProblem => ({
    key: 'store.path',
    path: ['store', 'path'],
    message,
  })
  const folder = dirname(resolve(path))
  let info: Stats | undefined
  try {
    info = statSync(resolve(path), { throwIfNoEntry: false })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR')
      return problem(`a part of ${path} before the file name is a file, not a folder`)
    return problem(`${path} cannot be used (${code ?? String(error)})`)
  }
  if (info !== undefined) {
    return info.isFile()
      ? undefined
      : problem(`${path} is not a regular file: a store is a SQLite file`)
  }
  if (existsSync(folder) || folder === dirname(defaultStorePath())) return undefined
  return problem(
    `the folder ${folder} of the store ${path} does not exist (create it first; only the default ${dirname(defaultStorePath())} is created for you)`,
  )
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
  const admin = adminToolsLocked(config)
  if (admin !== undefined) warnings.push(admin)
  return warnings
}

/** Admin tools served behind [auth] that no credential may call. */
function adminToolsLocked(config: Config): string | undefined {
  const auth = config.auth
  if (auth === undefined || !config.backends?.length || !config.proxy.admin_tools) return undefined
  const hasAdmin =
    config.security?.admin_token !== undefined ||
    auth.api_keys.some((key) => key.admin) ||
    auth.roles.some((role) => role.admin)
  if (hasAdmin) return undefined
  return `no admin credential is configured: the ${adminPrefix(config.proxy.separator)}* tools are refused to every client (set [security] admin_token)`
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
