/**
 * mcp-proxy's and mcpr's own files, as their users have them: `portico check` accepts the seed
 * examples (test/fixtures/seeds/, extracted from shared/seeds/) with no "ignored" warning, says
 * exactly what it applies differently, and fails closed on keys whose absence would do harm.
 * The loaded values are checked too: `[proxy.listen]`, `shutdown_timeout_seconds`,
 * `import_backends`, filters TOML put in an alias table, mcpr's `[runtime]` and `[store] name`.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { runCliSync, startCli } from '../helpers/cli.ts'
import { serverBin } from '../helpers/mcp-servers.ts'
import { scratchDir } from '../helpers/scratch.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const SEEDS = join(ROOT, 'test', 'fixtures', 'seeds')
/** Spells a `${…}` reference in a template string (a plain string with one trips the linter). */
const DOLLAR = '$'
const SECRETS = {
  GITHUB_TOKEN: 'ghp_test',
  BACKEND_TOKEN: 'backend-test',
  ADMIN_TOKEN: 'admin-test-0123456789',
}

const SEPARATOR_WARNING =
  'warning: [proxy] separator = "/": some LLM APIs (Anthropic, OpenAI) reject tool names with characters other than letters, digits, "_" and "-", so clients built on them may refuse this gateway\'s tools; "__" or "_" works everywhere'
const FORWARD_WARNING =
  'warning: backend "remote": forward_auth and bearer_token both set Authorization; the backend gets bearer_token (as with mcp-proxy, which never forwarded client tokens): keep one'
const INSTRUCTIONS_WARNING =
  'warning: [proxy.listen] instructions: TOML puts this key in [proxy.listen] (mcp-proxy ignores it there); Portico applies it as [proxy] instructions: move it above [proxy.listen]'
const TRACING_WARNING =
  "warning: observability.tracing.endpoint http://localhost:4317: port 4317 is OTLP/gRPC's; Portico exports OTLP/HTTP (usually port 4318, e.g. http://localhost:4318)"
const filterWarning = (key: string) =>
  `warning: backends[0].aliases: ${key} follows a [[backends.aliases]] header, so TOML puts it in that table (mcp-proxy ignores it there); Portico applies it to backend "files": move it above the table`

function check(name: string) {
  const path = join(SEEDS, name)
  const out = runCliSync(['check', '--config', path], SECRETS)
  return { ...out, path, warnings: out.stderr.split('\n').filter((line) => line !== '') }
}

function tempFile(name: string, text: string): string {
  const path = join(scratchDir('portico-dropin-'), name)
  writeFileSync(path, text)
  return path
}

describe('portico check on the seeds’ own files', () => {
  const cases: Array<[string, string[]]> = [
    ['mcp-proxy-quickstart.toml', [SEPARATOR_WARNING]],
    ['mcp-proxy-example.toml', [SEPARATOR_WARNING]],
    [
      'mcp-proxy-example-all-bearer.toml',
      [
        INSTRUCTIONS_WARNING,
        filterWarning('expose_tools'),
        filterWarning('expose_resources'),
        filterWarning('expose_prompts'),
        SEPARATOR_WARNING,
        FORWARD_WARNING,
        // Its `tokens = ["my-secret-token"]` runs as written, with a warning (15 characters).
        'warning: auth.tokens[0] is shorter than 16 characters, easy to guess: use a longer one (e.g. openssl rand -hex 32)',
        TRACING_WARNING,
        // What `portico run` logs for it too: bearer tokens, and no admin credential.
        'warning: no admin credential is configured: the portico/* tools are refused to every client (set [security] admin_token)',
      ],
    ],
    [
      'mcp-proxy-example-all-jwt.toml',
      [
        INSTRUCTIONS_WARNING,
        filterWarning('hide_tools'),
        filterWarning('hide_resources'),
        filterWarning('hide_prompts'),
        SEPARATOR_WARNING,
        FORWARD_WARNING,
        TRACING_WARNING,
      ],
    ],
    ['mcpr-quickstart.toml', []],
    ['mcpr-csp.toml', []],
    ['mcpr-tables.toml', []],
    ['mcpr-auth.toml', []],
  ]
  for (const [name, warnings] of cases) {
    it(`${name}: valid, no "ignored" warning, exactly the expected warnings`, () => {
      const out = check(name)
      assert.equal(out.status, 0, out.stderr)
      assert.equal(out.stdout, `ok: ${out.path} is valid\n`)
      assert.deepEqual(out.warnings, warnings)
      assert.doesNotMatch(out.stderr, /ignored/)
    })
  }

  it('mcpr-tunnel.toml: [tunnel] and [relay] load as written, without a warning', () => {
    const out = check('mcpr-tunnel.toml')
    assert.equal(out.status, 0, out.stderr)
    assert.deepEqual(out.warnings, [])
  })
})

