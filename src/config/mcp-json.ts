/**
 * MCP client configuration files as backends. The clients' files differ in small ways, each
 * read as its client means it:
 * - the servers' object: `mcpServers` (Claude Desktop, Claude Code, Cursor, Windsurf, Cline,
 *   Roo, Gemini CLI), `servers` (VS Code) or `context_servers` (Zed's settings.json); or
 *   Continue's list, `mcpServers: [{ name, … }]` (its YAML, `requestOptions.headers`);
 * - a stdio server's `command` (Zed's older form: `command: { path, args, env }`);
 * - a remote server's `url`, Windsurf's `serverUrl`, Gemini CLI's `httpUrl` (Streamable
 *   HTTP; in a file that uses it, a plain `url` is Gemini's SSE endpoint, as in Cline's and
 *   Roo's files, recognised by their `autoApprove` / `alwaysAllow`);
 * - the transport in `type`, `transport` or Cline's `transportType` (`sse` is the legacy
 *   HTTP+SSE transport; `ws(s)://` URLs are WebSocket);
 * - a server switched off (`disabled: true`, or `enabled: false`) is not imported, nor a Zed
 *   extension's (only Zed can run it);
 * - tools switched off (Windsurf's `disabledTools`, Gemini's `excludeTools`) are hidden, and
 *   Gemini's `includeTools` is the list exposed.
 * OpenAI Codex's TOML file is turned into this form first (`codexServers`).
 * What cannot be carried over (VS Code's and Cursor's `envFile`, VS Code's `${input:…}`
 * prompts, Gemini CLI's `$NAME` variables, a `timeout` of unknown unit) is said through `warn`, never dropped or passed on silently. Entries are sorted by name, as mcp-proxy imports them.
 */
import { resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { ADMIN_NAMESPACE } from './gateway.ts'

export interface ImportOptions {
  /**
   * Rewrite names into Portico's backend-name alphabet (`my server` → `my-server`), each
   * one different from the others (`my-server-2`).
   */
  sanitize?: boolean
  /** Told what of the file is left out or not carried over (a disabled server, `envFile`). */
  warn?: (message: string) => void
  /**
   * Claude Code's `~/.claude.json`: also import this project's servers (`projects[PATH]`,
   * the "local" scope), beside the file's own (the "user" scope).
   */
  project?: string
}

/**
 * The file's servers' object. Claude Code's `~/.claude.json` keeps servers per project too
 * (`projects[PATH].mcpServers`): those of `project` join the file's own, and the others are
 * named in a warning, never imported unasked (two projects may name different servers alike).
 */
function serversOf(
  document: JsonObject,
  project: string | undefined,
  warn: (message: string) => void,
): JsonObject {
  const listed = document.mcpServers ?? document.servers ?? document.context_servers
  const own = Array.isArray(listed) ? serversFromList(listed, warn) : listed
  const projects = isObject(document.projects) ? document.projects : undefined
  if (projects === undefined) {
    if (project !== undefined)
      throw new Error('it has no "projects" (--project is for ~/.claude.json)')
    const experimental = isObject(document.experimental) ? document.experimental : {}
    if (!isObject(own) && experimental.modelContextProtocolServers !== undefined)
      throw new Error(
        'Continue\'s "experimental.modelContextProtocolServers" (its older config.json) is not read: list the servers under "mcpServers" as its config.yaml does, then import that',
      )
    if (!isObject(own))
      throw new Error(
        'expected a "mcpServers" object (or Continue\'s list, or "servers", or Zed\'s "context_servers")',
      )
    return own
  }
  const servers: JsonObject = { ...(isObject(own) ? own : {}) }
  if (project !== undefined) {
    // Claude Code keys projects by absolute path: `.`, `../app` and `app/` name them too.
    const chosen = projects[project] ?? projects[resolve(project)]
    if (!isObject(chosen)) {
      const paths = Object.keys(projects)
      const known = `${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', …' : ''}`
      throw new Error(`it has no project "${project}"${known ? ` (its projects: ${known})` : ''}`)
    }
    if (isObject(chosen.mcpServers)) Object.assign(servers, chosen.mcpServers)
  }
  const others = Object.entries(projects)
    .filter(([path, entry]) => path !== project && isObject(entry) && isObject(entry.mcpServers))
    .filter(([, entry]) => Object.keys((entry as JsonObject).mcpServers as JsonObject).length > 0)
    .map(([path]) => path)
  if (others.length > 0) {
    const shown = others.slice(0, 5).join(', ')
    const more = others.length > 5 ? ` and ${others.length - 5} more` : ''
    warn(
      `servers of projects ${shown}${more} are not imported (portico import --project PATH imports one)`,
    )
  }
  return servers
}

/**
 * Continue's `mcpServers`, a list of servers that each carry their `name` (its `config.yaml`,
 * and the JSON files in `.continue/mcpServers/`), as the object the other clients write. A
 * Hub block (`uses: owner/block`) is fetched by Continue only: named in a warning.
 */
function serversFromList(list: unknown[], warn: (message: string) => void): JsonObject {
  const servers: JsonObject = {}
  for (const [index, entry] of list.entries()) {
    if (isObject(entry) && typeof entry.uses === 'string' && entry.name === undefined) {
      warn(
        `mcpServers[${index}] is Continue Hub block "${entry.uses}", which only Continue can fetch: not imported`,
      )
      continue
    }
    if (!isObject(entry) || typeof entry.name !== 'string' || entry.name === '')
      throw new Error(`mcpServers[${index}] has no "name"`)
    if (entry.name in servers)
      throw new Error(`mcpServers[${index}]: a second server named "${entry.name}"`)
    const { name, ...server } = entry
    servers[name] = server
  }
  return servers
}

/** The servers of an MCP client config, as `[[backends]]` tables. Throws on a bad entry. */
export function importMcpJson(document: unknown, options: ImportOptions = {}): JsonObject[] {
  if (!isObject(document)) throw new Error('expected a JSON object')
  const warn = options.warn ?? (() => {})
  const servers = serversOf(document, options.project, warn)
  // A bare `url` is an SSE endpoint for Gemini CLI (which names Streamable HTTP `httpUrl`) and
  // for Cline and Roo (whose files carry `autoApprove` / `alwaysAllow`): they try SSE first.
  const bareUrlIsSse = Object.values(servers).some(
    (entry) =>
      isObject(entry) && ('httpUrl' in entry || 'autoApprove' in entry || 'alwaysAllow' in entry),
  )
  const inputs = inputDescriptions(document)
  const out: JsonObject[] = []
  for (const name of Object.keys(servers).sort()) {
    const entry = servers[name]
    if (!isObject(entry)) throw new Error(`server "${name}" is not an object`)
    if (entry.disabled === true || entry.enabled === false) {
      warn(`server "${name}" is disabled in the file: not imported`)
      continue
    }
    if (entry.source === 'extension') {
      warn(`server "${name}" is a Zed extension, which only Zed can run: not imported`)
      continue
    }
    const backendName = options.sanitize ? sanitizeName(name) : name
    const backend: JsonObject = { name: backendName }
    if (!stdioFrom(entry, backend, name) && !remoteFrom(entry, backend, name, bareUrlIsSse)) {
      throw new Error(`server "${name}" has neither a "command" nor a "url"`)
    }
    toolFilters(entry, backend, name, warn)
    codexTimeouts(entry, backend, name, warn)
    // Gemini CLI's and Cline's per-server deadline share a name, not a unit (milliseconds,
    // seconds), and the file does not say whose it is: said, not guessed.
    if (entry.timeout !== undefined)
      warn(
        `server "${name}": its timeout (${JSON.stringify(entry.timeout)}) is not carried over: Gemini CLI reads it in milliseconds, Cline in seconds; set the backend's timeout ("30s") in portico.toml`,
      )
    for (const [field, id] of promptedFields(backend)) {
      const prompt = inputs.get(id)
      warn(
        `server "${name}": ${field} holds VS Code's \${input:${id}}${prompt ? ` (${JSON.stringify(prompt)})` : ''}, a prompt Portico cannot show, and would be sent as written: replace it, e.g. with \${${variableFor(id)}} read from Portico's environment`,
      )
    }
    for (const [field, variable] of bareVariables(backend))
      warn(
        `server "${name}": ${field} holds $${variable}, which Gemini CLI reads from its environment and Portico would send as written: write \${${variable}} to read it from Portico's environment`,
      )
    if (entry.envFile !== undefined)
      warn(
        `server "${name}": its envFile is not read by Portico; put the variables it needs in env`,
      )
    out.push(backend)
  }
  return options.sanitize ? withDistinctNames(out, warn) : out
}

/**
 * OpenAI Codex's `config.toml` (`[mcp_servers.NAME]`) as the JSON form above: its
 * `bearer_token_env_var`, `env_http_headers` and `env_vars` name variables, which become
 * `${NAME}` read from Portico's environment; `enabled_tools` / `disabled_tools` are the tool
 * lists; `startup_timeout_sec` and `tool_timeout_sec` are read by `codexTimeouts`.
 */
export function codexServers(document: JsonObject): JsonObject | undefined {
  const servers = document.mcp_servers
  if (!isObject(servers)) return undefined
  const out: JsonObject = {}
  for (const [name, entry] of Object.entries(servers)) {
    if (!isObject(entry)) {
      out[name] = entry
      continue
    }
    const {
      bearer_token_env_var: token,
      http_headers: headers,
      env_http_headers: envHeaders,
      enabled_tools: enabled,
      disabled_tools: disabled,
      env_vars: vars,
      ...rest
    } = entry
    // Checked here, under Codex's own names (past this point they carry the JSON files').
    const includeTools = codexNames(name, 'enabled_tools', enabled, 'tool')
    const disabledTools = codexNames(name, 'disabled_tools', disabled, 'tool')
    const passed = codexNames(name, 'env_vars', vars, 'variable')
    // The server's credentials: dropped for a wrong type, it was contacted without them.
    codexTable(name, 'http_headers', headers)
    codexTable(name, 'env_http_headers', envHeaders)
    if (isObject(envHeaders)) {
      for (const [header, variable] of Object.entries(envHeaders)) {
        codexVariable(name, `env_http_headers: "${header}"`, variable)
      }
    }
    if (token !== undefined) codexVariable(name, 'bearer_token_env_var', token)
    const merged: JsonObject = { ...(isObject(headers) ? headers : {}) }
    if (isObject(envHeaders))
      for (const [header, variable] of Object.entries(envHeaders))
        merged[header] = `\${${variable}}`
    if (typeof token === 'string') merged.Authorization = `Bearer \${${token}}`
    // `env_vars` names variables Codex passes on from its own environment: `${NAME}` here.
    const env: JsonObject = isObject(rest.env) ? { ...rest.env } : {}
    for (const variable of passed ?? []) env[variable] = `\${${variable}}`
    out[name] = {
      ...rest,
      ...(Object.keys(env).length > 0 ? { env } : {}),
      ...(Object.keys(merged).length > 0 ? { headers: merged } : {}),
      ...(includeTools === undefined ? {} : { includeTools }),
      ...(disabledTools === undefined ? {} : { disabledTools }),
    }
  }
  return { mcpServers: out }
}

/** A variable a Codex key names (`${NAME}` in Portico's config); anything else is named. */
function codexVariable(server: string, key: string, value: unknown): void {
  if (typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return
  throw new Error(`server "${server}": ${key} must be a variable name`)
}

/** A Codex table of headers (`http_headers`, `env_http_headers`), or nothing; else named. */
function codexTable(server: string, key: string, value: unknown): void {
  if (value === undefined || isObject(value)) return
  throw new Error(`server "${server}": ${key} must be a table of header names`)
}

/** A Codex list of names (tools, variables); anything else stops the import, named. */
function codexNames(
  server: string,
  key: string,
  value: unknown,
  what: 'tool' | 'variable',
): string[] | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value
  throw new Error(`server "${server}": ${key} must be a list of ${what} names`)
}

/** A Codex `config.toml`'s text as the JSON form; throws when it has no `[mcp_servers]`. */
export function codexDocument(text: string): JsonObject {
  let raw: JsonObject
  try {
    raw = parseToml(text) as JsonObject
  } catch (error) {
    throw new Error(error instanceof Error ? error.message.split('\n')[0] : String(error))
  }
  const document = codexServers(raw)
  if (!document) throw new Error('expected [mcp_servers] tables (a Codex config.toml)')
  return document
}

/** A stdio server: `command` with `args`, `env`, `cwd`, or Zed's `command: { path, … }`. */
function stdioFrom(entry: JsonObject, backend: JsonObject, name: string): boolean {
  const spec = isObject(entry.command) ? entry.command : entry
  const command = isObject(entry.command) ? entry.command.path : entry.command
  if (typeof command !== 'string') return false
  backend.transport = 'stdio'
  backend.command = portableVariables(command)
  // What the process is started with is never guessed at: `"args": "-y pkg /srv"` (one
  // string) dropped, or `null` run as the argument "null", started another program.
  if (spec.args !== undefined) {
    const args = spec.args
    if (!Array.isArray(args) || !args.every(isScalar)) {
      throw new Error(`server "${name}": args must be a list of strings`)
    }
    backend.args = args.map((a) => portableVariables(String(a)))
  }
  if (spec.env !== undefined && !isObject(spec.env)) {
    throw new Error(`server "${name}": env must be an object of strings`)
  }
  if (isObject(spec.env) && Object.keys(spec.env).length > 0) {
    backend.env = stringRecord(spec.env, `server "${name}": env`)
  }
  if (entry.cwd !== undefined && typeof entry.cwd !== 'string') {
    throw new Error(`server "${name}": cwd must be a string (a folder)`)
  }
  if (typeof entry.cwd === 'string') backend.cwd = portableVariables(entry.cwd)
  return true
}

/** A value a file may write where a string is meant (`8080`, `true`), read as its text. */
function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
}

