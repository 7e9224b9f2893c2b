/**
 * Other tools' files as written: mcp-proxy's and mcpr's layouts mapped onto Portico's keys
 * before validation, and the keys Portico does not implement sorted into warnings (harmless
 * to ignore) and errors (ignoring them would weaken security or lose data: fail closed).
 *
 * Everything here works on the raw TOML tree, so values keep their original place for
 * `portico check` (a bad `[proxy.listen] port` is reported at that line); a value is copied
 * to the top level only when it is well-formed and the top level does not set it already.
 */
import { statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { parseDuration } from './duration.ts'
import { LONGEST_TIMER_MS } from './duration-schema.ts'
import { BACKEND_NAME } from './gateway.ts'
import { interpolate } from './interpolate.ts'
import { importMcpJson } from './mcp-json.ts'
import { FileFormatError, parseClientConfig, readTextFile } from './text-file.ts'

export interface Problem {
  path: string
  message: string
}

/** Keys of other tools that Portico does not implement, and what ignoring them means. */
interface Unimplemented {
  /** An error (fail closed) rather than a warning. */
  error: boolean
  message: string
}

/**
 * Keys of mcpr and mcp-proxy that Portico does not implement and that have no issue, so the
 * message names the alternative.
 */
export const UNIMPLEMENTED: Readonly<Record<string, Unimplemented>> = lookupTable({
  logging: {
    error: true,
    message:
      '[logging] (log files) is not implemented: Portico logs to stderr only, so these logs would be lost. Let the supervisor keep them (journald, `docker logs`, kubectl logs) and remove the table',
  },
})

/**
 * What ignoring one of `IGNORED_KEYS` (schema.ts) means:
 * the warning names the missing feature; mcpr's `mode = "relay"` would run the wrong program,
 * so it is an error. Undefined: nothing to say (`mode = "gateway"` is what Portico does).
 */
export function ignoredKey(key: string, value: unknown): Unimplemented | undefined {
  if (key === 'mode') {
    if (value === 'gateway') return undefined
    return value === 'relay'
      ? {
          error: true,
          message:
            'mode = "relay" asks for mcpr\'s relay server: run `portico relay [CONFIG]` for the relay, and remove `mode` to run a proxy',
        }
      : {
          error: false,
          message: `mode = ${JSON.stringify(value)} is ignored: Portico is a gateway with [[backends]] and a transparent proxy with upstream`,
        }
  }
  return { error: false, message: `"${key}" is not used by Portico and was ignored` }
}

/**
 * mcpr's relay file, for `portico relay`: `mode = "relay"` says what it is (an error only for
 * a proxy, which it would not start), and mcpr's relay listens on the top-level `port` and
 * applies the top-level body limits. They fill the `[relay]` keys the file does not set.
 */
export function adoptRelayLayout(raw: JsonObject): void {
  if (raw.mode === 'relay') delete raw.mode
  const keys = ['port', 'max_request_body_size', 'max_response_body_size'].filter(
    (key) => raw[key] !== undefined,
  )
  if (keys.length === 0) return
  if (raw.relay === undefined) raw.relay = {}
  if (!isObject(raw.relay)) return
  for (const key of keys) if (raw.relay[key] === undefined) raw.relay[key] = raw[key]
}

export interface AdoptResult {
  warnings: string[]
  problems: Problem[]
  /** `backends[i]` that `import_backends` added: the file and the server each came from. */
  imported: Map<number, ImportedServer>
  /**
   * Keys moved to where Portico reads them (`drain_timeout` ← `runtime.drain_timeout`): the
   * path written in the file, by the path it moved to, so a problem is named, and found, as
   * the file spells it.
   */
  moved: Map<string, string>
}

export interface ImportedServer {
  file: string
  server: string
}

/**
 * Rewrites `raw` in place: mcpr's `[runtime]` and `[store] name`, mcp-proxy's `[proxy.listen]`,
 * `shutdown_timeout_seconds` and `import_backends`, and the keys TOML put in the wrong table
 * when an example's commented lines are switched on. Returns warnings and problems.
 */
export function adoptForeignLayout(
  raw: JsonObject,
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): AdoptResult {
  const warnings: string[] = []
  const problems: Problem[] = []
  const imported = new Map<number, ImportedServer>()
  const moved = new Map<string, string>()
  for (const [key, what] of Object.entries(UNIMPLEMENTED)) {
    if (!(key in raw)) continue
    delete raw[key]
    if (what.error) problems.push({ path: key, message: what.message })
    else warnings.push(what.message)
  }
  refuseLogFormat(raw, problems)
  hoistRuntime(raw, moved, problems)
  hoistStoreName(raw, moved, problems)
  adoptCacheStore(raw, { warnings, problems, moved })
  hoistProxy(raw, { warnings, problems, moved })
  moveMisplacedFilters(raw, warnings)
  importBackends(raw, file, env, { warnings, problems, imported, moved })
  return { warnings, problems, imported, moved }
}

/**
 * mcp-proxy's global `[cache] backend / url / prefix` choose where its caches live: `redis`
 * becomes Portico's `[shared]` for the caches only (mcp-proxy's rate limits were per instance),
 * unless the file has its own `[shared]`; `memory` is what Portico does anyway; `sqlite` (a
 * file per instance) is a warning, the caches staying in memory (a cache lost on restart costs
 * time, never data). Any other `backend` is refused, as mcp-proxy does: a misspelt "Redis"
 * must not leave each replica its own cache in silence. The rest of `[cache]` is Portico's own
 * table (the transparent upstream's cache, and the default of every backend's).
 */
function adoptCacheStore(
  raw: JsonObject,
  { warnings, problems, moved }: Pick<AdoptResult, 'warnings' | 'problems' | 'moved'>,
): void {
  const cache = raw.cache
  if (!isObject(cache) || !('backend' in cache || 'url' in cache || 'prefix' in cache)) return
  const backend = cache.backend ?? 'memory'
  if (backend === 'sqlite') {
    warnings.push(
      `[cache] backend = "sqlite": Portico keeps its caches in memory, or in Redis shared by replicas ([shared] redis = "redis://…"); this one stays in memory`,
    )
  } else if (backend === 'redis' && cache.url === undefined) {
    problems.push({ path: 'cache.backend', message: 'backend = "redis" needs url = "redis://…"' })
  } else if (backend === 'redis' && raw.shared === undefined) {
    const shared: JsonObject = { rate_limits: false, redis: cache.url as JsonObject[string] }
    moved.set('shared.redis', 'cache.url')
    if (cache.prefix !== undefined) {
      shared.prefix = cache.prefix
      moved.set('shared.prefix', 'cache.prefix')
    }
    raw.shared = shared
  } else if (backend === 'redis' && isObject(raw.shared)) {
    sharedAgrees(cache, raw.shared, problems)
  } else if (backend !== 'memory' && backend !== 'redis') {
    problems.push({
      path: 'cache.backend',
      message: `expected "memory", "redis" or "sqlite" (mcp-proxy's cache backends), not ${JSON.stringify(backend)}`,
    })
  }
  delete cache.backend
  delete cache.url
  delete cache.prefix
  if (Object.keys(cache).length === 0) delete raw.cache
}

/**
 * Sets `key` from another tool's name for it (`from`, as the file spells it) when valid and not
 * set already; returns whether it did. Set already to another value, the file says two things
 * of one setting and neither wins by its place in the file: a problem at `from` (a listener
 * narrowed to loopback under one name must not serve every interface by the other).
 */
function adoptKey(
  target: JsonObject,
  key: string,
  value: unknown,
  at: {
    valid: boolean
    from: string
    problems: Problem[]
    /** Whether two spellings say the same (a duration in seconds and as "12s"). */
    same?: (a: unknown, b: unknown) => boolean
  },
): boolean {
  if (!at.valid) return false
  if (target[key] === undefined) {
    target[key] = value as JsonObject[string]
    return true
  }
  const same = at.same ?? ((a, b) => JSON.stringify(a) === JSON.stringify(b))
  if (!same(target[key], value)) {
    at.problems.push({
      path: at.from,
      message: `${at.from} and the top-level ${key} name one setting and disagree (${JSON.stringify(value)} and ${JSON.stringify(target[key])}): keep one`,
    })
  }
  return false
}

/**
 * mcpr's `log_format` (top level, or `[runtime]` as its docs show it) is `json` or `pretty`
 * (`text` too); mcpr refuses anything else, so a typo must not become text logs in silence.
 * A refused value is named where it is, and dropped so nothing else is said of it.
 */
function refuseLogFormat(raw: JsonObject, problems: Problem[]): void {
  const runtime = isObject(raw.runtime) ? raw.runtime : {}
  for (const [table, path] of [
    [raw, 'log_format'],
    [runtime, 'runtime.log_format'],
  ] as const) {
    const value = table.log_format
    if (value === undefined || value === 'json' || value === 'pretty' || value === 'text') continue
    problems.push({
      path,
      message: 'expected "json" or "pretty" (mcpr\'s values; "text" is "pretty")',
    })
    delete table.log_format
  }
}

/**
 * mcp-proxy's `[cache] backend = "redis"` beside Portico's own `[shared]`: one setting under
 * two names, which must agree (the `[cache]` keys were dropped in silence, and the caches
 * stayed in memory or went to the other server).
 */
function sharedAgrees(cache: JsonObject, shared: JsonObject, problems: Problem[]): void {
  const disagree = (path: string, what: string) =>
    problems.push({ path, message: `${path} and [shared] ${what}: keep one` })
  if (shared.redis !== undefined && shared.redis !== cache.url) {
    disagree('cache.url', 'redis name one setting and disagree')
  }
  if (cache.prefix !== undefined && shared.prefix === undefined) shared.prefix = cache.prefix
  else if (cache.prefix !== undefined && shared.prefix !== cache.prefix) {
    disagree('cache.prefix', 'prefix name one setting and disagree')
  }
  if (shared.caches === false) {
    disagree('cache.backend', 'caches = false disagree on where the caches live')
  }
}

/** A duration as the config writes it (seconds, or a string with its unit) in milliseconds. */
function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value * 1000
  return typeof value === 'string' ? parseDuration(value) : undefined
}