describe('mcp-proxy’s [proxy] keys, loaded', () => {
  it('[proxy.listen] and shutdown_timeout_seconds become host, port and the drain budget', () => {
    const path = join(SEEDS, 'mcp-proxy-example-all-bearer.toml')
    const { config } = loadConfig({ file: path, env: SECRETS })
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.port, 8080)
    assert.equal(config.drain_timeout, 30_000)
    assert.equal(config.proxy.separator, '/')
    assert.equal(config.proxy.version, '0.1.0')
    assert.equal(config.proxy.hot_reload, true)
    assert.equal(config.proxy.instructions, 'This proxy aggregates multiple MCP backends.')
    assert.equal(config.observability.audit, true)
    assert.equal(config.observability.metrics.enabled, true)
    assert.equal(config.observability.tracing.endpoint, 'http://localhost:4317')
    const files = config.backends?.[0]
    assert.deepEqual(files?.expose_tools, ['read_file', 'list_directory', 'search_files'])
    assert.deepEqual(files?.expose_resources, ['file:///public'])
    assert.deepEqual(files?.expose_prompts, ['help'])
    assert.deepEqual(files?.aliases, [{ from: 'read_file', to: 'read' }])
  })

  it('PORTICO_* and flags win over [proxy.listen]; the top level may repeat it, not contradict it', () => {
    const text = `port = 8080\ndrain_timeout = "12s"\n[proxy]\nshutdown_timeout_seconds = 12\n[proxy.listen]\nhost = "0.0.0.0"\nport = 8080\n`
    const path = tempFile('proxy.toml', `upstream = "http://127.0.0.1:9/mcp"\n${text}`)
    const fromFile = loadConfig({ file: path, env: {} }).config
    assert.equal(fromFile.port, 8080)
    assert.equal(fromFile.host, '0.0.0.0')
    assert.equal(fromFile.drain_timeout, 12_000)
    // Before: the top level won in silence (here: every interface for a file whose
    // [proxy.listen] says loopback).
    const contradicting = tempFile(
      'contradicting.toml',
      'upstream = "http://127.0.0.1:9/mcp"\nhost = "0.0.0.0"\ndrain_timeout = "5s"\n[proxy]\nshutdown_timeout_seconds = 12\n[proxy.listen]\nhost = "127.0.0.1"\n',
    )
    assert.throws(
      () => loadConfig({ file: contradicting, env: {} }),
      (error: Error) =>
        /proxy\.listen\.host and the top-level host name one setting and disagree/.test(
          error.message,
        ) && /proxy\.shutdown_timeout_seconds and the top-level drain_timeout/.test(error.message),
    )
    const fromEnv = loadConfig({ file: path, env: { PORTICO_HOST: '::1' }, overrides: { port: 0 } })
    assert.equal(fromEnv.config.host, '::1')
    assert.equal(fromEnv.config.port, 0)
    const drain = tempFile(
      'p.toml',
      'upstream = "http://127.0.0.1:9/mcp"\n[proxy]\nshutdown_timeout_seconds = 12\n',
    )
    assert.equal(loadConfig({ file: drain, env: {} }).config.drain_timeout, 12_000)
  })

  it('[proxy.listen] without port listens on 8080, as mcp-proxy; without the table, 3000', () => {
    const upstream = 'upstream = "http://127.0.0.1:9/mcp"\n'
    const listen = tempFile(
      'proxy.toml',
      `${upstream}[proxy]\nname = "p"\n[proxy.listen]\nhost = "127.0.0.1"\n`,
    )
    assert.equal(loadConfig({ file: listen, env: {} }).config.port, 8080)
    assert.equal(loadConfig({ file: listen, env: {} }).config.host, '127.0.0.1')
    const empty = tempFile(
      'proxy.yaml',
      'upstream: http://127.0.0.1:9/mcp\nproxy:\n  name: p\n  listen: {}\n',
    )
    assert.equal(loadConfig({ file: empty, env: {} }).config.port, 8080)
    // The environment and flags still win, and Portico's own layout keeps Portico's default.
    assert.equal(loadConfig({ file: listen, env: { PORTICO_PORT: '9200' } }).config.port, 9200)
    const own = tempFile('portico.toml', `${upstream}[proxy]\nname = "p"\n`)
    assert.equal(loadConfig({ file: own, env: {} }).config.port, 3000)
  })

  it('a bad [proxy.listen] port is reported at its own line', () => {
    const path = tempFile('bad.toml', '[proxy]\nname = "x"\n[proxy.listen]\nport = 70000\n')
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 1 &&
        error.problems[0]?.path === 'proxy.listen.port' &&
        error.problems[0]?.line === 4,
    )
  })

  it(`import_backends reads VS Code’s \${env:NAME} and Claude Code’s \${NAME} from the environment`, () => {
    const dir = scratchDir('portico-import-env-')
    writeFileSync(
      join(dir, 'mcp.json'),
      JSON.stringify({
        servers: {
          vscode: {
            type: 'http',
            url: `https://\${env:API_HOST}/mcp`,
            headers: { authorization: `Bearer \${env:API_TOKEN}`, prompt: `\${input:key}` },
          },
          claude: {
            command: 'node',
            args: ['server.js', `--port=\${PORT:-7000}`],
            env: { TOKEN: `\${API_TOKEN}`, FROM_VSCODE: `\${env:API_TOKEN}` },
          },
        },
      }),
    )
    const path = join(dir, 'proxy.toml')
    writeFileSync(path, '[proxy]\nname = "p"\nimport_backends = "mcp.json"\n')
    const env = { API_HOST: 'api.example.com', API_TOKEN: 't0k' }
    const loaded = loadConfig({ file: path, env })
    const [claude, vscode] = loaded.config.backends ?? []
    assert.equal(vscode?.url, 'https://api.example.com/mcp')
    // `${input:…}` is a prompt in VS Code: nothing to read here, so it stays as written, and
    // is named in a warning (portico check and run print it), with its server and field.
    assert.deepEqual(vscode?.headers, { authorization: 'Bearer t0k', prompt: `\${input:key}` })
    assert.deepEqual(
      loaded.warnings.filter((warning) => warning.includes('input:')),
      [
        `import_backends: ${join(dir, 'mcp.json')}: server "vscode": headers.prompt holds VS Code's \${input:key}, a prompt Portico cannot show, and would be sent as written: replace it, e.g. with \${KEY} read from Portico's environment`,
      ],
    )
    assert.deepEqual(claude?.args, ['server.js', '--port=7000'])
    assert.deepEqual(claude?.env, { TOKEN: 't0k', FROM_VSCODE: 't0k' })
    // A variable that is not set is a problem naming the file, the server and the field.
    assert.throws(
      () => loadConfig({ file: path, env: { API_TOKEN: 't0k' } }),
      (error: { problems?: Array<{ path: string; message: string; line?: number }> }) => {
        const [problem] = error.problems ?? []
        assert.equal(problem?.path, 'proxy.import_backends')
        assert.equal(problem?.line, 3)
        assert.equal(
          problem?.message,
          `${join(dir, 'mcp.json')}: server "vscode" url: environment variable API_HOST is not set`,
        )
        return true
      },
    )
  })

  it('import_backends reads a Continue config.yaml’s servers', () => {
    const dir = scratchDir('portico-import-yaml-')
    writeFileSync(
      join(dir, 'config.yaml'),
      'name: assistant\nmcpServers:\n  - name: files\n    command: npx\n    args: [-y, files-mcp]\n',
    )
    const path = join(dir, 'proxy.toml')
    writeFileSync(path, '[proxy]\nname = "p"\nimport_backends = "config.yaml"\n')
    const backends = loadConfig({ file: path, env: {} }).config.backends ?? []
    assert.deepEqual(
      backends.map((b) => [b.name, b.transport, b.command, b.args]),
      [['files', 'stdio', 'npx', ['-y', 'files-mcp']]],
    )
    writeFileSync(join(dir, 'config.yaml'), 'mcpServers:\n  - name: [a\n')
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (error: { problems?: Array<{ path: string; message: string; line?: number }> }) => {
        const [problem] = error.problems ?? []
        assert.equal(problem?.path, 'proxy.import_backends')
        assert.match(problem?.message ?? '', /config\.yaml: invalid YAML: .*\(line \d+\)$/)
        return true
      },
    )
  })

  it('import_backends adds an mcp.json’s enabled servers, relative to the config file; TOML names win', () => {
    const dir = scratchDir('portico-import-')
    writeFileSync(
      join(dir, 'mcp.json'),
      JSON.stringify({
        mcpServers: {
          memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] },
          files: { command: 'npx', args: ['-y', 'other'] },
          remote: { url: 'http://127.0.0.1:9000/mcp', headers: { 'x-key': 'k' } },
          legacy: { type: 'sse', url: 'http://127.0.0.1:9001/sse' },
          off: { command: 'npx', args: ['-y', 'switched-off'], disabled: true },
        },
      }),
    )
    const path = join(dir, 'proxy.toml')
    writeFileSync(
      path,
      '[proxy]\nname = "p"\nimport_backends = "mcp.json"\n[[backends]]\nname = "files"\ntransport = "stdio"\ncommand = "cat"\n',
    )
    const loaded = loadConfig({ file: path, env: {} })
    const backends = loaded.config.backends ?? []
    assert.deepEqual(
      backends.map((b) => [b.name, b.transport, b.command ?? b.url]),
      [
        ['files', 'stdio', 'cat'],
        ['legacy', 'sse', 'http://127.0.0.1:9001/sse'],
        ['memory', 'stdio', 'npx'],
        ['remote', 'http', 'http://127.0.0.1:9000/mcp'],
      ],
    )
    assert.deepEqual(backends[2]?.args, ['-y', '@modelcontextprotocol/server-memory'])
    assert.deepEqual(backends[3]?.headers, { 'x-key': 'k' })
    assert.deepEqual(loaded.warnings, [
      `import_backends: ${join(dir, 'mcp.json')}: server "off" is disabled in the file: not imported`,
      `import_backends: "files" of ${join(dir, 'mcp.json')} is skipped: the config file has a backend with that name`,
    ])
  })

  it('import_backends names the server and the file when a name cannot be a backend’s', () => {
    const dir = scratchDir('portico-import-names-')
    const servers = { 'my server': { command: 'a' }, a__b: { command: 'b' }, ok: { command: 'c' } }
    writeFileSync(join(dir, 'mcp.json'), JSON.stringify({ mcpServers: servers }))
    const path = join(dir, 'proxy.toml')
    writeFileSync(path, '[proxy]\nname = "p"\nimport_backends = "mcp.json"\n')
    const out = runCliSync(['check', '--config', path])
    assert.equal(out.status, 1)
    const fix = 'rename it in that file, or convert the file with portico import, which renames it'
    const file = join(dir, 'mcp.json')
    assert.equal(
      out.stderr,
      `portico: ${path}:3: proxy.import_backends: ${file}: server "a__b": a backend name may not contain the separator "__"; ${fix}\n` +
        `${path}:3: proxy.import_backends: ${file}: server "my server": a backend name is 1-32 of [A-Za-z0-9_-] (it prefixes every tool name); ${fix}\n` +
        '2 problems found\n',
    )
  })

  it('import_backends naming a missing file is a problem at its line', () => {
    const path = tempFile('p.toml', '[proxy]\nname = "p"\nimport_backends = "nope.json"\n')
    const out = runCliSync(['check', '--config', path])
    assert.equal(out.status, 1)
    assert.equal(
      out.stderr,
      `portico: ${path}:3: proxy.import_backends: file not found: ${join(dirname(path), 'nope.json')}\n1 problem found\n`,
    )
  })
})