/** A remote server, its transport as the file's client reads it. */
function remoteFrom(
  entry: JsonObject,
  backend: JsonObject,
  name: string,
  bareUrlIsSse: boolean,
): boolean {
  const url = [entry.url, entry.serverUrl, entry.httpUrl].find((u) => typeof u === 'string')
  if (typeof url !== 'string') return false
  backend.transport = transportOf(entry, url, name, bareUrlIsSse)
  backend.url = portableVariables(url)
  // Continue writes a remote server's headers under `requestOptions`.
  const options = isObject(entry.requestOptions) ? entry.requestOptions : {}
  const headers = entry.headers ?? options.headers
  // Dropped, a server's credentials were never sent (`["Authorization: Bearer …"]`).
  if (headers !== undefined && !isObject(headers)) {
    throw new Error(`server "${name}": headers must be an object of strings`)
  }
  if (isObject(headers)) backend.headers = stringRecord(headers, `server "${name}": headers`)
  return true
}

const HTTP_TYPES = new Set(['http', 'streamable-http', 'streamableHttp', 'streamable_http'])

function transportOf(entry: JsonObject, url: string, name: string, bareUrlIsSse: boolean): string {
  const kind = entry.type ?? entry.transport ?? entry.transportType
  if (/^wss?:\/\//i.test(url)) return 'websocket'
  if (kind === 'sse') return 'sse'
  if (typeof kind === 'string' && !HTTP_TYPES.has(kind) && kind !== 'stdio')
    throw new Error(`server "${name}" has type "${kind}", which Portico cannot connect to`)
  if (kind === undefined && typeof entry.httpUrl !== 'string' && bareUrlIsSse) return 'sse'
  return 'http'
}

/**
 * Codex's per-server deadlines, in seconds: `startup_timeout_sec` (its older
 * `startup_timeout_ms`) bounds the server's start, Portico's `startup_timeout`;
 * `tool_timeout_sec` each tool call, Portico's `timeout` (each call's deadline).
 */
function codexTimeouts(
  entry: JsonObject,
  backend: JsonObject,
  name: string,
  warn: (message: string) => void,
): void {
  const seconds = (key: string, scale = 1): number | undefined => {
    const value = entry[key]
    if (value === undefined) return undefined
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value / scale
    warn(`server "${name}": ${key} is not a positive number: not carried over`)
    return undefined
  }
  const startup = seconds('startup_timeout_sec') ?? seconds('startup_timeout_ms', 1000)
  if (startup !== undefined) backend.startup_timeout = startup
  const tool = seconds('tool_timeout_sec')
  if (tool !== undefined) backend.timeout = tool
}

/** VS Code's `inputs` (`[{ id, description }]`): what each `${input:ID}` prompt asks for. */
function inputDescriptions(document: JsonObject): Map<string, string> {
  const found = new Map<string, string>()
  if (!Array.isArray(document.inputs)) return found
  for (const input of document.inputs) {
    if (isObject(input) && typeof input.id === 'string' && typeof input.description === 'string')
      found.set(input.id, input.description)
  }
  return found
}

const INPUT = /\$\{input:([^}]*)\}/g

