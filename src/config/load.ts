/**
 * Loads the configuration: TOML file (explicit, or ./portico.toml, ./mcpr.toml or ./proxy.toml
 * when present), then
 * `PORTICO_*` environment variables, then CLI flags, validated whole against the schema.
 * Every problem is reported at once (validate.ts), in file order, with its line and key path.
 */
import { existsSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { parse as parseToml, TomlError } from 'smol-toml'
import type { ZodType } from 'zod'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { pathDeeperThan } from '../util/json-depth.ts'
import { extraServerWarnings, forwardAuthWarnings, shortTokenWarnings } from './auth.ts'
import {
  adoptForeignLayout,
  adoptRelayLayout,
  configWarnings,
  type ImportedServer,
  ignoredKey,
} from './dropin.ts'
import { interpolate } from './interpolate.ts'
import { keyLocator } from './locate.ts'
import { withOtelDefaults } from './otel-env.ts'
import {
  type Config,
  type ConfigInput,
  configSchema,
  IGNORED_KEYS,
  isParsedConfig,
  KEY_ALIASES,
  markParsed,
} from './schema.ts'
import { FileFormatError, NotUtf8Error, readTextFile } from './text-file.ts'
import { validateAll } from './validate.ts'
import { isYamlFile, parseYaml, YamlSyntaxError } from './yaml.ts'

export const DEFAULT_CONFIG_FILE = 'portico.toml'
/** mcpr's file, used when the working directory has no portico.toml. */
export const MCPR_CONFIG_FILE = 'mcpr.toml'
/** mcp-proxy's default `--config`, used when the working directory has neither of those. */
export const MCP_PROXY_CONFIG_FILE = 'proxy.toml'

export interface ConfigProblem {
  /** Dotted key path, e.g. `backends[1].timeout.seconds`; empty for file-level problems. */
  path: string
  message: string
  line?: number
  /**
   * The environment variable or flag the value came from (`PORTICO_PORT`, `--port`), named in
   * place of the file and line: the file is not at fault.
   */
  source?: string
}

export class ConfigError extends Error {
  readonly file: string | undefined
  readonly problems: ConfigProblem[]

  constructor(file: string | undefined, problems: ConfigProblem[]) {
    super(formatProblems(file, problems))
    this.name = 'ConfigError'
    this.file = file
    this.problems = problems
  }
}

/**
 * A config given as an object (library mode: `createPortico({ … })`), parsed as a file's is:
 * every problem at once, as a ConfigError naming each key (not zod's raw error).
 */
export function parseConfigObject(input: Config | ConfigInput): Config {
  if (isParsedConfig(input)) return input
  const result = validateAll(configSchema, input as JsonObject)
  if (result.ok) return markParsed(result.data)
  throw new ConfigError(
    undefined,
    result.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
  )
}

export function formatProblems(file: string | undefined, problems: ConfigProblem[]): string {
  return problems
    .map((p) => {
      const where =
        p.source ??
        [file ?? 'config', p.line === undefined ? undefined : String(p.line)]
          .filter(Boolean)
          .join(':')
      return `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`
    })
    .join('\n')
}

/** Settings given on the command line; each overrides the file and the environment. */
export interface ConfigOverrides {
  upstream?: string
  /** mcpr's `--mcp`: the upstream too (`upstream` wins when both are given). */
  mcp?: string
  widgets?: string
  host?: string
  port?: number
  db?: string
  name?: string
  logLevel?: string
  jsonLogs?: boolean
  /** `--workers`: a count, or "auto". */
  workers?: number | 'auto'
  /** `--no-tunnel` (mcpr 0.1): `no_tunnel = true`, no tunnel even with `[tunnel] enabled`. */
  noTunnel?: boolean
  /** mcpr 0.1's `--csp DOMAIN…` and `--csp-mode`: `[csp] domains` and `mode`, over the file's. */
  csp?: string[]
  cspMode?: string
}

export interface LoadOptions {
  /**
   * Explicit config file; when absent the first of `./portico.toml`, `./mcpr.toml` and
   * `./proxy.toml` (mcp-proxy's default) that exists.
   */
  file?: string
  overrides?: ConfigOverrides
  env?: NodeJS.ProcessEnv
  cwd?: string
  /**
   * Loading for `portico relay`: mcpr's relay file is read as its relay read it (`mode =
   * "relay"`, and the top-level `port` and body limits for the `[relay]` keys it lacks).
   */
  relay?: boolean
  /** Schema to validate against; extension point for modes that add tables. */
  schema?: ZodType<Config>
  /**
   * Loading the file again, for a reload: a file that serves nothing is a problem of the file
   * (ConfigError), said as such: an empty one (what `gen > portico.toml` leaves for a moment)
   * and one naming no upstream (`portico check`'s words). Loaded as any other, such a file has
   * the defaults for what it does not set, and the reload would refuse it as a change of the
   * port, the store, `hot_reload`… while the file is only not written yet.
   */
  again?: boolean
}

export interface LoadedConfig {
  config: Config
  file: string | undefined
  warnings: string[]
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  // An empty PORTICO_CONFIG is unset, as the other variables' empty values are (it named the
  // working directory, read as a file: EISDIR).
  const file = resolveFile(options.file ?? (env.PORTICO_CONFIG || undefined), cwd)
  const text = file === undefined ? '' : readConfigFile(file)
  if (options.again && file !== undefined && text.trim() === '') {
    throw new ConfigError(file, [{ path: '', message: 'file is empty' }])
  }
  const loaded = loadText(
    file,
    text,
    options,
    env,
    file === undefined ? undefined : nameFromFile(file),
  )
  const missing = options.again ? noUpstream(loaded.config) : undefined
  if (missing !== undefined) throw new ConfigError(file, [{ path: '', message: missing }])
  return loaded
}

/** What a config that names neither an upstream nor a backend lacks, as `portico check` says. */
export function noUpstream(config: Pick<Config, 'upstream' | 'backends'>): string | undefined {
  return config.upstream || config.backends?.length
    ? undefined
    : 'no upstream: set `upstream` (or `mcp`) or list [[backends]]'
}

/**
 * The proxy name a config file gives when it sets none (mcpr's rule): its stem, in the name's
 * alphabet (`search.toml` → `search`). The default files (portico.toml, mcpr.toml) give none,
 * so the name still comes from the upstream.
 */
export function nameFromFile(file: string): string | undefined {
  const base = basename(file)
  if (base === DEFAULT_CONFIG_FILE || base === MCPR_CONFIG_FILE) return undefined
  const stem = base
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 64)
  return stem === '' ? undefined : stem
}

