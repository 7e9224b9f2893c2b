/**
 * MCP client configuration files as backends: Claude Desktop's `claude_desktop_config.json`,
 * Cursor's and Claude Code's `.mcp.json` (`mcpServers`), and VS Code's `mcp.json` (`servers`).
 * An entry with a `command` is a stdio backend; one with a `url` an HTTP backend (`sse` when
 * its `type`/`transport` says so). Entries are sorted by name, as mcp-proxy imports them.
 */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'

export interface ImportOptions {
  /**
   * Rewrite names into Portico's backend-name alphabet (`my server` → `my-server`), each
   * one different from the others (`my-server-2`).
   */
  sanitize?: boolean
}

/** The servers of an MCP client config, as `[[backends]]` tables. Throws on a bad entry. */
export function importMcpJson(document: unknown, options: ImportOptions = {}): JsonObject[] {
  if (!isObject(document)) throw new Error('expected a JSON object')
  const servers = document.mcpServers ?? document.servers
  if (!isObject(servers)) throw new Error('expected a "mcpServers" (or "servers") object')
  const out: JsonObject[] = []
  for (const name of Object.keys(servers).sort()) {
    const entry = servers[name]
    if (!isObject(entry)) throw new Error(`server "${name}" is not an object`)
    const backendName = options.sanitize ? sanitizeName(name) : name
    const backend: JsonObject = { name: backendName }
    if (typeof entry.command === 'string') {
      backend.transport = 'stdio'
      backend.command = portableVariables(entry.command)
      if (Array.isArray(entry.args))
        backend.args = entry.args.map((a) => portableVariables(String(a)))
      if (isObject(entry.env)) backend.env = stringRecord(entry.env)
      if (typeof entry.cwd === 'string') backend.cwd = portableVariables(entry.cwd)
    } else if (typeof entry.url === 'string') {
      const kind = entry.type ?? entry.transport
      backend.transport = kind === 'sse' ? 'sse' : 'http'
      backend.url = portableVariables(entry.url)
      if (isObject(entry.headers)) backend.headers = stringRecord(entry.headers)
    } else {
      throw new Error(`server "${name}" has neither a "command" nor a "url"`)
    }
    out.push(backend)
  }
  return options.sanitize ? withDistinctNames(out) : out
}

/** Two servers whose names sanitize alike (`my server`, `my-server`) get a number each. */
function withDistinctNames(backends: JsonObject[]): JsonObject[] {
  const seen = new Set<string>()
  for (const backend of backends) {
    const base = String(backend.name)
    let name = base
    for (let n = 2; seen.has(name); n++) name = `${base.slice(0, 29)}-${n}`
    backend.name = name
    seen.add(name)
  }
  return backends
}

function stringRecord(value: JsonObject): JsonObject {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, portableVariables(String(v))]),
  )
}

/**
 * VS Code's and Cursor's `${env:NAME}` as Portico's `${NAME}` (read from Portico's
 * environment when the config loads). Claude Code's `${NAME}` and `${NAME:-default}` are
 * Portico's syntax already and stay as written; VS Code's `${input:…}` (a prompt) and
 * `${workspaceFolder}` have no meaning outside the editor and stay literal.
 */
export function portableVariables(text: string): string {
  return text.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => `\${${name}}`)
}

/**
 * Portico's backend-name alphabet: 1-32 of `[A-Za-z0-9_-]`, without `__` (the gateway's
 * separator: `a__b` would make `a__b__tool` ambiguous) and without a `_` or `-` at either
 * end (`a_` would clash with `a` as a prefix: `a___tool`).
 */
export function sanitizeName(name: string): string {
  const trimEnds = (text: string) => text.replace(/^[-_]+|[-_]+$/g, '')
  const clean = trimEnds(
    trimEnds(name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/_{2,}/g, '_')).slice(0, 32),
  )
  return clean === '' ? 'server' : clean
}
