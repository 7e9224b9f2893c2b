/**
 * Writes a commented `portico.toml` from what `portico init` asked or `portico import` read:
 * an upstream (transparent mode) or backends (gateway mode), the listen address, the store,
 * the public URL and widget CSP domains. Values are written with smol-toml, so any string
 * (a Windows path, a quote in an argument) is escaped correctly.
 */
import { existsSync } from 'node:fs'
import { parse as parseToml, stringify } from 'smol-toml'
import { unsetVariable } from '../config/interpolate.ts'
import { ConfigError, loadConfigText } from '../config/load.ts'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import { replaceFile } from '../util/replace-file.ts'
import { UserError } from './errors.ts'

export interface ConfigPlan {
  /** Transparent mode: the MCP endpoint Portico fronts. */
  upstream?: string
  /** Gateway mode: `[[backends]]` tables, and the file they came from. */
  backends?: JsonObject[]
  source?: string
  host: string
  port: number
  /** The store path; `false` turns recording off; undefined keeps the default. */
  store?: string | false
  publicUrl?: string
  cspDomains?: string[]
  /** Written by (for the header). */
  by: string
}

/** One `key = value` line (smol-toml quotes the key when it needs to). */
function line(key: string, value: unknown): string {
  return stringify({ [key]: value }).trim()
}

export function renderConfig(plan: ConfigPlan): string {
  const out: string[] = [
    `# Portico configuration, written by \`${plan.by}\`.`,
    '# Check it with `portico check`, run it with `portico run` (both find ./portico.toml).',
    '# Every key is described in the README ("Configuration"); flags and PORTICO_* override it.',
    '',
  ]
  if (plan.upstream !== undefined) {
    out.push(
      '# The MCP server Portico fronts (transparent mode): every request is forwarded to it.',
      line('upstream', plan.upstream),
      '',
    )
  }
  out.push(
    '# Where MCP clients connect: http://<host>:<port>/mcp. 127.0.0.1 serves this machine',
    '# only; host = "0.0.0.0" listens on every interface (a container, a server).',
    line('host', plan.host),
    line('port', plan.port),
    '',
    '# The origin clients reach Portico at, when it sits behind a TLS proxy or a load balancer:',
    "# rewritten into widget CSP and OAuth metadata (default: the request's Host).",
    plan.publicUrl
      ? line('public_url', plan.publicUrl)
      : '# public_url = "https://mcp.example.com"',
    '',
  )
  if (plan.store === false) {
    out.push(
      '# Recording is off: portico status / logs have nothing to show.',
      '[store]',
      'enabled = false',
      '',
    )
  } else {
    out.push(
      '# Every exchange is recorded in this SQLite store; read it with `portico status`,',
      '# `portico logs`, `portico sessions` (its folder must exist).',
      '[store]',
      plan.store === undefined ? '# path = "~/.portico/store.db"' : line('path', plan.store),
      '# retention = "30d"   # delete older records every hour',
      '',
    )
  }
  if (plan.cspDomains && plan.cspDomains.length > 0) {
    out.push(
      '# MCP Apps widgets may fetch from these origins (added to what the server declares).',
      '[csp.connectDomains]',
      line('domains', plan.cspDomains),
      'mode = "extend"',
      '',
      '[csp.resourceDomains]',
      line('domains', plan.cspDomains),
      'mode = "extend"',
      '',
    )
  }
  if (plan.backends && plan.backends.length > 0) {
    out.push(
      `# Gateway mode: the servers of ${plan.source ?? 'the imported file'}, behind one endpoint. Each`,
      '# one\'s tools and prompts are listed as <name>__<tool>; [proxy] separator changes "__".',
      '[proxy]',
      'separator = "__"',
      '',
    )
    for (const backend of plan.backends) out.push(renderBackend(backend))
  }
  return `${out.join('\n').trimEnd()}\n`
}

