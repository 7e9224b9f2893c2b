/**
 * Setting up from what users have: `portico init` answered through a real pseudo-terminal
 * (util-linux `script -e`: its exit code is the wizard's), and with flags for scripts; `portico import` of a Claude Desktop
 * config (run afterwards: the servers answer as backends to a real SDK client) and of
 * mcpr.toml files (the result loads to the same settings).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfig } from '../../src/config/load.ts'
import { CLI, cliEnv, runCliSync, startCli } from '../helpers/cli.ts'
import { serverBin } from '../helpers/mcp-servers.ts'
import { exitOf } from '../helpers/processes.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const SEEDS = join(ROOT, 'test', 'fixtures', 'seeds')
/** Spells a `${…}` reference in a template string (a plain string with one trips the linter). */
const DOLLAR = '$'
const dir = mkdtempSync(join(tmpdir(), 'portico-setup-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A Claude Desktop config in its documented shape, with servers this machine can start. */
function claudeDesktopConfig(served: string): string {
  const path = join(dir, 'claude_desktop_config.json')
  writeFileSync(
    path,
    JSON.stringify(
      {
        mcpServers: {
          filesystem: { command: process.execPath, args: [serverBin('filesystem'), served] },
          'memory server': {
            command: process.execPath,
            args: [serverBin('memory')],
            env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') },
          },
        },
      },
      null,
      2,
    ),
  )
  return path
}

/**
 * Runs `portico init` in a pseudo-terminal and answers each prompt when it appears (the way a
 * person does), then waits for the end. Returns what the terminal showed.
 */
async function wizard(
  cwd: string,
  answers: Array<[RegExp, string]>,
  args: string[],
): Promise<string> {
  const command = [process.execPath, CLI, 'init', ...args].map((a) => `'${a}'`).join(' ')
  const child = spawn('script', ['-qefc', command, '/dev/null'], {
    cwd,
    env: cliEnv({ HOME: cwd, TERM: 'dumb' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let screen = ''
  let next = 0
  let seen = 0
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString()
    const step = answers[next]
    if (step?.[0].test(screen.slice(seen))) {
      seen = screen.length
      next++
      child.stdin.write(`${step[1]}\r`)
    }
  })
  const exit = await exitOf(child, 20_000, 'portico init in a pty')
  child.stdin.end()
  assert.equal(next, answers.length, `every prompt was answered:\n${screen}`)
  assert.deepEqual(exit, { code: 0, signal: null }, screen)
  return screen
}

describe('portico init, through a pseudo-terminal', () => {
  it('asks each question, asks again after a bad answer, and imports a client config', async () => {
    const cwd = mkdtempSync(join(dir, 'wizard-'))
    const served = join(cwd, 'served')
    mkdirSync(served)
    const source = claudeDesktopConfig(served)
    writeFileSync(join(cwd, '.mcp.json'), '{"mcpServers":{"local":{"command":"true"}}}')
    // Cursor's project file is offered; a file with no MCP servers in it is not.
    mkdirSync(join(cwd, '.cursor'))
    writeFileSync(join(cwd, '.cursor', 'mcp.json'), '{"mcpServers":{"c":{"url":"http://x/mcp"}}}')
    writeFileSync(join(cwd, 'mcp.json'), '{"servers":{}}')
    const screen = await wizard(
      cwd,
      [
        [
          /MCP server URL, or an MCP client config file to import \[http:\/\/127\.0\.0\.1:9000\/mcp\]: /,
          source,
        ],
        [/Listen address \(0\.0\.0\.0 = every interface\) \[127\.0\.0\.1\]: /, ''],
        [/Listen port \[3000\]: /, '99999'],
        [/expected a port, 0-65535: try again[\s\S]*Listen port \[3000\]: /, '0'],
        [
          /Store path \("none" to record nothing\) \[~\/\.portico\/store\.db\]: /,
          join(cwd, 'store.db'),
        ],
        [/Public URL, behind a TLS proxy \(Enter for none\) \[\]: /, 'https://mcp.example.com'],
        [
          /Widget CSP domains, comma-separated \(Enter for none\) \[\]: /,
          'https://api.example.com',
        ],
      ],
      [],
    )
    const listed = join(cwd, '.mcp.json').replace(/[.]/g, '\\.')
    assert.match(screen, new RegExp(`MCP client configs found[^\\n]*\\n\\s+${listed}\\r?\\n`))
    assert.match(screen, /\.cursor\/mcp\.json/)
    assert.ok(!screen.includes(join(cwd, 'mcp.json')), 'an mcp.json without servers is offered')
    assert.match(
      screen,
      /Wrote portico\.toml\. Next: portico check -c portico\.toml && portico run -c portico\.toml/,
    )
    const file = join(cwd, 'portico.toml')
    const { config } = loadConfig({ file, env: {} })
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.port, 0)
    assert.equal(config.store.path, join(cwd, 'store.db'))
    assert.equal(config.public_url, 'https://mcp.example.com')
    assert.deepEqual(config.csp?.connectDomains?.domains, ['https://api.example.com'])
    assert.deepEqual(
      config.backends?.map((b) => [b.name, b.transport, b.command, b.args]),
      [
        ['filesystem', 'stdio', process.execPath, [serverBin('filesystem'), served]],
        ['memory-server', 'stdio', process.execPath, [serverBin('memory')]],
      ],
    )
    assert.deepEqual(config.backends?.[1]?.env, { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') })
    const text = readFileSync(file, 'utf8')
    assert.match(text, /^# Portico configuration, written by `portico init`\./)
    assert.match(
      text,
      /# Gateway mode: the servers of claude_desktop_config\.json, behind one endpoint/,
    )
    assert.equal(runCliSync(['check', '-c', file]).status, 0)
  })

  it('portico proxy setup is the same wizard; Ctrl+D stops it without writing', async () => {
    const cwd = mkdtempSync(join(dir, 'eof-'))
    const command = [process.execPath, CLI, 'proxy', 'setup'].map((a) => `'${a}'`).join(' ')
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      cwd,
      env: cliEnv({ HOME: cwd, TERM: 'dumb' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let screen = ''
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString()
      if (/Listen address .*: $/.test(screen)) child.stdin.write('\u0004')
      else if (/MCP server URL.*: $/.test(screen)) child.stdin.write('http://127.0.0.1:9100/mcp\r')
    })
    const exit = await exitOf(child, 20_000, 'portico proxy setup')
    assert.equal(exit.code, 1, screen)
    assert.match(screen, /portico: input ended before the setup finished/)
    assert.equal(existsSync(join(cwd, 'portico.toml')), false)
  })
})

describe('portico init with flags', () => {
  it('writes the file from flags and defaults without asking, and refuses to replace it', () => {
    const out = join(dir, 'flags.toml')
    const args = ['init', '--yes', '-o', out, '--upstream', 'http://127.0.0.1:9000/mcp']
    const first = runCliSync([
      ...args,
      '--host',
      '0.0.0.0',
      '--port',
      '8080',
      '--no-store',
      '--csp',
      'a.example.com,b.example.com',
    ])
    assert.equal(first.status, 0, first.stderr)
    assert.equal(
      first.stdout,
      `Wrote ${out}. Next: portico check -c ${out} && portico run -c ${out}\n`,
    )
    const { config } = loadConfig({ file: out, env: {} })
    assert.equal(config.upstream, 'http://127.0.0.1:9000/mcp')
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.port, 8080)
    assert.equal(config.store.enabled, false)
    assert.deepEqual(config.csp?.resourceDomains?.domains, ['a.example.com', 'b.example.com'])
    const again = runCliSync(args)
    assert.equal(again.status, 1)
    assert.equal(
      again.stderr,
      `portico: ${out} exists: pass --force to replace it, or -o another file\n`,
    )
    // The old file is replaced in one step (a new file renamed over it), never truncated in
    // place: a reader holding it open (a hot-reload watcher) still reads the whole old text.
    const before = readFileSync(out, 'utf8')
    const held = openSync(out, 'r')
    try {
      assert.equal(runCliSync([...args, '--force']).status, 0)
      assert.equal(readFileSync(held, 'utf8'), before)
    } finally {
      closeSync(held)
    }
    assert.equal(loadConfig({ file: out, env: {} }).config.port, 3000)
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith('.portico-new')),
      [],
    )
    const bad = runCliSync(['init', '--yes', '-o', '-', '--upstream', 'localhost:9000'])
    assert.equal(bad.status, 2)
    assert.equal(
      bad.stderr,
      'portico: --upstream: expected an http:// or https:// URL, got "localhost:9000"\n',
    )
    // Before: both wrote a file that did not load and were reported as Portico's own bug.
    const noPath = runCliSync(['init', '--yes', '-o', '-', '--db', ''])
    assert.equal(noPath.status, 2)
    assert.equal(
      noPath.stderr,
      'portico: --db: expected a file path, got "" (--no-store for none)\n',
    )
    const withPort = runCliSync(['init', '--yes', '-o', '-', '--host', '0.0.0.0:3000'])
    assert.equal(withPort.status, 2)
    assert.match(withPort.stderr, /^portico: --host: expected an IP address or a host name/)
  })
})

describe('portico import', () => {
  it("names a Codex server's key of the wrong type, with its file, and no stack trace", () => {
    // Before: `unexpected error: Error: server "s": …` and a trace, the file not named.
    for (const line of [
      'bearer_token_env_var = 5',
      'http_headers = "X: y"',
      'env_http_headers = { Authorization = { a = 1 } }',
      'env_http_headers = { Authorization = ["A", "B"] }',
    ]) {
      const source = join(dir, 'codex-bad.toml')
      writeFileSync(source, `[mcp_servers.s]\nurl = "https://x.example/mcp"\n${line}\n`)
      const result = runCliSync(['import', source, '-o', '-'])
      assert.equal(result.status, 1, `${line}: ${result.stderr}`)
      assert.match(
        result.stderr,
        new RegExp(`^portico: ${source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: server "s": `),
        line,
      )
      assert.doesNotMatch(result.stderr, /\n\s+at /, line)
    }
  })

  it('converts a Claude Desktop config; portico run serves its servers as backends', async () => {
    const served = join(dir, 'import-served')
    mkdirSync(served)
    writeFileSync(join(served, 'note.txt'), 'imported\n')
    const source = claudeDesktopConfig(served)
    const out = join(dir, 'imported.toml')
    const result = runCliSync(['import', source, '-o', out])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(result.stderr, `wrote ${out}: check it with portico check -c ${out}\n`)
    const portico = await startCli(['run', out, '--port', '0'], {
      PORTICO_DB: join(dir, 'imported.db'),
    })
    const client = new Client({ name: 'import-test', version: '1' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      const names = (await client.listTools()).tools.map((t) => t.name)
      assert.ok(names.includes('filesystem__read_text_file'), names.join(', '))
      assert.ok(names.includes('memory-server__read_graph'), names.join(', '))
      const read = await client.callTool({
        name: 'filesystem__read_text_file',
        arguments: { path: join(served, 'note.txt') },
      })
      assert.deepEqual(read.content, [{ type: 'text', text: 'imported\n' }])
    } finally {
      await client.close()
      await portico.stop()
    }
  })

  it('converts mcpr.toml to Portico’s keys: the same settings load', () => {
    const source = join(SEEDS, 'mcpr-tables.toml')
    const out = join(dir, 'from-mcpr.toml')
    const result = runCliSync(['import', source, '-o', out])
    assert.equal(result.status, 0, result.stderr)
    const before = loadConfig({ file: source, env: {} }).config
    const converted = loadConfig({ file: out, env: {} }).config
    const text = readFileSync(out, 'utf8')
    assert.match(text, /^upstream = "http:\/\/localhost:9000\/mcp"$/m)
    assert.doesNotMatch(text, /^mcp =|^\[runtime\]|^log_format/m)
    for (const key of [
      'upstream',
      'name',
      'port',
      'json_logs',
      'admin_bind',
      'request_timeout',
      'drain_timeout',
      'max_concurrent_upstream',
      'csp',
      'cloud',
      'store',
    ] as const) {
      assert.deepEqual(converted[key], before[key], key)
    }
  })

  it('refuses a config Portico reads as it is, and names the mcpr keys it cannot carry over', () => {
    // mcp-proxy's own file (and Portico's): converting it as an mcpr.toml kept only [auth]
    // and dropped every backend, with exit 0.
    for (const seed of ['mcp-proxy-config-example.toml', 'mcp-proxy-quickstart.toml']) {
      const out = join(dir, `from-${seed}`)
      const result = runCliSync(['import', join(SEEDS, seed), '-o', out])
      assert.equal(result.status, 1, `${seed}: ${result.stderr}`)
      assert.match(result.stderr, /Portico reads it as it is/, seed)
      assert.match(result.stderr, /portico run -c /, seed)
      assert.equal(existsSync(out), false, `${seed}: nothing written`)
    }
    // mcpr's first generation wrote the tunnel as flat keys; a key the import does not carry
    // over is said, on stderr and in the file, never dropped in silence.
    const gen1 = join(dir, 'gen1-mcpr.toml')
    writeFileSync(
      gen1,
      [
        'mcp = "http://localhost:9000/mcp"',
        'port = 3000',
        'no_tunnel = true',
        'tunnel_token = "abc"',
        'relay_url = "https://tunnel.example.com"',
        '',
      ].join('\n'),
    )
    const out = join(dir, 'from-gen1.toml')
    const result = runCliSync(['import', gen1, '-o', out])
    assert.equal(result.status, 0, result.stderr)
    for (const key of ['tunnel_token', 'relay_url']) {
      assert.match(
        result.stderr,
        new RegExp(`warning: .*gen1-mcpr\\.toml: ${key} is not carried over`),
      )
      assert.match(readFileSync(out, 'utf8'), new RegExp(`^# ${key} = `, 'm'))
    }
    // no_tunnel is read (its --no-tunnel), so it is carried over as written.
    assert.doesNotMatch(result.stderr, /no_tunnel/)
    const imported = loadConfig({ file: out, env: {} }).config
    assert.equal(imported.upstream, 'http://localhost:9000/mcp')
    assert.equal(imported.no_tunnel, true)
  })

  it('a value Portico cannot load is named in the imported file, not called a bug', () => {
    // mcpr's validate refuses a host-less mcp too; the problem is the file's, at its line.
    const mcpr = join(dir, 'bad-mcpr.toml')
    writeFileSync(mcpr, '# mcpr\nmcp = "localhost:9000"\nport = 3000\n')
    const fromMcpr = runCliSync(['import', mcpr, '-o', join(dir, 'from-bad-mcpr.toml')])
    assert.equal(fromMcpr.status, 1)
    assert.equal(
      fromMcpr.stderr,
      `portico: ${mcpr}:2: mcp: expected an absolute http:// or https:// URL\nnothing written: fix ${mcpr}, then import it again\n`,
    )
    // A client config's server with a URL that is no URL: named by its server and field.
    const client = join(dir, 'bad-client.json')
    writeFileSync(client, JSON.stringify({ mcpServers: { web: { url: 'localhost:3000/mcp' } } }))
    const fromClient = runCliSync(['import', client, '-o', join(dir, 'from-bad-client.toml')])
    assert.equal(fromClient.status, 1)
    assert.doesNotMatch(fromClient.stderr, /a bug/)
    assert.match(
      fromClient.stderr,
      /^portico: .*bad-client\.json: server "web": url: expected an absolute http:\/\/, https:\/\/, ws:\/\/ or wss:\/\/ URL\nnothing written: fix .*bad-client\.json, then import it again\n$/,
    )
    assert.equal(existsSync(join(dir, 'from-bad-mcpr.toml')), false)
    assert.equal(existsSync(join(dir, 'from-bad-client.toml')), false)
  })

  it('reads each MCP client’s file as that client means it; what it leaves out is said', () => {
    const files: Record<string, string> = {
      // Windsurf: remote servers under serverUrl; a disabled server and disabled tools.
      'mcp_config.json': JSON.stringify({
        mcpServers: {
          remote: { serverUrl: 'https://w.example/mcp', disabledTools: ['delete_all'] },
          off: { command: 'npx', args: ['-y', 'x'], disabled: true },
        },
      }),
      // Cline: transportType says SSE.
      'cline_mcp_settings.json': JSON.stringify({
        mcpServers: {
          legacy: { url: 'https://c.example/sse', transportType: 'sse' },
          // Cline tries SSE first for a bare url (its files carry autoApprove).
          bare: { url: 'https://c.example/sse2', autoApprove: [] },
        },
      }),
      // Gemini CLI: httpUrl is Streamable HTTP, url its SSE endpoint; tool lists.
      'settings.json': JSON.stringify({
        mcpServers: {
          stream: {
            httpUrl: 'https://g.example/mcp',
            includeTools: ['a', 'b'],
            excludeTools: ['b'],
          },
          old: { url: 'https://g.example/sse' },
          // Gemini CLI reads $NAME from its environment (its docs' own examples): Portico
          // would send it as written.
          py: {
            command: 'python',
            args: ['-m', 'srv'],
            env: { DATABASE_URL: '$DB_URL' },
            // Gemini CLI's per-server deadline, in milliseconds: its unit is not Portico's.
            timeout: 30000,
          },
        },
      }),
      // Zed: context_servers in a JSONC settings file, the old command form, an extension's.
      'zed.json': `// Zed
{ "theme": "One",
  "context_servers": {
    "git": { "command": { "path": "uvx", "args": ["mcp-server-git"], "env": { "A": "1" } } },
    "ext": { "source": "extension", "settings": {} },
  },
}`,
      // OpenAI Codex: TOML, variables named by bearer_token_env_var and env_http_headers.
      'config.toml': [
        'model = "o3"',
        '[mcp_servers.docs]',
        'command = "npx"',
        'args = ["-y", "docs-server"]',
        'disabled_tools = ["purge"]',
        'env_vars = ["MY_SECRET"]',
        'startup_timeout_sec = 20',
        'tool_timeout_sec = 2.5',
        '[mcp_servers.remote]',
        'url = "https://x.example/mcp"',
        'bearer_token_env_var = "X_TOKEN"',
        'env_http_headers = { "X-Org" = "X_ORG" }',
        '[mcp_servers.off]',
        'command = "off"',
        'enabled = false',
      ].join('\n'),
      // VS Code: envFile cannot be carried over, nor an `${input:…}` prompt (named, with its field).
      'mcp.json': JSON.stringify({
        inputs: [{ type: 'promptString', id: 'api-key', description: 'API Key', password: true }],
        servers: {
          s: {
            type: 'stdio',
            command: 'node',
            args: ['s.js', '--key', `\${input:api-key}`],
            envFile: '.env',
          },
        },
      }),
    }
    const imported: Record<string, unknown[]> = {}
    const warnings: string[] = []
    for (const [name, text] of Object.entries(files)) {
      const source = join(dir, `clients-${name}`)
      writeFileSync(source, text)
      const out = join(dir, `clients-${name}.toml`)
      const result = runCliSync(['import', source, '-o', out])
      assert.equal(result.status, 0, result.stderr)
      warnings.push(...result.stderr.split('\n').filter((l) => l.startsWith('warning: /')))
      const loaded = loadConfig({
        file: out,
        env: { X_TOKEN: 'tok', X_ORG: 'org', MY_SECRET: 's3' },
      })
      const remote = loaded.config.backends?.find((b) => b.url === 'https://x.example/mcp')
      if (name === 'config.toml') {
        assert.deepEqual(remote?.headers, { 'X-Org': 'org', Authorization: 'Bearer tok' })
        // Codex's env_vars: passed on from Portico's environment.
        const docs = loaded.config.backends?.find((b) => b.name === 'docs')
        assert.deepEqual(docs?.env, { MY_SECRET: 's3' })
        // Codex's deadlines: the server's start, and each tool call (milliseconds once loaded).
        assert.equal(docs?.startup_timeout, 20_000)
        assert.deepEqual(docs?.timeout, { callMs: undefined, attemptMs: 2500 })
        assert.equal(remote?.startup_timeout, undefined)
      }
      imported[name] = (loaded.config.backends ?? []).map((b) => [
        b.name,
        b.transport,
        b.url ?? b.command,
        [b.hide_tools, b.expose_tools].find((list) => list && list.length > 0) ??
          (b.env && Object.keys(b.env).length > 0 ? b.env : null),
      ])
    }
    assert.deepEqual(imported, {
      'mcp_config.json': [['remote', 'http', 'https://w.example/mcp', ['delete_all']]],
      'cline_mcp_settings.json': [
        ['bare', 'sse', 'https://c.example/sse2', null],
        ['legacy', 'sse', 'https://c.example/sse', null],
      ],
      'settings.json': [
        ['old', 'sse', 'https://g.example/sse', null],
        ['py', 'stdio', 'python', { DATABASE_URL: '$DB_URL' }],
        ['stream', 'http', 'https://g.example/mcp', ['a']],
      ],
      'zed.json': [['git', 'stdio', 'uvx', { A: '1' }]],
      'config.toml': [
        ['docs', 'stdio', 'npx', ['purge']],
        ['remote', 'http', 'https://x.example/mcp', null],
      ],
      'mcp.json': [['s', 'stdio', 'node', null]],
    })
    const at = (name: string) => join(dir, `clients-${name}`)
    assert.deepEqual(warnings, [
      `warning: ${at('mcp_config.json')}: server "off" is disabled in the file: not imported`,
      `warning: ${at('settings.json')}: server "py": its timeout (30000) is not carried over: Gemini CLI reads it in milliseconds, Cline in seconds; set the backend's timeout ("30s") in portico.toml`,
      `warning: ${at('settings.json')}: server "py": env.DATABASE_URL holds $DB_URL, which Gemini CLI reads from its environment and Portico would send as written: write \${DB_URL} to read it from Portico's environment`,
      `warning: ${at('zed.json')}: server "ext" is a Zed extension, which only Zed can run: not imported`,
      `warning: ${at('config.toml')}: server "off" is disabled in the file: not imported`,
      `warning: ${at('mcp.json')}: server "s": args[2] holds VS Code's \${input:api-key} ("API Key"), a prompt Portico cannot show, and would be sent as written: replace it, e.g. with \${API_KEY} read from Portico's environment`,
      `warning: ${at('mcp.json')}: server "s": its envFile is not read by Portico; put the variables it needs in env`,
    ])
    // Claude Code's ~/.claude.json: servers per project are imported for the project asked for.
    const claude = join(dir, 'clients-claude.json')
    writeFileSync(
      claude,
      JSON.stringify({
        mcpServers: { mine: { command: 'mine' } },
        projects: {
          '/home/me/app': { mcpServers: { db: { type: 'stdio', command: 'db-mcp' } } },
          '/home/me/site': { mcpServers: { web: { type: 'http', url: 'https://w.example/mcp' } } },
        },
      }),
    )
    const plain = runCliSync(['import', claude, '-o', '-'])
    assert.equal(plain.status, 0, plain.stderr)
    assert.match(plain.stdout, /name = "mine"/)
    assert.doesNotMatch(plain.stdout, /name = "(db|web)"/)
    assert.match(
      plain.stderr,
      /servers of projects \/home\/me\/app, \/home\/me\/site are not imported \(portico import --project PATH imports one\)/,
    )
    const app = runCliSync(['import', claude, '--project', '/home/me/app', '-o', '-'])
    assert.equal(app.status, 0, app.stderr)
    assert.deepEqual(
      [...app.stdout.matchAll(/^name = "(\w+)"$/gm)].map((m) => m[1]),
      ['db', 'mine'],
    )
    assert.match(app.stderr, /servers of projects \/home\/me\/site are not imported/)
    const missing = runCliSync(['import', claude, '--project', '/nope', '-o', '-'])
    assert.equal(missing.status, 1)
    assert.match(
      missing.stderr,
      /it has no project "\/nope" \(its projects: \/home\/me\/app, \/home\/me\/site\)/,
    )
    // A path written another way (here with a trailing slash) names the same project.
    const slash = runCliSync(['import', claude, '--project', '/home/me/app/', '-o', '-'])
    assert.equal(slash.status, 0, slash.stderr)
    assert.match(slash.stdout, /name = "db"/)

    // An output file in a missing folder, or a folder: said in one line, no stack trace.
    for (const [output, why] of [
      [join(dir, 'no-such-folder', 'p.toml'), /cannot write .*: its folder does not exist/],
      [dir, /cannot write .*: it is a folder/],
    ] as const) {
      const result = runCliSync(['import', claude, '-o', output, '--force'])
      assert.equal(result.status, 1, result.stderr)
      assert.match(result.stderr, why)
      assert.doesNotMatch(result.stderr, /unexpected error|\n\s+at /)
    }

    // A file whose every server is switched off says so instead of writing an empty gateway.
    const allOff = join(dir, 'clients-all-off.json')
    writeFileSync(allOff, JSON.stringify({ mcpServers: { a: { command: 'x', disabled: true } } }))
    const refused = runCliSync(['import', allOff, '-o', '-'])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /no enabled MCP servers in it/)

    // Nested past what the JSONC parser descends: named, not "Maximum call stack size exceeded".
    const deep = join(dir, 'clients-deep.json')
    const depth = 100_000
    writeFileSync(
      deep,
      `{"mcpServers":{"a":{"command":"x","x":${'['.repeat(depth)}${']'.repeat(depth)}}}}`,
    )
    const tooDeep = runCliSync(['import', deep, '-o', '-'])
    assert.equal(tooDeep.status, 1)
    assert.match(tooDeep.stderr, /clients-deep\.json: nested too deeply to be read/)
  })

  it('names every server so the gateway can route it, even names that clean up alike', () => {
    const source = join(dir, 'clashing.json')
    const servers = ['my server', 'my-server', 'a__b', '__proto__', 'tail_', '日本語', '✓']
    writeFileSync(
      source,
      JSON.stringify({
        mcpServers: Object.fromEntries(servers.map((name) => [name, { command: 'true' }])),
      }),
    )
    for (const args of [
      ['import', source, '-o', '-'],
      ['init', '--yes', '--from', source, '-o', '-'],
    ]) {
      const result = runCliSync(args)
      assert.equal(result.status, 0, result.stderr)
      const names = [...result.stdout.matchAll(/^name = "(.*)"$/gm)].map((m) => m[1])
      assert.deepEqual(names.sort(), [
        'a_b',
        'my-server',
        'my-server-2',
        'proto',
        'server',
        'server-2',
        'tail',
      ])
    }
  })

  it('renames a server named portico (the admin namespace) and 101 names alike within 32 characters', () => {
    const source = join(dir, 'reserved-and-many.json')
    const long = 'acme-corporation-internal-tools-server'
    const servers: Record<string, unknown> = { portico: { command: 'true' } }
    for (let i = 0; i < 101; i++) servers[`${long}${' '.repeat(i + 1)}`] = { command: 'true' }
    writeFileSync(source, JSON.stringify({ mcpServers: servers }))
    for (const args of [
      ['import', source, '-o', '-'],
      ['init', '--yes', '--from', source, '-o', '-'],
    ]) {
      // Before: "the generated configuration does not load (a bug, please report it)".
      const result = runCliSync(args)
      assert.equal(result.status, 0, result.stderr)
      assert.match(result.stderr, /server "portico" is named "portico-2"/)
      const names = [...result.stdout.matchAll(/^name = "(.*)"$/gm)].map((m) => m[1] as string)
      assert.equal(names.length, 102)
      assert.equal(new Set(names).size, 102, 'every name distinct')
      assert.ok(names.includes('portico-2') && !names.includes('portico'))
      const tooLong = names.filter((name) => name.length > 32)
      assert.deepEqual(tooLong, [], 'every name within 32 characters')
    }
  })

  it('writes the file when a variable the source names is not set here, and says so', () => {
    const source = join(dir, 'with-variables.mcp.json')
    writeFileSync(
      source,
      JSON.stringify({
        mcpServers: {
          github: {
            command: 'npx',
            args: ['-y', 'github-mcp', '--token', `${DOLLAR}{PORTICO_TEST_UNSET_TOKEN}`],
            env: { HOST: `${DOLLAR}{env:PORTICO_TEST_UNSET_HOST}` },
          },
        },
      }),
    )
    const out = join(dir, 'with-variables.toml')
    const result = runCliSync(['import', source, '-o', out])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(
      result.stderr,
      "warning: PORTICO_TEST_UNSET_TOKEN, PORTICO_TEST_UNSET_HOST are not set here: set them in Portico's environment before portico run\n" +
        `wrote ${out}: check it with portico check -c ${out}\n`,
    )
    const env = { PORTICO_TEST_UNSET_TOKEN: 't0ken', PORTICO_TEST_UNSET_HOST: 'h' }
    const backend = loadConfig({ file: out, env }).config.backends?.[0]
    assert.deepEqual(backend?.transport === 'stdio' && backend.args, [
      '-y',
      'github-mcp',
      '--token',
      't0ken',
    ])
  })

  it('reads Continue’s config.yaml: its list of named servers, requestOptions, secrets', () => {
    const source = join(dir, 'config.yaml')
    writeFileSync(
      source,
      [
        '# Continue: ~/.continue/config.yaml',
        'name: My Assistant',
        'version: 0.0.1',
        'schema: v1',
        'models: []',
        'mcpServers:',
        '  - name: SQLite MCP',
        '    command: npx',
        '    args: ["-y", "mcp-sqlite", "/tmp/db.sqlite"]',
        '    env:',
        `      DB_TOKEN: "${DOLLAR}{{ secrets.SQLITE_TOKEN }}"`,
        '  - name: docs',
        '    type: streamable-http',
        '    url: https://docs.example/mcp',
        '    requestOptions:',
        '      headers:',
        `        Authorization: "Bearer ${DOLLAR}{{ secrets.DOCS_TOKEN }}"`,
        '  - name: legacy',
        '    type: sse',
        '    url: https://old.example/sse',
        '  - uses: anthropic/memory-mcp',
        '',
      ].join('\n'),
    )
    const out = join(dir, 'from-continue.toml')
    const result = runCliSync(['import', source, '-o', out])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(
      result.stderr.split('\n')[0],
      `warning: ${source}: mcpServers[3] is Continue Hub block "anthropic/memory-mcp", which only Continue can fetch: not imported`,
    )
    const env = { SQLITE_TOKEN: 's', DOCS_TOKEN: 'd' }
    const backends = loadConfig({ file: out, env }).config.backends ?? []
    assert.deepEqual(
      backends.map((b) => [b.name, b.transport, b.url ?? b.command, b.env, b.headers]),
      [
        ['SQLite-MCP', 'stdio', 'npx', { DB_TOKEN: 's' }, {}],
        ['docs', 'http', 'https://docs.example/mcp', {}, { Authorization: 'Bearer d' }],
        ['legacy', 'sse', 'https://old.example/sse', {}, {}],
      ],
    )
    // init --from reads it the same way.
    const init = runCliSync(['init', '--yes', '--from', source, '-o', '-'])
    assert.equal(init.status, 0, init.stderr)
    assert.match(init.stdout, /name = "SQLite-MCP"[\s\S]*name = "docs"[\s\S]*name = "legacy"/)
    // A broken YAML file is named with its line; its text is never quoted.
    const broken = join(dir, 'broken.yaml')
    writeFileSync(broken, 'mcpServers:\n  - name: a\n    command: [unclosed\n')
    const bad = runCliSync(['import', broken, '-o', '-'])
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, new RegExp(`^portico: ${broken}: invalid YAML: .*\\(line \\d+\\)\\n$`))
    // Continue's older config.json is named, not taken for a file with no servers.
    const old = join(dir, 'continue-config.json')
    writeFileSync(
      old,
      JSON.stringify({
        experimental: {
          modelContextProtocolServers: [{ transport: { type: 'stdio', command: 'uvx' } }],
        },
      }),
    )
    const older = runCliSync(['import', old, '-o', '-'])
    assert.equal(older.status, 1)
    assert.equal(
      older.stderr,
      `portico: ${old}: Continue's "experimental.modelContextProtocolServers" (its older config.json) is not read: list the servers under "mcpServers" as its config.yaml does, then import that\n`,
    )
    // A list entry without a name cannot become a backend.
    const nameless = join(dir, 'nameless.yaml')
    writeFileSync(nameless, 'mcpServers:\n  - command: npx\n')
    const unnamed = runCliSync(['import', nameless, '-o', '-'])
    assert.equal(unnamed.status, 1)
    assert.equal(unnamed.stderr, `portico: ${nameless}: mcpServers[0] has no "name"\n`)
  })

  it('carries mcpr’s [tunnel] and [relay] over as written', () => {
    const result = runCliSync(['import', join(SEEDS, 'mcpr-tunnel.toml'), '-o', '-'])
    assert.equal(result.status, 0, result.stderr)
    assert.doesNotMatch(result.stdout, /Not carried over/)
    assert.match(
      result.stdout,
      /^\[tunnel\]\nenabled = true\nrelay_url = "https:\/\/tunnel\.mcpr\.app"\n/m,
    )
    assert.match(result.stdout, /^\[relay\]\ndomain = "tunnel\.example\.com"$/m)
  })
})
