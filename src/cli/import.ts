/**
 * `portico import FILE` (declared in commands/import.ts): writes a commented portico.toml from
 * another tool's file: an MCP client config (Claude Desktop's `claude_desktop_config.json`,
 * `.mcp.json`, VS Code's `mcp.json`: each server becomes a backend, as mcp-proxy's
 * `--from-mcp-json`) or an `mcpr.toml` (its keys under Portico's names, with what Portico
 * lacks commented out).
 */
import { basename } from 'node:path'
import { parse as parseToml, stringify } from 'smol-toml'
import { ignoredKey } from '../config/dropin.ts'
import { unsetVariable } from '../config/interpolate.ts'
import { ConfigError, formatProblems, loadConfig } from '../config/load.ts'
import { codexServers, importMcpJson } from '../config/mcp-json.ts'
import { NotUtf8Error, parseClientConfig, readTextFile } from '../config/text-file.ts'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { UserError } from './errors.ts'
import { renderConfig, writeConfig } from './write-config.ts'

export interface ImportFlags {
  output: string
  force?: boolean
  project?: string
}

export async function importConfig(file: string, flags: ImportFlags): Promise<void> {
  const text = readSource(file)
  // Said at once: what the file leaves out explains an import that finds nothing to write.
  const warn = (note: string) => process.stderr.write(`warning: ${file}: ${note}\n`)
  const config = /\.toml$/i.test(file)
    ? fromToml(text, file, warn)
    : fromMcpJson(text, file, warn, flags.project)
  const warnings = await writeConfig(config, flags.output, flags.force === true, file)
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`)
  if (flags.output !== '-')
    process.stderr.write(`wrote ${flags.output}: check it with portico check -c ${flags.output}\n`)
}

function readSource(file: string): string {
  try {
    return readTextFile(file)
  } catch (error) {
    if (error instanceof NotUtf8Error) throw new UserError(`${file}: ${error.message}`)
    throw new UserError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`)
  }
}

function fromMcpJson(
  text: string,
  file: string,
  warn: (note: string) => void,
  project?: string,
): string {
  return fromClientConfig(() => parseClientConfig(text, file), file, warn, project)
}