describe('import_backends reads only what can be an mcp.json', () => {
  it('refuses a folder, a device and a file that is not JSON without quoting it', () => {
    const secret = tempFile('secret.txt', 'TOKEN=do-not-show-me\n')
    for (const [target, expected] of [
      [dirname(secret), /is not a regular file/],
      ['/dev/zero', /is not a regular file/],
      [secret, /secret\.txt: not valid JSON at line 1, column 1 \(InvalidSymbol\)$/m],
    ] as const) {
      const path = tempFile('p.toml', `[proxy]\nname = "p"\nimport_backends = "${target}"\n`)
      const out = runCliSync(['check', '--config', path])
      assert.equal(out.status, 1)
      assert.match(out.stderr, expected)
      assert.doesNotMatch(out.stderr, /do-not-show-me/)
    }
  })
})

describe('mcpr’s layouts, loaded', () => {
  it('[runtime] keys and [store] name land on the top-level keys', () => {
    const { config } = loadConfig({ file: join(SEEDS, 'mcpr-tables.toml'), env: {} })
    assert.equal(config.name, 'search')
    assert.equal(config.json_logs, true)
    assert.equal(config.admin_bind, '127.0.0.1:9901')
    assert.equal(config.max_concurrent_upstream, 100)
    assert.equal(config.request_timeout, 30_000)
    assert.equal(config.cloud?.token, 'mcpr_0123456789abcdef')
  })

  it('a bad mcp is named as the file writes it, at its line, and once', () => {
    const problems = (name: string, text: string) => {
      try {
        loadConfig({ file: tempFile(name, text), env: {} })
      } catch (error) {
        if (error instanceof ConfigError)
          return error.problems.map(({ path, line, message }) => ({ path, line, message }))
        throw error
      }
      return []
    }
    const url = 'expected an absolute http:// or https:// URL'
    assert.deepEqual(problems('mcpr.toml', '# mcpr\nport = 3000\nmcp = "localhost:9000"\n'), [
      { path: 'mcp', line: 3, message: url },
    ])
    assert.deepEqual(problems('mcpr.yaml', 'port: 3000\nmcp: localhost:9000\n'), [
      { path: 'mcp', line: 2, message: url },
    ])
    // An unset variable is the problem; the empty value it leaves says nothing more.
    assert.deepEqual(problems('unset.toml', `\nmcp = "${DOLLAR}{NOPE_NOT_SET}"\n`), [
      { path: 'mcp', line: 2, message: 'environment variable NOPE_NOT_SET is not set' },
    ])
  })
})

