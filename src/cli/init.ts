/**
 * `portico init` (alias `portico proxy setup`, as in mcpr; declared in commands/init.ts): asks
 * for the upstream (a URL, or an MCP client config whose servers become backends), the listen
 * address, the store, the public URL and the widget CSP domains, and writes a commented
 * portico.toml. On a terminal it asks (node:readline); with `--yes`, or when stdin is not a
 * terminal, it takes the flags and the defaults without asking, for scripts.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface, type Interface } from 'node:readline/promises'
import { domainSchema, hasPlainHost, PLAIN_HOST_MESSAGE } from '../config/csp.ts'
import { codexDocument, importMcpJson } from '../config/mcp-json.ts'
import { parseClientConfig, readTextFile } from '../config/text-file.ts'
import type { JsonObject } from '../jsonrpc/message.ts'
import { UserError } from './errors.ts'
import { checkHostFlag } from './host-flag.ts'
import { type ConfigPlan, renderConfig, writeConfig } from './write-config.ts'

export interface InitFlags {
  upstream?: string
  from?: string
  host?: string
  port?: number
  db?: string
  store?: boolean
  publicUrl?: string
  csp?: string
  output: string
  force?: boolean
  yes?: boolean
}

const DEFAULT_UPSTREAM = 'http://127.0.0.1:9000/mcp'

/** Where MCP client configs usually are, with servers in them, to offer one as the source of backends. */
function knownClientConfigs(cwd: string): string[] {
  const home = homedir()
  return [
    join(cwd, '.mcp.json'),
    join(cwd, 'mcp.json'),
    join(cwd, '.vscode', 'mcp.json'),
    join(cwd, '.cursor', 'mcp.json'),
    join(home, '.cursor', 'mcp.json'),
    join(home, '.codeium', 'windsurf', 'mcp_config.json'),
    join(home, '.gemini', 'settings.json'),
    join(home, '.config', 'Claude', 'claude_desktop_config.json'),
    join(home, 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json'),
    join(
      process.env.APPDATA ?? join(home, 'AppData', 'Roaming'),
      'Claude',
      'claude_desktop_config.json',
    ),
  ].filter((path) => existsSync(path) && hasServers(path))
}

/** A settings file (Gemini's, Zed's) may have no MCP servers at all: not worth offering. */
function hasServers(path: string): boolean {
  try {
    return importMcpJson(parseClientConfig(readTextFile(path), path)).length > 0
  } catch {
    return false
  }
}

export async function writeInitConfig(flags: InitFlags): Promise<void> {
  const interactive = flags.yes !== true && process.stdin.isTTY === true
  const plan = interactive ? await ask(flags) : fromFlags(flags)
  const text = renderConfig(plan)
  const warnings = await writeConfig(text, flags.output, flags.force === true)
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`)
  if (flags.output !== '-') {
    process.stdout.write(
      `Wrote ${flags.output}. Next: portico check -c ${flags.output} && portico run -c ${flags.output}\n`,
    )
  }
}

function fromFlags(flags: InitFlags): ConfigPlan {
  const plan: ConfigPlan = {
    by: 'portico init',
    host: checkHostFlag(flags.host ?? '127.0.0.1'),
    port: flags.port ?? 3000,
    cspDomains: cspDomains(flags.csp ?? '', '--csp'),
  }
  if (flags.from !== undefined) Object.assign(plan, backendsFrom(flags.from))
  else plan.upstream = checkUrl(flags.upstream ?? DEFAULT_UPSTREAM, '--upstream')
  if (flags.store === false) plan.store = false
  else if (flags.db !== undefined) plan.store = checkPath(flags.db, '--db')
  if (flags.publicUrl !== undefined) plan.publicUrl = checkPublicUrl(flags.publicUrl)
  return plan
}

function backendsFrom(file: string): { backends: JsonObject[]; source: string } {
  try {
    const warn = (note: string) => process.stderr.write(`warning: ${file}: ${note}\n`)
    const text = readTextFile(file)
    // A TOML file here is OpenAI Codex's config.toml, a YAML file Continue's; the rest, JSON.
    const document = /\.toml$/i.test(file) ? codexDocument(text) : parseClientConfig(text, file)
    const backends = importMcpJson(document, { sanitize: true, warn })
    if (backends.length === 0) throw new Error('no enabled MCP servers in it')
    return { backends, source: basename(file) }
  } catch (error) {
    throw new UserError(`${file}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

function checkUrl(value: string, what: string): string {
  if (/^https?:\/\/[^/]+/i.test(value) && URL.canParse(value)) return value
  throw new UserError(`${what}: expected an http:// or https:// URL, got "${value}"`, 2)
}

function checkPublicUrl(value: string): string {
  const url = checkUrl(value, '--public-url')
  if (hasPlainHost(url)) return url
  throw new UserError(`--public-url: ${PLAIN_HOST_MESSAGE}, got "${value}"`, 2)
}

function checkPath(value: string, what: string): string {
  if (value.trim() !== '') return value
  throw new UserError(`${what}: expected a file path, got "${value}" (--no-store for none)`, 2)
}

/**
 * Widget CSP domains, comma- or space-separated, each checked as the config checks it: a bad
 * one is the flag's usage error, not a generated file that "does not load (a bug)".
 */
function cspDomains(text: string, what: string): string[] {
  const list = splitList(text)
  for (const domain of list) {
    const checked = domainSchema.safeParse(domain)
    if (!checked.success) {
      const message = checked.error.issues[0]?.message ?? 'not a domain'
      throw new UserError(`${what}: ${JSON.stringify(domain)}: ${message}`, 2)
    }
  }
  return list
}

function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** The wizard: one question at a time, the default in brackets; a bad answer asks again. */
async function ask(flags: InitFlags): Promise<ConfigPlan> {
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  // Lines are read through the iterator, which keeps those typed ahead (or pasted) for the
  // next questions; Ctrl+D (the end of input) stops the wizard.
  const lines = rl[Symbol.asyncIterator]()
  const askUntil = (question: string, fallback: string, accept: (answer: string) => void) =>
    askOne(rl, lines, question, fallback, accept)
  try {
    process.stdout.write(
      'Portico setup: answer each question, or press Enter for [the default].\n\n',
    )
    const plan: ConfigPlan = { by: 'portico init', host: '127.0.0.1', port: 3000 }
    const found = knownClientConfigs(process.cwd())
    const sourceDefault = flags.from ?? flags.upstream ?? DEFAULT_UPSTREAM
    if (found.length > 0) {
      process.stdout.write(`MCP client configs found (their servers can become backends):\n`)
      for (const path of found) process.stdout.write(`  ${path}\n`)
    }
    await askUntil(
      'MCP server URL, or an MCP client config file to import',
      sourceDefault,
      (answer) => {
        if (/^https?:\/\//i.test(answer)) {
          plan.upstream = checkUrl(answer, 'the URL')
          return
        }
        Object.assign(plan, backendsFrom(answer))
      },
    )
    await askUntil('Listen address (0.0.0.0 = every interface)', flags.host ?? '127.0.0.1', (a) => {
      plan.host = a
    })
    await askUntil('Listen port', String(flags.port ?? 3000), (a) => {
      if (!/^\d+$/.test(a) || Number(a) > 65535) throw new UserError('expected a port, 0-65535')
      plan.port = Number(a)
    })
    const storeDefault = flags.store === false ? 'none' : (flags.db ?? '~/.portico/store.db')
    await askUntil('Store path ("none" to record nothing)', storeDefault, (a) => {
      if (a === 'none') plan.store = false
      else if (a !== '~/.portico/store.db') plan.store = a
    })
    await askUntil(
      'Public URL, behind a TLS proxy (Enter for none)',
      flags.publicUrl ?? '',
      (a) => {
        if (a !== '') plan.publicUrl = checkUrl(a, 'the public URL')
      },
    )
    await askUntil('Widget CSP domains, comma-separated (Enter for none)', flags.csp ?? '', (a) => {
      plan.cspDomains = cspDomains(a, 'a domain')
    })
    return plan
  } finally {
    rl.close()
  }
}

async function askOne(
  rl: Interface,
  lines: AsyncIterator<string>,
  question: string,
  fallback: string,
  accept: (answer: string) => void,
): Promise<void> {
  for (;;) {
    rl.setPrompt(`${question} [${fallback}]: `)
    rl.prompt()
    const next = await lines.next()
    if (next.done) throw new UserError('input ended before the setup finished')
    const answer = next.value.trim() || fallback
    try {
      accept(answer)
      return
    } catch (error) {
      process.stdout.write(
        `  ${error instanceof Error ? error.message : String(error)}: try again\n`,
      )
    }
  }
}