/** An MCP client's servers (already parsed, or parsed by `read`) as a gateway config. */
function fromClientConfig(
  read: () => unknown,
  file: string,
  warn: (note: string) => void,
  project?: string,
): string {
  let backends: JsonObject[]
  try {
    const options = { sanitize: true, warn, ...(project === undefined ? {} : { project }) }
    backends = importMcpJson(read(), options)
  } catch (error) {
    throw new UserError(`${file}: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (backends.length === 0) throw new UserError(`${file}: no enabled MCP servers in it`)
  return renderConfig({
    by: `portico import ${basename(file)}`,
    backends,
    source: basename(file),
    host: '127.0.0.1',
    port: 3000,
  })
}

/** mcpr's top-level keys Portico reads under the same name, with what each does. */
const MCPR_SCALARS: ReadonlyArray<[string, string]> = [
  ['name', 'proxy name recorded with every exchange'],
  ['widgets', 'where widget assets (non-MCP traffic) come from: a dev server URL or a folder'],
  ['port', 'listen port (mcpr listens on every interface; Portico on host, below)'],
  ['max_request_body_size', 'bytes; larger requests get 413'],
  ['max_response_body_size', 'bytes; larger answers are refused'],
  ['max_concurrent_upstream', 'calls in flight to the upstream at most; more wait'],
  ['connect_timeout', 'seconds'],
  ['request_timeout', 'seconds until the upstream answers, else 504'],
  ['drain_timeout', 'seconds in-flight requests get on SIGTERM'],
  ['admin_bind', 'the admin API (health, backends, metrics) on its own listener'],
  ['no_tunnel', 'true: no tunnel, even with [tunnel] enabled (mcpr 0.1)'],
]

/** mcpr's tables Portico reads as written: [tunnel] by `portico run`, [relay] by `portico relay`. */
const MCPR_TABLES = ['csp', 'cloud', 'auth', 'tunnel', 'relay']
/** mcpr's keys that say a TOML file is an mcpr.toml (besides MCPR_SCALARS). */
const MCPR_KEYS = ['mcp', 'runtime', 'mode', 'logging', 'log_format', 'store', ...MCPR_TABLES]

/** Every mcpr key this import carries over. */
const MCPR_KNOWN: ReadonlySet<string> = new Set([...MCPR_KEYS, ...MCPR_SCALARS.map(([key]) => key)])

/** A TOML file: OpenAI Codex's `config.toml` (its `[mcp_servers]`) or an `mcpr.toml`. */
function fromToml(text: string, file: string, warn: (note: string) => void): string {
  let raw: JsonObject
  try {
    raw = parseToml(text) as JsonObject
  } catch (error) {
    throw new UserError(`${file}: ${error instanceof Error ? error.message.split('\n')[0] : error}`)
  }
  let codex: JsonObject | undefined
  try {
    codex = codexServers(raw)
  } catch (error) {
    // A server's key of the wrong type, named: the file's problem, not a bug.
    throw new UserError(`${file}: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (codex) return fromClientConfig(() => codex, file, warn)
  // mcp-proxy's proxy.toml, and Portico's own file, load as they are. Taken for an mcpr.toml
  // (they share [auth] and port), every backend and [proxy] key was dropped, with exit 0.
  const own = OWN_KEYS.filter((key) => raw[key] !== undefined)
  if (own.length > 0)
    throw new UserError(
      `${file}: Portico reads it as it is (it has ${own.join(', ')}): nothing to convert; check it with portico check -c ${file}, run it with portico run -c ${file}`,
    )
  if (!Object.keys(raw).some((key) => MCPR_KNOWN.has(key)))
    throw new UserError(
      `${file}: neither an mcpr.toml (no mcp, [csp], [store], …) nor a Codex config.toml (no [mcp_servers])`,
    )
  checkMcprToml(file)
  return fromMcprToml(raw, file, warn)
}

/**
 * Portico loads an mcpr.toml as it is: a value it refuses there (a host-less `mcp`, a port
 * past 65535) is the file's problem, named at its line and key as `portico check` names it.
 * A variable unset here is not (it need only be set where Portico runs), nor a key the
 * import does not carry over (MCPR_KNOWN are those it does).
 */
function checkMcprToml(file: string): void {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('PORTICO_')),
  )
  try {
    loadConfig({ file, env })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const problems = error.problems.filter(
      (problem) =>
        unsetVariable(problem) === undefined && MCPR_KNOWN.has(problem.path.split(/[.[]/)[0] ?? ''),
    )
    if (problems.length > 0)
      throw new UserError(
        `${formatProblems(error.file, problems)}\nnothing written: fix ${file}, then import it again`,
      )
  }
}

/** Keys of mcp-proxy's config and Portico's that no mcpr.toml has. */
const OWN_KEYS = ['backends', 'proxy', 'upstream']

function fromMcprToml(raw: JsonObject, file: string, warn: (note: string) => void): string {
  const runtime = isObject(raw.runtime) ? raw.runtime : {}
  const value = (key: string) => raw[key] ?? runtime[key]
  const out: string[] = [
    `# Portico configuration, written by \`portico import ${basename(file)}\` from mcpr's file.`,
    '# Check it with `portico check`, run it with `portico run` (both find ./portico.toml).',
    '',
  ]
  const line = (key: string, v: unknown) => stringify({ [key]: v }).trim()
  if (raw.mcp !== undefined)
    out.push("# The MCP server Portico fronts (mcpr's `mcp`).", line('upstream', raw.mcp))
  const store = isObject(raw.store) ? raw.store : undefined
  if (raw.name === undefined && typeof store?.name === 'string') raw.name = store.name
  for (const [key, what] of MCPR_SCALARS) {
    const v = value(key)
    if (v !== undefined) out.push(`# ${what}`, line(key, v))
  }
  out.push(
    '# mcpr listens on every interface; this listens on this machine only. host = "0.0.0.0"',
    '# (or --host 0.0.0.0) serves other machines too: a container, a server.',
    'host = "127.0.0.1"',
  )
  const format = value('log_format')
  if (format !== undefined)
    out.push('# log_format = "json" in mcpr', line('json_logs', format === 'json'))
  const skipped: string[] = []
  for (const key of ['mode', 'logging']) {
    if (raw[key] === undefined) continue
    const why =
      key === 'logging'
        ? 'log files are not implemented (Portico logs to stderr)'
        : ignoredKey(key, raw[key])?.message
    if (key === 'mode' && raw[key] === 'gateway') continue
    skipped.push(`# ${why ?? `${key} is not used by Portico`}:`)
    for (const l of stringify({ [key]: raw[key] })
      .trim()
      .split('\n'))
      skipped.push(`# ${l}`)
  }
  // Keys this import does not know (mcpr's first generation's flat tunnel_token, relay_url,
  // no_tunnel; a misspelling, which mcpr ignored): said and kept as comments, never dropped.
  for (const key of Object.keys(raw).filter((key) => !MCPR_KNOWN.has(key))) {
    warn(`${key} is not carried over: Portico has no such mcpr key (see the file's end)`)
    skipped.push(`# ${key} is not an mcpr key Portico reads:`)
    for (const l of stringify({ [key]: raw[key] })
      .trim()
      .split('\n'))
      skipped.push(`# ${l}`)
  }
  const tables: JsonObject = {}
  for (const key of MCPR_TABLES) if (raw[key] !== undefined) tables[key] = raw[key]
  if (store) {
    const { name: _name, ...rest } = store
    if (Object.keys(rest).length > 0) tables.store = rest
  }
  out.push('')
  if (Object.keys(tables).length > 0) out.push(stringify(tables).trim(), '')
  if (skipped.length > 0) out.push('# Not carried over:', ...skipped, '')
  return `${out.join('\n').trimEnd()}\n`
}