/**
 * Validates config text as if it were a file (no flags): what `POST /admin/config/validate`
 * checks. `label` names it in problems.
 */
export function loadConfigText(
  text: string,
  options: {
    label?: string
    env?: NodeJS.ProcessEnv
    schema?: ZodType<Config>
    /** The text of this file: named as its file names a proxy (`nameFromFile`). */
    file?: string
    /** The command line's settings, over the text's (as the file is loaded with them). */
    overrides?: ConfigOverrides
    /**
     * Read the text as this file would be (TOML or YAML by its name, `import_backends` from
     * its folder), its problems still named by `label`.
     */
    readAs?: string
  } = {},
): LoadedConfig {
  const label = options.label ?? 'config'
  const name = options.file === undefined ? undefined : nameFromFile(options.file)
  const overrides = options.overrides ?? {}
  const as = options.readAs ?? label
  try {
    const loaded = loadText(as, text, { ...options, overrides }, options.env ?? {}, name)
    return { ...loaded, file: undefined }
  } catch (error) {
    if (!(error instanceof ConfigError) || as === label) throw error
    throw new ConfigError(label, error.problems)
  }
}

function loadText(
  file: string | undefined,
  text: string,
  options: LoadOptions,
  env: NodeJS.ProcessEnv,
  defaultName?: string,
): LoadedConfig {
  const problems: ConfigProblem[] = []
  const warnings: string[] = []
  const { raw, locate, locateTable } = parseConfigText(file, text)
  refuseDeepNesting(file, raw, locate)
  const interpolated = interpolate(raw, env, problems) as JsonObject
  for (const problem of problems) problem.line ??= locate(pathParts(problem.path))
  // A value whose variable is missing is empty: what the schema then says of it adds nothing.
  const unset = new Set(problems.map((p) => p.path))
  // mcp-proxy's and mcpr's layouts, and the keys Portico does not implement (dropin.ts).
  const foreign: ConfigProblem[] = []
  if (options.relay) adoptRelayLayout(interpolated)
  const adopted = adoptForeignLayout(interpolated, file, env)
  warnings.push(...adopted.warnings)
  foreign.push(...adopted.problems)
  const normalized = normalize(interpolated, warnings, foreign)
  // `[observability] log_level` is checked there, with its line: not again at the top level.
  const hoisted = hoistedKeys(interpolated, normalized)
  for (const problem of foreign) {
    // A whole table (`[logging]`, `[[backends.param_overrides]]`) is named by its header.
    const table = problem.path.replace(/\[\d+\]/g, '')
    const line = locateTable(table, pathParts(problem.path))
    problems.push({ ...problem, line })
  }
  // OpenTelemetry's variables are often set for a whole environment, for other services: a
  // value Portico cannot use stops it only when tracing is on (they never turn it on).
  const otelProblems: Array<{ path: string; message: string }> = []
  const { config: merged, sources } = applyOverrides(
    withOtelDefaults(normalized, env, otelProblems),
    env,
    options.overrides ?? {},
    problems,
  )
  if (tracingEnabled(merged)) problems.push(...otelProblems)
  // mcp-proxy's [proxy] name, else the file's stem, names a proxy whose file sets no `name`.
  const proxyTable = merged.proxy
  const gatewayName = isObject(proxyTable) ? proxyTable.name : undefined
  if (merged.name === undefined) {
    if (typeof gatewayName === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(gatewayName))
      merged.name = gatewayName
    else if (defaultName !== undefined) merged.name = defaultName
  }
  const result = validateAll(options.schema ?? configSchema, merged)
  if (!result.ok) {
    for (const issue of result.issues) {
      const path = formatPath(issue.path)
      const source = sourceOf(sources, path)
      // The key as the file spells it: mcpr's `mcp`, not the `upstream` it became, and
      // `runtime.drain_timeout`, not the `drain_timeout` it was moved to.
      const moved = adopted.moved.get(path)
      const written =
        source !== undefined
          ? issue.path
          : moved !== undefined
            ? pathParts(moved)
            : spelledAs(interpolated, issue.path)
      if (unset.has(path) || unset.has(formatPath(written))) continue
      if (source === undefined && hoisted.has(path)) continue
      const server = importedServerOf(adopted.imported, issue.path)
      if (server !== undefined) {
        // Said of the server in its file: `backends[7].url` names a table the user never wrote.
        const key = formatPath(issue.path.slice(2))
        problems.push({
          path: 'proxy.import_backends',
          message: `${server.file}: server "${server.server}": ${key === '' ? '' : `${key}: `}${issue.message}`,
          line: locate(['proxy', 'import_backends']),
        })
        continue
      }
      problems.push(
        source === undefined
          ? { path: formatPath(written), message: issue.message, line: locate(written) }
          : { path, message: issue.message, source },
      )
    }
  }
  if (problems.length > 0 || !result.ok) throw new ConfigError(file, byLine(problems))
  const { auth, backends } = result.data
  warnings.push(
    ...configWarnings(result.data),
    ...shortTokenWarnings(auth),
    ...extraServerWarnings(auth),
    ...forwardAuthWarnings(auth, backends),
  )
  return { config: markParsed(result.data), file, warnings }
}