const sameDuration = (a: unknown, b: unknown) =>
  durationMs(a) !== undefined && durationMs(a) === durationMs(b)

/** mcpr's documented `[runtime]` table holds keys its code reads at the top level. */
function hoistRuntime(raw: JsonObject, moved: Map<string, string>, problems: Problem[]): void {
  const runtime = raw.runtime
  if (!isObject(runtime)) return
  for (const key of ['log_format', 'admin_bind', 'drain_timeout'] as const) {
    if (key in runtime) {
      const from = `runtime.${key}`
      const same = key === 'drain_timeout' ? sameDuration : undefined
      if (adoptKey(raw, key, runtime[key], { valid: true, from, problems, ...(same && { same }) }))
        moved.set(key, from)
      delete runtime[key]
    }
  }
  // Anything else there is named as its own key, at its line: left to the schema, the whole
  // table was "runtime: unknown key", which read as if [runtime] itself were refused.
  for (const key of Object.keys(runtime)) {
    const top =
      key in TOP_LEVEL_HINTS ? ` (${key} is a top-level key: move it above the tables)` : ''
    problems.push({
      path: `runtime.${key}`,
      message: `unknown key "${key}": mcpr's [runtime] holds log_format, admin_bind and drain_timeout${top}`,
    })
  }
  delete raw.runtime
}