/**
 * The fields of a backend that hold VS Code's `${input:ID}` prompts (`headers.Authorization`,
 * `args[2]`, …), with each prompt's id: only the editor can ask for them.
 */
function promptedFields(backend: JsonObject): Array<[string, string]> {
  return matchesIn(backend, INPUT)
}

/**
 * `$NAME` without braces: Gemini CLI reads it from its environment (its docs write
 * `"API_KEY": "$EXTERNAL_SERVICE_TOKEN"`); Portico reads only `${NAME}`, so the server would
 * get the text `$NAME` as its secret. Said, not rewritten: in the other clients' files a `$`
 * is a plain character.
 */
function bareVariables(backend: JsonObject): Array<[string, string]> {
  return matchesIn(backend, BARE_VARIABLE)
}

const BARE_VARIABLE = /(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)/g

/** Each field of a backend where `pattern` matches, with the match's first group. */
function matchesIn(backend: JsonObject, pattern: RegExp): Array<[string, string]> {
  const found: Array<[string, string]> = []
  const scan = (field: string, value: unknown) => {
    if (typeof value !== 'string') return
    for (const match of value.matchAll(pattern)) found.push([field, match[1] ?? ''])
  }
  for (const key of ['command', 'cwd', 'url']) scan(key, backend[key])
  if (Array.isArray(backend.args))
    for (const [i, arg] of backend.args.entries()) scan(`args[${i}]`, arg)
  for (const key of ['env', 'headers']) {
    const record = backend[key]
    if (isObject(record))
      for (const [name, value] of Object.entries(record)) scan(`${key}.${name}`, value)
  }
  return found
}