describe('fail closed on what Portico does not implement', () => {
  it('[[backends.aliases]] with a resource URI as from loads; a to that is not a URI is refused at its line', () => {
    const head =
      '[proxy]\nname = "p"\n[proxy.listen]\nport = 0\n[[backends]]\nname = "files"\ntransport = "stdio"\ncommand = "node"\n' +
      '[[backends.aliases]]\nfrom = "read_file"\nto = "read"\n'
    // mcp-proxy renames resource URIs too: so does Portico, to the exact URI clients see.
    const good = tempFile(
      'proxy.toml',
      `${head}[[backends.aliases]]\nfrom = "file:///tmp/readme.md"\nto = "docs://readme"\n`,
    )
    const ok = runCliSync(['check', '--config', good])
    assert.equal(ok.status, 0, ok.stderr)
    const path = tempFile(
      'proxy.toml',
      `${head}[[backends.aliases]]\nfrom = "file:///tmp/readme.md"\nto = "readme"\n`,
    )
    const out = runCliSync(['check', '--config', path])
    assert.equal(out.status, 1, out.stderr)
    assert.equal(
      out.stderr,
      `portico: ${path}:14: backends[0].aliases[1].to: "readme" is not a resource URI: an alias of a resource (from = "file:///tmp/readme.md") renames it to the exact URI clients see (scheme://… or urn:…)\n1 problem found\n`,
    )
    // A tool name with a colon is not a URI: still an alias.
    const tool = tempFile(
      'proxy.toml',
      '[proxy]\nname = "p"\n[proxy.listen]\nport = 0\n[[backends]]\nname = "files"\ntransport = "stdio"\ncommand = "node"\n' +
        '[[backends.aliases]]\nfrom = "db:query"\nto = "query"\n',
    )
    assert.equal(runCliSync(['check', '--config', tool]).status, 0)
  })

  it('forward_auth under [auth] type = "bearer" warns that the backend gets no Authorization', () => {
    const backend = (name: string) =>
      `[[backends]]\nname = "${name}"\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\nforward_auth = true\n`
    const bearer = tempFile(
      'mcp-proxy.toml',
      `[proxy]\nname = "p"\nadmin_tools = false\n\n[auth]\ntype = "bearer"\ntokens = ["a-token-of-sixteen-chars"]\n\n${backend('remote')}`,
    )
    const out = runCliSync(['check', '--config', bearer])
    assert.equal(out.status, 0, out.stderr)
    assert.equal(
      out.stderr,
      'warning: backend "remote": forward_auth forwards tokens an authorization server issued ([auth] type = "jwt" or "oauth"); with type = "bearer" the clients present Portico\'s own keys, which are never forwarded, so the backend gets no Authorization (set bearer_token or headers for its own credential)\n',
    )
    const jwt = tempFile(
      'mcp-proxy.toml',
      `[proxy]\nname = "p"\nadmin_tools = false\n\n[auth]\ntype = "jwt"\nissuer = "https://issuer.example"\njwks_uri = "https://issuer.example/jwks"\naudience = "p"\n\n${backend('remote')}`,
    )
    const quiet = runCliSync(['check', '--config', jwt])
    assert.equal(quiet.status, 0, quiet.stderr)
    assert.equal(quiet.stderr, '')
  })

  it('[logging] (log files) is an error: the logs would be lost', () => {
    const path = tempFile(
      'mcpr.toml',
      'mcp = "http://127.0.0.1:9/mcp"\n\n[logging]\nfile = "/var/log/mcpr.log"\n',
    )
    const out = runCliSync(['check', '--config', path])
    assert.equal(out.status, 1)
    assert.equal(
      out.stderr,
      `portico: ${path}:3: logging: [logging] (log files) is not implemented: Portico logs to stderr only, so these logs would be lost. Let the supervisor keep them (journald, \`docker logs\`, kubectl logs) and remove the table\n1 problem found\n`,
    )
  })

  it('mode = "relay" is checked as a relay config; mode = "gateway" says nothing', () => {
    const relay = tempFile('mcpr.toml', 'mode = "relay"\nmcp = "http://127.0.0.1:9/mcp"\n')
    const out = runCliSync(['check', '--config', relay])
    assert.equal(out.status, 1)
    assert.match(
      out.stderr,
      /mcpr\.toml: mode = "relay" makes it a relay config \(portico relay\), checked as such: relay\.domain is required.*\n\(remove mode to check it as a proxy's config\)/,
    )
    // Run as a proxy, it is still refused: mode = "relay" would run the wrong program.
    assert.throws(
      () => loadConfig({ file: relay, env: {} }),
      /mode = "relay" asks for mcpr's relay server/,
    )
    const gateway = tempFile('mcpr.toml', 'mode = "gateway"\nmcp = "http://127.0.0.1:9/mcp"\n')
    const ok = runCliSync(['check', '--config', gateway])
    assert.equal(ok.status, 0)
    assert.equal(ok.stderr, '')
  })

  it('[[composite_tools]] loads as mcp-proxy writes it; its mistakes are named with their line', () => {
    const head =
      '[proxy]\nname = "p"\n[[backends]]\nname = "a"\ntransport = "stdio"\ncommand = "cat"\n'
    const path = tempFile(
      'proxy.toml',
      `${head}[[composite_tools]]\nname = "both"\ndescription = "d"\ntools = ["a__x", "a__y"]\n`,
    )
    const out = runCliSync(['check', '--config', path])
    assert.equal(out.status, 0, out.stderr)
    assert.equal(out.stderr, '')
    assert.deepEqual(loadConfig({ file: path, env: {} }).config.composite_tools, [
      { name: 'both', description: 'd', tools: ['a__x', 'a__y'], strategy: 'parallel' },
    ])
    const bad = tempFile(
      'proxy.toml',
      `${head}[[composite_tools]]\nname = "a__mine"\ndescription = "d"\ntools = ["both"]\n` +
        `[[composite_tools]]\nname = "both"\ndescription = "d"\ntools = ["portico__config"]\n`,
    )
    const refused = runCliSync(['check', '--config', bad])
    assert.equal(refused.status, 1)
    assert.equal(
      refused.stderr,
      `portico: ${bad}:8: composite_tools[0].name: "a__mine" starts with "a__", which routes to a's tools\n` +
        `${bad}:10: composite_tools[0].tools: "both" is a composite tool: composites call backend tools only\n` +
        `${bad}:14: composite_tools[1].tools: "portico__config" is one of Portico's tools: composites call backend tools only\n` +
        '3 problems found\n',
    )
  })
})

describe('mcp-proxy keys Portico lacks', () => {
  it('param_overrides loads as mcp-proxy writes it; its mistakes are named with their line', () => {
    const backend = '[[backends]]\nname = "a"\ntransport = "stdio"\ncommand = "cat"\n'
    const good = tempFile(
      'proxy.toml',
      `${backend}[[backends.param_overrides]]\ntool = "query"\nhide = ["password"]\n` +
        `rename = { sql = "statement" }\n[backends.param_overrides.defaults]\npassword = "x"\n`,
    )
    const out = runCliSync(['check', '--config', good])
    assert.equal(out.status, 0, out.stderr)
    assert.equal(out.stderr, '')
    assert.deepEqual(loadConfig({ file: good, env: {} }).config.backends?.[0]?.param_overrides, [
      {
        tool: 'query',
        hide: ['password'],
        rename: { sql: 'statement' },
        defaults: { password: 'x' },
      },
    ])
    const bad = tempFile(
      'proxy.toml',
      `${backend}[[backends.param_overrides]]\ntool = "query"\nhide = ["sql"]\n` +
        `rename = { sql = "q", text = "q" }\n[[backends.param_overrides]]\ntool = "query"\n`,
    )
    const refused = runCliSync(['check', '--config', bad])
    assert.equal(refused.status, 1)
    assert.equal(
      refused.stderr,
      `portico: ${bad}:8: backends[0].param_overrides[0].rename.sql: "sql" is both hidden and renamed\n` +
        `${bad}:8: backends[0].param_overrides[0].rename.text: "text" and "sql" are both renamed to "q"\n` +
        `${bad}:10: backends[0].param_overrides[1].tool: "query" already has param_overrides (entry 0)\n` +
        '3 problems found\n',
    )
  })

  it('[cache] backend = "redis" becomes [shared] for the caches; "sqlite" warns; "memory" is silent', () => {
    const backend = '[[backends]]\nname = "a"\ntransport = "stdio"\ncommand = "cat"\n'
    const redis = tempFile(
      'proxy.toml',
      `[cache]\nbackend = "redis"\nurl = "redis://cache:6379"\nprefix = "mcp:"\n${backend}`,
    )
    const shared = runCliSync(['check', '--config', redis])
    assert.equal(shared.status, 0, shared.stderr)
    assert.equal(shared.stderr, '')
    const loaded = loadConfig({ file: redis, env: {} }).config
    assert.deepEqual(loaded.shared, {
      redis: 'redis://cache:6379',
      prefix: 'mcp:',
      timeout: 100,
      caches: true,
      rate_limits: false,
    })
    assert.equal(loaded.cache, undefined)
    const sqlite = tempFile('proxy.toml', `[cache]\nbackend = "sqlite"\n${backend}`)
    const warned = runCliSync(['check', '--config', sqlite])
    assert.equal(warned.status, 0, warned.stderr)
    assert.equal(
      warned.stderr,
      `warning: [cache] backend = "sqlite": Portico keeps its caches in memory, or in Redis shared by replicas ([shared] redis = "redis://…"); this one stays in memory\n`,
    )
    const badUrl = tempFile('proxy.toml', `[shared]\nredis = "http://cache:6379"\n${backend}`)
    const refused = runCliSync(['check', '--config', badUrl])
    assert.equal(refused.status, 1)
    assert.match(
      refused.stderr,
      /proxy\.toml:2: shared\.redis: expected a redis:\/\/ or rediss:\/\/ URL/,
    )
    const memory = tempFile('proxy.toml', `[cache]\nbackend = "memory"\n${backend}`)
    const silent = runCliSync(['check', '--config', memory])
    assert.equal(silent.status, 0, silent.stderr)
    assert.equal(silent.stderr, '')
    assert.equal(loadConfig({ file: memory, env: {} }).config.cache, undefined)
  })

  it('[cache] backend = "redis" beside a [shared] that says otherwise is refused; one that agrees takes its prefix', () => {
    const backend = '[[backends]]\nname = "a"\ntransport = "stdio"\ncommand = "cat"\n'
    const cache =
      '[cache]\nbackend = "redis"\nurl = "redis://10.0.0.1:6379"\nprefix = "mcpproxy:"\n'
    // Before: the [cache] keys were dropped in silence (the caches in memory, or on the other
    // server).
    const other = tempFile(
      'proxy.toml',
      `${cache}[shared]\nredis = "redis://10.0.0.2:6379"\ncaches = false\n${backend}`,
    )
    const refused = runCliSync(['check', '--config', other])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /cache\.url and \[shared\] redis name one setting and disagree/)
    assert.match(refused.stderr, /cache\.backend and \[shared\] caches = false disagree/)
    const same = tempFile(
      'proxy.toml',
      `${cache}[shared]\nredis = "redis://10.0.0.1:6379"\n${backend}`,
    )
    const loaded = loadConfig({ file: same, env: {} }).config
    assert.equal(loaded.shared?.redis, 'redis://10.0.0.1:6379')
    assert.equal(loaded.shared?.prefix, 'mcpproxy:')
  })
})