/** Top-level keys a mcpr user may put in `[runtime]` by analogy with the ones it holds. */
const TOP_LEVEL_HINTS: Readonly<Record<string, true>> = {
  request_timeout: true,
  max_request_body_size: true,
  max_response_body_size: true,
  max_concurrent_upstream: true,
  log_level: true,
  port: true,
}

/** mcpr's `[store] name` tags the rows: Portico's proxy `name`. */
function hoistStoreName(raw: JsonObject, moved: Map<string, string>, problems: Problem[]): void {
  const store = raw.store
  if (!isObject(store) || !('name' in store)) return
  const valid = typeof store.name === 'string'
  if (adoptKey(raw, 'name', store.name, { valid, from: 'store.name', problems })) {
    moved.set('name', 'store.name')
  }
  delete store.name
}

/** mcp-proxy's `[proxy.listen] port` when the table leaves it out. */
const MCP_PROXY_PORT = 8080

/**
 * mcp-proxy's `[proxy.listen] host, port` (port 8080 when the table omits it, as in mcp-proxy) and `shutdown_timeout_seconds` (the drain budget);
 * `instructions` written under `[proxy.listen]` (where the example's comment puts it, and
 * where mcp-proxy ignores it) is applied as `[proxy] instructions`.
 */
function hoistProxy(
  raw: JsonObject,
  { warnings, problems, moved }: Pick<AdoptResult, 'warnings' | 'problems' | 'moved'>,
): void {
  const proxy = raw.proxy
  if (!isObject(proxy)) return
  const listen = proxy.listen
  if (isObject(listen)) {
    // mcp-proxy's default port, 8080, for its layout (the table itself says which layout this
    // is); Portico's own default (3000) stays for files without [proxy.listen]. The host's
    // default, 127.0.0.1, is the same in both.
    // A port the table leaves out is mcp-proxy's default, no second word on the setting.
    const port = listen.port ?? MCP_PROXY_PORT
    const validPort =
      typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535
    if (listen.port === undefined) {
      if (raw.port === undefined) raw.port = port
    } else adoptKey(raw, 'port', port, { valid: validPort, from: 'proxy.listen.port', problems })
    const validHost = typeof listen.host === 'string' && listen.host !== ''
    if (
      adoptKey(raw, 'host', listen.host, { valid: validHost, from: 'proxy.listen.host', problems })
    ) {
      moved.set('host', 'proxy.listen.host')
    }
    if (typeof listen.instructions === 'string' && proxy.instructions === undefined) {
      proxy.instructions = listen.instructions
      delete listen.instructions
      warnings.push(
        '[proxy.listen] instructions: TOML puts this key in [proxy.listen] (mcp-proxy ignores it there); Portico applies it as [proxy] instructions: move it above [proxy.listen]',
      )
    }
  }
  // Copied only when valid: a bad value is reported once, on its own key.
  const drain = proxy.shutdown_timeout_seconds
  const valid = typeof drain === 'number' && drain >= 0 && drain * 1000 <= LONGEST_TIMER_MS
  adoptKey(raw, 'drain_timeout', drain, {
    valid,
    from: 'proxy.shutdown_timeout_seconds',
    problems,
    same: sameDuration,
  })
}