/** The imported server a `backends[i]…` path is about, if `import_backends` added it. */
function importedServerOf(
  imported: Map<number, ImportedServer>,
  path: ReadonlyArray<PropertyKey>,
): ImportedServer | undefined {
  const [head, index] = path
  return head === 'backends' && typeof index === 'number' ? imported.get(index) : undefined
}

/**
 * A schema path under the name the file wrote it with: a top-level key Portico reads under
 * another name (KEY_ALIASES, mcpr's `mcp` for `upstream`) is named, and found, as written.
 */
function spelledAs(raw: JsonObject, path: ReadonlyArray<PropertyKey>): ReadonlyArray<PropertyKey> {
  const [head, ...rest] = path
  if (typeof head !== 'string' || head in raw) return path
  const alias = Object.keys(KEY_ALIASES).find((key) => KEY_ALIASES[key] === head && key in raw)
  return alias === undefined ? path : [alias, ...rest]
}

/** Problems in file order (those without a line last), so the list reads top to bottom. */
function byLine(problems: ConfigProblem[]): ConfigProblem[] {
  const line = (p: ConfigProblem) => p.line ?? Number.POSITIVE_INFINITY
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => line(a.problem) - line(b.problem) || a.index - b.index)
    .map(({ problem }) => problem)
}