/** A variable name for a prompt's id, to suggest in its place: `github-token` → GITHUB_TOKEN. */
function variableFor(id: string): string {
  const name = id
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase()
  return /^[A-Z_]/.test(name) ? name : `INPUT_${name}`
}

/**
 * Tools a client switched off stay off; Gemini's `includeTools` is what is exposed. These are
 * a client's limits on what a server may do, so they fail closed: a list that is not a list of
 * names stops the import, and an include list that leaves nothing (every name also excluded,
 * or none given) exposes no tool, as in the client, never every tool.
 */
function toolFilters(
  entry: JsonObject,
  backend: JsonObject,
  server: string,
  warn: (message: string) => void,
): void {
  const names = (key: string): string[] => {
    const value = entry[key]
    if (value === undefined) return []
    if (!Array.isArray(value) || !value.every((name) => typeof name === 'string'))
      throw new Error(`server "${server}": ${key} must be a list of tool names`)
    return value
  }
  const hidden = [...names('disabledTools'), ...names('excludeTools')]
  if (entry.includeTools !== undefined) {
    const included = names('includeTools').filter((tool) => !hidden.includes(tool))
    if (included.length > 0) backend.expose_tools = included
    else {
      backend.hide_tools = ['*']
      warn(
        `server "${server}": includeTools leaves no tool once excludeTools is applied: none exposed`,
      )
    }
  } else if (hidden.length > 0) backend.hide_tools = hidden
}

/**
 * Two servers whose names sanitize alike (`my server`, `my-server`) get a number each, within
 * the 32 characters a name may have however many there are; so does one named `portico`, the
 * admin tools' namespace (said: its tools' names change).
 */
function withDistinctNames(backends: JsonObject[], warn: (message: string) => void): JsonObject[] {
  const seen = new Set<string>([ADMIN_NAMESPACE])
  for (const backend of backends) {
    const base = String(backend.name)
    let name = base
    for (let n = 2; seen.has(name); n++) {
      const suffix = `-${n}`
      name = `${base.slice(0, MAX_NAME_LENGTH - suffix.length)}${suffix}`
    }
    if (base === ADMIN_NAMESPACE)
      warn(
        `server "${base}" is named "${name}": "${ADMIN_NAMESPACE}" is the namespace of Portico's admin tools`,
      )
    backend.name = name
    seen.add(name)
  }
  return backends
}

/** The longest backend name (`sanitizeName`). */
const MAX_NAME_LENGTH = 32

function stringRecord(value: JsonObject, where: string): JsonObject {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      // `null` or an object would reach the process as the text "null" or "[object Object]".
      if (!isScalar(v)) throw new Error(`${where}: "${k}" must be a string`)
      return [k, portableVariables(String(v))]
    }),
  )
}

/**
 * VS Code's and Cursor's `${env:NAME}`, and Continue's `${{ secrets.NAME }}` (which it reads
 * from its `.env` files), as Portico's `${NAME}` (read from Portico's environment when the
 * config loads). Claude Code's `${NAME}` and `${NAME:-default}` are
 * Portico's syntax already and stay as written; VS Code's `${input:…}` (a prompt) and
 * `${workspaceFolder}` have no meaning outside the editor and stay literal (a prompt is named
 * in a warning, with the field that holds it: `promptedFields`).
 */
export function portableVariables(text: string): string {
  return text
    .replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => `\${${name}}`)
    .replace(
      /\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g,
      (_, name: string) => `\${${name}}`,
    )
}

/**
 * Portico's backend-name alphabet: 1-32 of `[A-Za-z0-9_-]`, without `__` (the gateway's
 * separator: `a__b` would make `a__b__tool` ambiguous) and without a `_` or `-` at either
 * end (`a_` would clash with `a` as a prefix: `a___tool`).
 */
export function sanitizeName(name: string): string {
  const trimEnds = (text: string) => text.replace(/^[-_]+|[-_]+$/g, '')
  const clean = trimEnds(
    trimEnds(name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/_{2,}/g, '_')).slice(
      0,
      MAX_NAME_LENGTH,
    ),
  )
  return clean === '' ? 'server' : clean
}