const FILTER_KEYS = [
  'expose_tools',
  'hide_tools',
  'expose_resources',
  'hide_resources',
  'expose_prompts',
  'hide_prompts',
] as const

/**
 * In mcp-proxy's example, switching on `[[backends.aliases]]` and then `expose_tools` (or
 * `hide_tools`) puts the filter inside the alias table, where mcp-proxy silently ignores it
 * and exposes every tool. Portico applies it to the backend, which is what was meant.
 */
function moveMisplacedFilters(raw: JsonObject, warnings: string[]): void {
  const backends = raw.backends
  if (!Array.isArray(backends)) return
  backends.forEach((backend, index) => {
    if (!isObject(backend)) return
    for (const table of ['aliases', 'inject_args'] as const) {
      const list = backend[table]
      if (!Array.isArray(list)) continue
      for (const entry of list) {
        if (!isObject(entry)) continue
        for (const key of FILTER_KEYS) {
          if (!(key in entry) || key in backend) continue
          backend[key] = entry[key] as JsonObject[string]
          delete entry[key]
          warnings.push(
            `backends[${index}].${table}: ${key} follows a [[backends.${table}]] header, so TOML puts it in that table (mcp-proxy ignores it there); Portico applies it to backend "${String(backend.name)}": move it above the table`,
          )
        }
      }
    }
  })
}

/**
 * `[proxy] import_backends = "mcp.json"`: the file's servers become backends, resolved from
 * the config file's folder; a name the file already has is kept (as in mcp-proxy). Their
 * `${NAME}` (and VS Code's `${env:NAME}`) are read from the environment, as the MCP clients
 * that wrote the file read them, and as Portico reads its own file's.
 */