function resolveFile(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit !== undefined) return resolve(cwd, explicit)
  for (const name of [DEFAULT_CONFIG_FILE, MCPR_CONFIG_FILE, MCP_PROXY_CONFIG_FILE]) {
    const implicit = resolve(cwd, name)
    if (existsSync(implicit)) return implicit
  }
  return undefined
}

function readConfigFile(file: string): string {
  try {
    return readTextFile(file)
  } catch (error) {
    if (error instanceof NotUtf8Error) {
      const line = error.line === undefined ? {} : { line: error.line }
      throw new ConfigError(file, [{ path: '', message: error.message, ...line }])
    }
    if (error instanceof FileFormatError) {
      throw new ConfigError(file, [{ path: '', message: `cannot read file (${error.message})` }])
    }
    const code = (error as NodeJS.ErrnoException).code
    const message = code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? error})`
    throw new ConfigError(file, [{ path: '', message }])
  }
}

type Locate = (path: ReadonlyArray<PropertyKey>) => number | undefined

interface ParsedText {
  raw: JsonObject
  /** The line of a key path (or of its nearest ancestor in the file). */
  locate: Locate
  /** The line of a whole table (`[logging]`: its header in TOML), else of the key path. */
  locateTable(table: string, path: ReadonlyArray<PropertyKey>): number | undefined
}

/** The file's keys, and where each key path is in it (TOML, or YAML by the file's extension). */
function parseConfigText(file: string | undefined, text: string): ParsedText {
  if (file === undefined) {
    return { raw: {}, locate: () => undefined, locateTable: () => undefined }
  }
  if (isYamlFile(file)) {
    try {
      const { value, locate } = parseYaml(text)
      return { raw: value, locate, locateTable: (_table, path) => locate(path) }
    } catch (error) {
      if (!(error instanceof YamlSyntaxError)) throw error
      throw new ConfigError(file, [{ path: '', message: error.message, line: error.line }])
    }
  }
  const raw = parseTomlText(file, text)
  // Read once, used for every problem (however many the file has).
  const locator = keyLocator(text)
  const locate: Locate = (path) => locator.key(path)
  return {
    raw,
    locate,
    locateTable: (table, path) => locator.header(table) ?? locate(path),
  }
}

function parseTomlText(file: string, text: string): JsonObject {
  try {
    return parseToml(text) as JsonObject
  } catch (error) {
    if (error instanceof TomlError) {
      const message = `invalid TOML at column ${error.column}: ${error.message.split('\n')[0]}${jsonHint(file, text)}`
      throw new ConfigError(file, [{ path: '', message, line: error.line }])
    }
    throw error
  }
}

/**
 * A `.json` file is read as TOML, as mcp-proxy reads every file but YAML; the one JSON a user
 * is likely to hand Portico is an MCP client's config (`mcpServers`), which `portico import`
 * turns into a portico.toml.
 */
function jsonHint(file: string, text: string): string {
  if (!/\.json$/i.test(file) || !/^\s*\{/.test(text)) return ''
  return ` (Portico's config is TOML or YAML; for an MCP client's config with mcpServers, \`portico import ${file}\` writes a portico.toml from its servers)`
}

/**
 * Maps mcpr aliases onto Portico keys and sets aside other tools' keys: with a warning naming
 * what is missing, or as a problem when ignoring the key would do harm (dropin.ts).
 */