/** `${VAR}` as a config file writes it (built so it is not mistaken for a template). */
const VAR_REF = ['$', '{VAR}'].join('')

function renderBackend(backend: JsonObject): string {
  const { env, headers, ...rest } = backend
  const lines = ['[[backends]]', ...Object.entries(rest).map(([k, v]) => line(k, v))]
  const table = (name: string, value: unknown, comment?: string) => {
    if (value === null || typeof value !== 'object' || Object.keys(value).length === 0) return
    lines.push(...(comment ? [comment] : []), `[backends.${name}]`)
    for (const [k, v] of Object.entries(value)) lines.push(line(k, v))
  }
  table(
    'env',
    env,
    `# Copied from the imported file: put secrets in the environment and write "${VAR_REF}" here.`,
  )
  table('headers', headers)
  return `${lines.join('\n')}\n`
}

/**
 * Writes `text` to `file` (or stdout for `-`), refusing to replace a file unless `force`,
 * replacing it in one step (util/replace-file.ts);
 * validates it first the way `portico check` would, so what is written loads.
 */
export async function writeConfig(
  text: string,
  file: string,
  force: boolean,
  source?: string,
): Promise<string[]> {
  const warnings = checkWritten(text, file, source)
  if (file === '-') {
    process.stdout.write(text)
    return warnings
  }
  if (existsSync(file) && !force)
    throw new UserError(`${file} exists: pass --force to replace it, or -o another file`)
  // In one step: a replaced config (--force) that a running Portico watches is never half
  // written, and a failed write leaves the old one whole.
  try {
    await replaceFile(file, text)
  } catch (error) {
    // A missing folder, a folder named as the file, no permission: said, not a stack trace.
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'its folder does not exist'
        : code === 'EISDIR'
          ? 'it is a folder'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : (code ?? String(error))
    throw new UserError(`cannot write ${file}: ${why}`)
  }
  return warnings
}

/** The `[[backends]]` names of a config text written here, by index. */
function backendNames(text: string): string[] {
  const backends = (parseToml(text) as JsonObject).backends
  return Array.isArray(backends)
    ? backends.map((b) => (isObject(b) && typeof b.name === 'string' ? b.name : ''))
    : []
}

/**
 * What `portico check` would say of the text: its warnings, or a UserError. A variable the
 * imported file names (`${GITHUB_TOKEN}`) need not be set where the file is converted, only
 * where Portico runs: that is a warning; anything else would be a bug of the writer.
 */
function checkWritten(text: string, file: string, source?: string): string[] {
  try {
    return loadConfigText(text, { label: file, env: process.env }).warnings
  } catch (error) {
    const problems = error instanceof ConfigError ? error.problems : []
    const unset = [...new Set(problems.map(unsetVariable))]
    if (problems.length > 0 && !unset.includes(undefined)) {
      return [
        `${unset.join(', ')} ${unset.length === 1 ? 'is' : 'are'} not set here: set ${unset.length === 1 ? 'it' : 'them'} in Portico's environment before portico run`,
      ]
    }
    // An imported file's value Portico refuses (a URL that is no URL): the file's problem,
    // named by its server and field.
    const named = source === undefined ? [] : problems.filter((p) => unsetVariable(p) === undefined)
    if (source !== undefined && named.length > 0) {
      const servers = backendNames(text)
      const lines = named.map((problem) => {
        const backend = /^backends\[(\d+)\]\.?(.*)$/.exec(problem.path)
        const where = backend
          ? `server "${servers[Number(backend[1])] ?? backend[1]}": ${backend[2] || 'it'}`
          : problem.path || 'its servers'
        return `${source}: ${where}: ${problem.message}`
      })
      throw new UserError(
        `${lines.join('\n')}\nnothing written: fix ${source}, then import it again`,
      )
    }
    throw new UserError(
      `the generated configuration does not load (a bug, please report it):\n${String(error)}`,
    )
  }
}