function importBackends(
  raw: JsonObject,
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  { warnings, problems, imported: added }: AdoptResult,
): void {
  const proxy = raw.proxy
  if (!isObject(proxy) || typeof proxy.import_backends !== 'string') return
  const path = resolve(file ? dirname(file) : process.cwd(), proxy.import_backends)
  const refused = importRefusal(path)
  if (refused !== undefined) {
    problems.push({ path: 'proxy.import_backends', message: refused })
    return
  }
  let parsed: unknown
  try {
    parsed = parseClientConfig(readTextFile(path), path)
  } catch (error) {
    // Only this module's messages (a place, an encoding), never JSON.parse's: it quotes the
    // file's first characters, and this text can be an answer to `POST /admin/config/validate`
    // about any file the process may read.
    const message =
      error instanceof FileFormatError ? `${path}: ${error.message}` : `${path} is not valid JSON`
    problems.push({ path: 'proxy.import_backends', message })
    return
  }
  let imported: JsonObject[]
  try {
    const warn = (note: string) => warnings.push(`import_backends: ${path}: ${note}`)
    imported = expandImported(importMcpJson(parsed, { warn }), path, env, problems)
  } catch (error) {
    problems.push({
      path: 'proxy.import_backends',
      message: `cannot import ${path}: ${error instanceof Error ? error.message : String(error)}`,
    })
    return
  }
  const backends = Array.isArray(raw.backends) ? raw.backends : []
  const names = new Set(backends.map((b) => (isObject(b) ? b.name : undefined)))
  const separator = typeof proxy.separator === 'string' ? proxy.separator : '__'
  for (const backend of imported) {
    const refused = importedNameRefusal(String(backend.name), separator)
    if (refused !== undefined) {
      // Said here, with the server's name and file: the schema would say `backends[7].name`,
      // an index and no line, of a table the user never wrote.
      problems.push({
        path: 'proxy.import_backends',
        message: `${path}: server "${String(backend.name)}": ${refused}; rename it in that file, or convert the file with portico import, which renames it`,
      })
      continue
    }
    if (names.has(backend.name)) {
      warnings.push(
        `import_backends: "${String(backend.name)}" of ${path} is skipped: the config file has a backend with that name`,
      )
      continue
    }
    added.set(backends.length, { file: path, server: String(backend.name) })
    backends.push(backend)
  }
  raw.backends = backends
}

/** Why an MCP client's server name cannot be a backend's, as written. */
function importedNameRefusal(name: string, separator: string): string | undefined {
  if (!BACKEND_NAME.test(name))
    return 'a backend name is 1-32 of [A-Za-z0-9_-] (it prefixes every tool name)'
  if (separator !== '' && name.includes(separator))
    return `a backend name may not contain the separator "${separator}"`
  return undefined
}

function expandImported(
  backends: JsonObject[],
  path: string,
  env: NodeJS.ProcessEnv,
  problems: Problem[],
): JsonObject[] {
  const missing: Problem[] = []
  const expanded = interpolate(backends, env, missing) as JsonObject[]
  for (const problem of missing) {
    // `[2].env.TOKEN` → the server's own name, which the user knows from the file.
    const index = Number(/^\[(\d+)\]/.exec(problem.path)?.[1])
    const where = problem.path.replace(/^\[\d+\]\.?/, '')
    problems.push({
      path: 'proxy.import_backends',
      message: `${path}: server "${String(backends[index]?.name)}" ${where}: ${problem.message}`,
    })
  }
  return expanded
}

/** An MCP client's JSON config is small; a bigger file is not one. */
const MAX_IMPORT_BYTES = 1024 * 1024

/**
 * Why `path` cannot be imported, before reading it: only a regular file of a config's size is
 * read (a FIFO or a device would block the event loop, or never end).
 */
function importRefusal(path: string): string | undefined {
  const info = statSync(path, { throwIfNoEntry: false })
  if (info === undefined) return `file not found: ${path}`
  if (!info.isFile()) return `${path} is not a regular file`
  if (info.size > MAX_IMPORT_BYTES) return `${path} is larger than 1 MB`
  return undefined
}