function normalize(raw: JsonObject, warnings: string[], problems: ConfigProblem[]): JsonObject {
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(raw)) {
    if (IGNORED_KEYS.has(key)) {
      const ignored = ignoredKey(key, value)
      if (ignored?.error) problems.push({ path: key, message: ignored.message })
      else if (ignored) warnings.push(ignored.message)
      continue
    }
    const target = settingOf(key)
    const read = key === 'log_format' ? value === 'json' : value
    if (!Object.hasOwn(out, target)) out[target] = read
    else if (JSON.stringify(out[target]) !== JSON.stringify(read)) {
      // mcpr's name and Portico's for one setting, saying different things: neither wins.
      const other = Object.keys(raw).find((k) => k !== key && settingOf(k) === target)
      problems.push({
        path: key,
        message: `${key} and ${other ?? target} name one setting and disagree: keep one`,
      })
    }
  }
  hoistObservability(raw, out, problems)
  return out
}

/** The key a top-level key sets: its own, or the one it is mcpr's name for (KEY_ALIASES). */
function settingOf(key: string): string {
  // Own keys only: `constructor` is no alias.
  return Object.hasOwn(KEY_ALIASES, key) ? (KEY_ALIASES[key] ?? key) : key
}

/** The top-level keys hoistObservability copied from `[observability]`. */
function hoistedKeys(raw: JsonObject, normalized: JsonObject): Set<string> {
  const table = normalized.observability
  if (!isObject(table)) return new Set()
  return new Set(
    ['log_level', 'json_logs'].filter(
      (key) => table[key] !== undefined && normalized[key] === table[key] && raw[key] === undefined,
    ),
  )
}

/**
 * mcp-proxy writes `log_level`, `json_logs` and `[observability.access_log]` under
 * `[observability]`: they set the top-level keys (environment variables and flags still
 * override both). Set at the top level too, to another value, the file says two things of one
 * setting: a problem, as for mcpr's names (neither wins by its place in the file).
 */
function hoistObservability(raw: JsonObject, out: JsonObject, problems: ConfigProblem[]): void {
  const table = out.observability
  if (!isObject(table)) return
  const hoist = (key: string, value: unknown, from: string) => {
    if (value === undefined) return
    if (out[key] === undefined) out[key] = value as JsonObject[string]
    else if (JSON.stringify(out[key]) !== JSON.stringify(value)) {
      const top = key === 'json_logs' && 'log_format' in raw ? 'log_format' : key
      problems.push({
        path: from,
        message: `${from} and the top-level ${top} name one setting and disagree: keep one`,
      })
    }
  }
  hoist('log_level', table.log_level, 'observability.log_level')
  hoist('json_logs', table.json_logs, 'observability.json_logs')
  const access = table.access_log
  if (isObject(access) && typeof access.enabled === 'boolean')
    hoist('access_log', access.enabled, 'observability.access_log.enabled')
}

const ENV_KEYS: ReadonlyArray<[string, string, 'string' | 'number' | 'boolean']> = [
  ['PORTICO_UPSTREAM', 'upstream', 'string'],
  ['PORTICO_WIDGETS', 'widgets', 'string'],
  ['PORTICO_HOST', 'host', 'string'],
  ['PORTICO_PORT', 'port', 'number'],
  ['PORTICO_NAME', 'name', 'string'],
  ['PORTICO_PUBLIC_URL', 'public_url', 'string'],
  ['PORTICO_LOG_LEVEL', 'log_level', 'string'],
  ['PORTICO_JSON_LOGS', 'json_logs', 'boolean'],
]

/** The spellings of a boolean environment variable, as shells and service files write them. */
const TRUE = /^(1|true|yes|on)$/i
const FALSE = /^(0|false|no|off)$/i

/**
 * The environment's and the flags' values over the file's, and where each came from (key path
 * → variable or flag), so a problem with one names it rather than a line of a file that may
 * not even set the key. A variable that is not a number or a boolean where one is expected is
 * a problem itself.
 */