describe('portico check and portico run give the same warnings', () => {
  it('tracing at port 4317 and an upstream unused in gateway mode: check prints what run logs', async () => {
    const path = tempFile(
      'proxy.toml',
      [
        'upstream = "http://127.0.0.1:9/mcp"',
        '[[backends]]',
        'name = "memory"',
        'transport = "stdio"',
        `command = ${JSON.stringify(process.execPath)}`,
        `args = [${JSON.stringify(serverBin('memory'))}]`,
        '[observability.tracing]',
        'enabled = true',
        'endpoint = "http://127.0.0.1:4317"',
        '[auth]',
        'tokens = ["a-client-token-0123456789"]',
        '',
      ].join('\n'),
    )
    const expected = [
      "observability.tracing.endpoint http://127.0.0.1:4317: port 4317 is OTLP/gRPC's; Portico exports OTLP/HTTP (usually port 4318, e.g. http://localhost:4318)",
      'upstream is not used in gateway mode ([[backends]] set): remove it',
      // Before: logged by run only.
      'no admin credential is configured: the portico__* tools are refused to every client (set [security] admin_token)',
    ]
    const checked = runCliSync(['check', '--config', path])
    assert.equal(checked.status, 0, checked.stderr)
    assert.deepEqual(
      checked.stderr.split('\n').filter((line) => line !== ''),
      expected.map((warning) => `warning: ${warning}`),
    )
    const run = await startCli(['run', '--config', path, '--port', '0'])
    try {
      for (const warning of expected) assert.ok(run.stderr().includes(warning), run.stderr())
    } finally {
      await run.stop()
    }
  })
})