/** What a valid configuration may still do that its author should know about. */
export function configWarnings(config: {
  proxy: { separator: string }
  no_tunnel?: boolean | undefined
  tunnel?: { enabled: boolean } | undefined
  max_concurrent_upstream?: number | undefined
  backends?: ReadonlyArray<BackendKeys> | undefined
}): string[] {
  const warnings: string[] = []
  const separator = config.proxy.separator
  if (config.backends?.length && !PORTABLE_SEPARATOR.test(separator)) {
    warnings.push(
      `[proxy] separator = ${JSON.stringify(separator)}: some LLM APIs (Anthropic, OpenAI) reject tool names with characters other than letters, digits, "_" and "-", so clients built on them may refuse this gateway's tools; "__" or "_" works everywhere`,
    )
  }
  if (config.no_tunnel === false && !config.tunnel?.enabled) {
    // mcpr 0.1 opened its tunnel unless told not to; Portico only when asked (and to a relay).
    warnings.push(
      'no_tunnel = false opens no tunnel: Portico publishes through a relay only with [tunnel] enabled = true (relay_url, token) or --tunnel URL',
    )
  }
  if (config.max_concurrent_upstream !== undefined && config.backends?.length) {
    // mcpr's limit of its one upstream: a gateway has backends, each with its own limits.
    warnings.push(
      "max_concurrent_upstream limits the one upstream of transparent mode and is not used by a gateway: set [concurrency] max_concurrent (every backend) or a backend's own [backends.concurrency]",
    )
  }
  for (const backend of config.backends ?? []) {
    const unused = keysOfOtherTransport(backend)
    if (unused.length > 0) {
      warnings.push(
        `backend "${backend.name}": ${unused.join(', ')} ${unused.length === 1 ? 'does' : 'do'} nothing for transport = "${backend.transport}" (${backend.transport === 'stdio' ? 'they are for http, sse and websocket backends' : 'they are for stdio backends'})`,
      )
    }
    if (backend.forward_auth && backend.bearer_token !== undefined) {
      warnings.push(
        `backend "${backend.name}": forward_auth and bearer_token both set Authorization; the backend gets bearer_token (as with mcp-proxy, which never forwarded client tokens): keep one`,
      )
    }
  }
  return warnings
}

/** The keys of a backend whose use depends on its transport. */
interface BackendKeys {
  name: string
  transport: string
  forward_auth: boolean
  bearer_token?: string | undefined
  command?: string | undefined
  args: readonly string[]
  env: Readonly<Record<string, string>>
  inherit_env: boolean
  cwd?: string | undefined
  url?: string | undefined
  headers: Readonly<Record<string, string>>
  isolation: string
  max_processes: number
}

/**
 * The keys set on a backend that its transport never reads (a stdio backend's `url` and
 * `bearer_token`, an http backend's `command` or `isolation = "session"`): a config carried
 * over from another backend, or a transport written wrong, ran without a word.
 */
function keysOfOtherTransport(backend: BackendKeys): string[] {
  if (backend.transport === 'stdio') {
    return [
      backend.url === undefined ? '' : 'url',
      Object.keys(backend.headers).length === 0 ? '' : 'headers',
      backend.bearer_token === undefined ? '' : 'bearer_token',
    ].filter(Boolean)
  }
  return [
    backend.command === undefined ? '' : 'command',
    backend.args.length === 0 ? '' : 'args',
    Object.keys(backend.env).length === 0 ? '' : 'env',
    backend.inherit_env ? 'inherit_env' : '',
    backend.cwd === undefined ? '' : 'cwd',
    backend.isolation === 'session' ? 'isolation = "session"' : '',
    // Its default (100) cannot be told from one written; any other value was written.
    backend.max_processes === 100 ? '' : 'max_processes',
  ].filter(Boolean)
}

/** What every LLM API accepts in a tool name, so in a separator. */
const PORTABLE_SEPARATOR = /^[A-Za-z0-9_-]*$/