function applyOverrides(
  config: JsonObject,
  env: NodeJS.ProcessEnv,
  flags: ConfigOverrides,
  problems: ConfigProblem[],
): { config: JsonObject; sources: Map<string, string> } {
  const out: JsonObject = { ...config }
  const sources = new Map<string, string>()
  const broken: ConfigProblem[] = []
  for (const [variable, key, type] of ENV_KEYS) {
    const value = env[variable]
    if (value === undefined || value === '') continue
    sources.set(key, variable)
    const trimmed = value.trim()
    if (type === 'string') out[key] = value
    else if (type === 'number' && /^\d+$/.test(trimmed)) out[key] = Number(trimmed)
    else if (type === 'boolean' && (TRUE.test(trimmed) || FALSE.test(trimmed)))
      out[key] = TRUE.test(trimmed)
    else {
      const expected =
        type === 'number' ? 'a whole number' : 'true or false (also yes/no, on/off, 1/0)'
      broken.push({ path: key, message: `expected ${expected}, got "${value}"`, source: variable })
      delete out[key]
    }
  }
  const store: JsonObject = isObject(out.store) ? { ...out.store } : {}
  if (env.PORTICO_DB) {
    store.path = env.PORTICO_DB
    sources.set('store.path', 'PORTICO_DB')
  }
  const workers = env.PORTICO_WORKERS
  if (workers) {
    out.workers = /^\d+$/.test(workers) ? Number(workers) : workers
    sources.set('workers', 'PORTICO_WORKERS')
  }
  const fromFlags: Array<[string, string, unknown]> = [
    ['upstream', '--mcp', flags.mcp],
    ['upstream', '--upstream', flags.upstream],
    ['widgets', '--widgets', flags.widgets],
    ['host', '--host', flags.host],
    ['port', '--port', flags.port],
    ['name', '--name', flags.name],
    ['log_level', '--log-level', flags.logLevel],
    ['json_logs', '--json-logs', flags.jsonLogs],
    ['workers', '--workers', flags.workers],
    ['no_tunnel', '--no-tunnel', flags.noTunnel],
  ]
  for (const [key, flag, value] of fromFlags) {
    if (value === undefined) continue
    out[key] = value as JsonObject[string]
    sources.set(key, flag)
  }
  if (flags.db !== undefined) {
    store.path = flags.db
    sources.set('store.path', '--db')
  }
  if (Object.keys(store).length > 0) out.store = store
  if (flags.csp !== undefined || flags.cspMode !== undefined) {
    const csp: JsonObject = isObject(out.csp) ? { ...out.csp } : {}
    if (flags.csp !== undefined) {
      csp.domains = flags.csp
      sources.set('csp.domains', '--csp')
    }
    if (flags.cspMode !== undefined) {
      csp.mode = flags.cspMode
      sources.set('csp.mode', '--csp-mode')
    }
    out.csp = csp
  }
  // A broken variable that a flag overrides is not used: it is in nobody's way.
  problems.push(...broken.filter((problem) => sources.get(problem.path) === problem.source))
  return { config: out, sources }
}

/** The variable or flag that set the value at `path` (or one holding it), if one did. */
function sourceOf(sources: Map<string, string>, path: string): string | undefined {
  for (const [key, source] of sources) {
    if (path === key || path.startsWith(`${key}.`) || path.startsWith(`${key}[`)) return source
  }
  return undefined
}

/**
 * How deep a config's values may nest: far past any real one, and far short of what overflows
 * the walks that read it (TOML's dotted keys nest without the parser's bound: `a.a.….a = 1`
 * with 5,000 parts was "Maximum call stack size exceeded" from `portico check`, and a 500
 * from `POST /admin/config/validate`).
 */
export const MAX_CONFIG_DEPTH = 100

function refuseDeepNesting(file: string | undefined, raw: unknown, locate: Locate): void {
  const deep = pathDeeperThan(raw, MAX_CONFIG_DEPTH)
  if (deep === undefined) return
  const line = locate(deep)
  throw new ConfigError(file, [
    {
      path: `${formatPath(deep.slice(0, 3))}…`,
      message: `nested deeper than ${MAX_CONFIG_DEPTH} levels`,
      ...(line === undefined ? {} : { line }),
    },
  ])
}

/** `backends[1].timeout` → `['backends', 1, 'timeout']` (the inverse of formatPath). */
function pathParts(path: string): PropertyKey[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) =>
    m[2] === undefined ? (m[1] as string) : Number(m[2]),
  )
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`
  }
  return out
}

/** Whether the merged config turns tracing on (`[observability.tracing] enabled`). */
function tracingEnabled(config: JsonObject): boolean {
  const observability = config.observability
  const tracing = isObject(observability) ? observability.tracing : undefined
  return isObject(tracing) && tracing.enabled === true
}
