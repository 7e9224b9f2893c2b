/**
 * mcpr's commands, with the word `mcpr` replaced: `portico proxy run [CONFIG]` (positional
 * file, proxy name from its stem), `mcpr.toml` found in the working directory, `validate`,
 * `version`, the `proxy` group of reports, and `logs --status timeout` / `--error-code`.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer, WIDGET_URI } from '../../demo/server.ts'
import { loadConfig } from '../../src/config/load.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { CLI, cliEnv, runCliSync } from '../helpers/cli.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { spawnReady } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version
const LISTENING = /Portico listening on (http:\/\/\S+)/

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('mcpr’s commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-mcpr-cli-'))
  let demo: DemoServer

  before(async () => {
    demo = await startDemoServer()
  })
  after(async () => {
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('portico version prints one JSON line with the package version', () => {
    const out = runCliSync(['version'])
    assert.equal(out.status, 0)
    assert.deepEqual(JSON.parse(out.stdout), {
      name: 'portico',
      version: VERSION,
      target: `${process.platform}-${process.arch}`,
      node: process.version,
    })
    assert.equal(out.stdout.split('\n').length, 2)
  })

  it('portico validate -c FILE is portico check, and check takes the file as an argument', () => {
    const file = join(dir, 'search.toml')
    writeFileSync(file, `mcp = "${demo.url}"\nport = 0\n`)
    const validate = runCliSync(['validate', '-c', file])
    const positional = runCliSync(['check', file])
    assert.equal(validate.status, 0)
    assert.equal(validate.stdout, `ok: ${file} is valid\n`)
    assert.deepEqual(positional, validate)
  })

  it('mcp-proxy’s habits: portico --check --config FILE checks, portico --config FILE runs', async () => {
    const file = join(dir, 'proxy.toml')
    writeFileSync(file, `mcp = "${demo.url}"\nport = 0\n`)
    const checked = runCliSync(['--check', '--config', file])
    assert.equal(checked.status, 0, checked.stderr)
    assert.equal(checked.stdout, `ok: ${file} is valid\n`)
    const proxy = await spawnReady(process.execPath, [CLI, '--config', file], {
      env: cliEnv({ PORTICO_DB: join(dir, 'habit.db') }),
      ready: LISTENING,
    })
    try {
      assert.match(
        proxy.stdout(),
        /^Portico listening on http:\/\/127\.0\.0\.1:\d+\/mcp \(upstream /,
      )
    } finally {
      await proxy.stop()
    }
    const unknown = runCliSync(['nosuch'])
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /^error: unknown command 'nosuch'\n/)
  })

  it('mcpr’s --mcp is --upstream, on run and with no command (mcpr --mcp URL --port N)', async () => {
    const upstream = new RegExp(`\\(upstream ${demo.url.replace(/[.]/g, '\\.')}\\)`)
    for (const args of [
      ['run', '--mcp', demo.url, '--port', '0'],
      ['--mcp', demo.url, '--port', '0'],
      ['--port', '0', '--mcp', demo.url],
    ]) {
      const proxy = await spawnReady(process.execPath, [CLI, ...args], {
        env: cliEnv({ PORTICO_DB: join(dir, 'mcp-flag.db') }),
        ready: LISTENING,
      })
      try {
        assert.match(proxy.stdout(), upstream, `portico ${args.join(' ')}`)
      } finally {
        await proxy.stop()
      }
    }
    const bad = runCliSync(['run', '--mcp', 'localhost:9000', '--port', '0'])
    assert.equal(bad.status, 2)
    assert.equal(
      bad.stderr,
      'portico: invalid configuration:\n--mcp: upstream: expected an absolute http:// or https:// URL\n',
    )
    const two = runCliSync(['run', '--mcp', demo.url, '--upstream', 'http://127.0.0.1:1/mcp'])
    assert.equal(two.status, 2)
    assert.equal(
      two.stderr,
      `portico: two upstreams: --upstream http://127.0.0.1:1/mcp and --mcp ${demo.url}\n`,
    )
    // With no command, an option run does not take is refused by run, as with the command.
    const unknown = runCliSync(['--mcp', demo.url, '--relay-domain', 'example.com'])
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /^error: unknown option '--relay-domain'/)
  })

  it('mcpr 0.1’s --no-tunnel serves locally even when [tunnel] is enabled; --csp and --csp-mode are [csp] domains and mode', async () => {
    const file = join(dir, 'tunnelled.toml')
    // A relay nobody listens at: with the tunnel on, startup fails.
    writeFileSync(
      file,
      `mcp = "${demo.url}"\nport = 0\n[tunnel]\nenabled = true\nrelay_url = "http://127.0.0.1:1"\ntoken = "t0ken"\n`,
    )
    const refused = runCliSync(['run', file])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /^portico: tunnel: /)
    const args = ['run', file, '--no-tunnel', '--csp', 'https://api.example.com']
    const proxy = await spawnReady(
      process.execPath,
      [CLI, ...args, '--csp', 'https://cdn.example.com', '--csp-mode', 'override'],
      {
        env: cliEnv({ PORTICO_DB: join(dir, 'no-tunnel.db') }),
        ready: LISTENING,
      },
    )
    const client = new Client({ name: 'csp-flags', version: '1' })
    try {
      assert.doesNotMatch(proxy.stdout(), /Public URL/)
      const url = LISTENING.exec(proxy.stdout())?.[1] ?? ''
      await client.connect(new StreamableHTTPClientTransport(new URL(url)))
      const { contents } = await client.readResource({ uri: WIDGET_URI })
      const csp = (contents[0]?._meta as { ui?: { csp?: Record<string, string[]> } } | undefined)
        ?.ui?.csp
      for (const directive of ['connectDomains', 'resourceDomains']) {
        const domains = csp?.[directive] ?? []
        assert.ok(domains.includes('https://api.example.com'), `${directive}: ${domains}`)
        assert.ok(domains.includes('https://cdn.example.com'), `${directive}: ${domains}`)
        // override (mcpr's word for replace): the upstream's own domain is gone.
        assert.ok(!domains.includes('http://localhost:4444'), `${directive}: ${domains}`)
      }
    } finally {
      await client.close()
      await proxy.stop()
    }
    const bad = runCliSync(['run', file, '--no-tunnel', '--csp-mode', 'merge'])
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /^portico: invalid configuration:\n--csp-mode: csp\.mode: /)
  })

  it('mcpr 0.1’s no_tunnel = true is its --no-tunnel; no_tunnel = false warns that it opens none', async () => {
    const file = join(dir, 'no-tunnel-key.toml')
    // The relay nobody listens at, as above: startup would fail if the tunnel were opened.
    writeFileSync(
      file,
      `mcp = "${demo.url}"\nport = 0\nno_tunnel = true\n[tunnel]\nenabled = true\nrelay_url = "http://127.0.0.1:1"\ntoken = "t0ken"\n`,
    )
    const checked = runCliSync(['validate', '-c', file])
    assert.equal(checked.status, 0, checked.stderr)
    assert.equal(checked.stderr, '')
    const proxy = await spawnReady(process.execPath, [CLI, 'run', file], {
      env: cliEnv({ PORTICO_DB: join(dir, 'no-tunnel-key.db') }),
      ready: LISTENING,
    })
    try {
      assert.doesNotMatch(proxy.stdout(), /Public URL/)
    } finally {
      await proxy.stop()
    }
    const wanted = join(dir, 'tunnel-wanted.toml')
    writeFileSync(wanted, `mcp = "${demo.url}"\nno_tunnel = false\n`)
    const warned = runCliSync(['validate', '-c', wanted])
    assert.equal(warned.status, 0, warned.stderr)
    assert.equal(
      warned.stderr,
      'warning: no_tunnel = false opens no tunnel: Portico publishes through a relay only with [tunnel] enabled = true (relay_url, token) or --tunnel URL\n',
    )
  })

  it('mcpr’s proxy list, stop, reload and delete say what to do instead (exit 2, no lock files)', () => {
    const cases: Array<[string[], RegExp]> = [
      [['proxy', 'list', '--json'], /GET \/healthz; `portico status` reports every proxy/],
      [['proxy', 'stop', 'search', '--all'], /send SIGTERM to its pid: it stops accepting/],
      [
        ['proxy', 'reload', 'search', '-c', 'new.toml'],
        /portico check new\.toml\), write it over the file Portico was started with, then send SIGHUP/,
      ],
      [['proxy', 'delete', 'search', '-y'], /no per-proxy folder to delete/],
    ]
    for (const [args, instead] of cases) {
      const out = runCliSync(args)
      assert.equal(out.status, 2, args.join(' '))
      assert.match(
        out.stderr,
        new RegExp(
          `^portico: proxy ${args[1]}: Portico keeps no lock files \\(mcpr's ~/\\.mcpr/proxies/\\)`,
        ),
      )
      assert.match(out.stderr, instead)
      assert.equal(out.stdout, '')
    }
  })

  it('mcpr’s relay stop and relay status say what to do instead, not "file not found"', () => {
    for (const [word, instead] of [
      ['stop', /send SIGTERM to its pid/],
      ['status', /GET \/healthz on its bare domain/],
    ] as const) {
      const out = runCliSync(['relay', word])
      assert.equal(out.status, 2, word)
      assert.match(out.stderr, new RegExp(`^portico: relay ${word}: Portico keeps no lock files`))
      assert.match(out.stderr, instead)
    }
  })

  it('validate --dump prints the effective config as JSON, secrets redacted; nothing when invalid', () => {
    const file = join(dir, 'dump.toml')
    writeFileSync(
      file,
      [
        'upstream = "http://user:hunter2@127.0.0.1:9/mcp?token=t0p"',
        '[proxy.listen]',
        'host = "127.0.0.1"',
        '[auth]',
        'type = "bearer"',
        'tokens = ["bearer-secret-0123456789"]',
        '[cloud]',
        'token = "mcpr_cloudsecret"',
        '[tunnel]',
        'token = "tunnel-secret"',
        '[csp]',
        'domains = ["https://api.example.com"]',
        '',
      ].join('\n'),
    )
    const out = runCliSync(['validate', '--dump', '-c', file])
    assert.equal(out.status, 0, out.stderr)
    assert.equal(out.stderr, `ok: ${file} is valid\n`)
    const dumped = JSON.parse(out.stdout) as {
      port: number
      upstream: string
      auth: { tokens: string[] }
      cloud: { token: string }
      tunnel: { token: string }
      csp: { domains: string[] }
    }
    assert.equal(dumped.port, 8080)
    assert.equal(dumped.upstream, 'http://[redacted]@127.0.0.1:9/mcp?token=[redacted]')
    assert.deepEqual(dumped.auth.tokens, ['[redacted]'])
    assert.equal(dumped.cloud.token, '[redacted]')
    assert.equal(dumped.tunnel.token, '[redacted]')
    assert.deepEqual(dumped.csp.domains, ['https://api.example.com'])
    for (const secret of ['hunter2', 't0p', 'bearer-secret', 'cloudsecret', 'tunnel-secret'])
      assert.ok(!out.stdout.includes(secret), secret)
    writeFileSync(file, 'upstream = "http://127.0.0.1:9/mcp"\nprot = 1\n')
    const bad = runCliSync(['validate', '--dump', '-c', file])
    assert.equal(bad.status, 1)
    assert.equal(bad.stdout, '')
  })

  it('portico proxy run FILE serves, names the proxy after the file, and proxy logs reads it', async () => {
    const file = join(dir, 'search.toml')
    writeFileSync(file, `mcp = "${demo.url}"\nport = 0\n`)
    const db = join(dir, 'named.db')
    const proxy = await spawnReady(process.execPath, [CLI, 'proxy', 'run', file], {
      env: cliEnv({ PORTICO_DB: db }),
      ready: LISTENING,
    })
    try {
      const url = LISTENING.exec(proxy.output())?.[1] ?? ''
      const client = new Client({ name: 'mcpr-cli-test', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL(url)))
      await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })
      await client.close()
      const rows = await until(
        () => {
          const out = runCliSync(['proxy', 'logs', '--db', db, '--tool', 'add', '--json'])
          const found = jsonLines(out.stdout)
          return found.length > 0 ? found : undefined
        },
        10_000,
        'the tools/call row',
      )
      assert.deepEqual(
        rows.map((row) => [row.proxy, row.method, row.name, row.status]),
        [['search', 'tools/call', 'add', 'ok']],
      )
      const status = runCliSync(['proxy', 'status', '--db', db, '--proxy', 'search', '--json'])
      assert.equal(status.status, 0, status.stderr)
      const report = JSON.parse(status.stdout) as {
        proxy: string
        tools: Array<{ name: string; calls: number }>
      }
      assert.equal(report.proxy, 'search')
      assert.deepEqual(
        report.tools.map((tool) => [tool.name, tool.calls]),
        [['add', 1]],
      )
    } finally {
      await proxy.stop()
    }
  })

  it('portico run with no file finds mcpr.toml in the working directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'portico-mcpr-cwd-'))
    writeFileSync(join(cwd, 'mcpr.toml'), `mcp = "${demo.url}"\nport = 0\n`)
    const proxy = await spawnReady(process.execPath, [CLI, 'run'], {
      env: cliEnv({ PORTICO_DB: join(cwd, 'store.db') }),
      ready: LISTENING,
      cwd,
    })
    try {
      assert.match(proxy.stdout(), new RegExp(`\\(upstream ${demo.url.replace(/[.]/g, '\\.')}\\)`))
    } finally {
      await proxy.stop()
      rmSync(cwd, { recursive: true, force: true })
    }
    const both = mkdtempSync(join(tmpdir(), 'portico-mcpr-cwd-'))
    writeFileSync(join(both, 'mcpr.toml'), 'mcp = "http://127.0.0.1:1/mcp"\n')
    writeFileSync(join(both, 'portico.toml'), 'upstream = "http://127.0.0.1:2/mcp"\n')
    writeFileSync(join(both, 'proxy.toml'), 'upstream = "http://127.0.0.1:3/mcp"\n')
    assert.equal(loadConfig({ cwd: both, env: {} }).file, join(both, 'portico.toml'))
    rmSync(join(both, 'portico.toml'))
    const mcpr = loadConfig({ cwd: both, env: {} })
    assert.equal(mcpr.file, join(both, 'mcpr.toml'))
    assert.equal(mcpr.config.upstream, 'http://127.0.0.1:1/mcp')
    assert.equal(mcpr.config.name, undefined, 'mcpr.toml gives no name: it comes from the upstream')
    rmSync(join(both, 'mcpr.toml'))
    // mcp-proxy's default file, last.
    assert.equal(loadConfig({ cwd: both, env: {} }).file, join(both, 'proxy.toml'))
    rmSync(both, { recursive: true, force: true })
  })

  it('portico run with no file finds mcp-proxy’s proxy.toml in the working directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'portico-mcp-proxy-cwd-'))
    // mcp-proxy's layout: the listen address under [proxy.listen], a gateway of backends.
    writeFileSync(
      join(cwd, 'proxy.toml'),
      [
        '[proxy]',
        'name = "from-proxy-toml"',
        '[proxy.listen]',
        'host = "127.0.0.1"',
        'port = 0',
        '[[backends]]',
        'name = "demo"',
        'transport = "http"',
        `url = "${demo.url}"`,
        '',
      ].join('\n'),
    )
    const proxy = await spawnReady(process.execPath, [CLI, 'run'], {
      env: cliEnv({ PORTICO_DB: join(cwd, 'store.db') }),
      ready: LISTENING,
      cwd,
    })
    try {
      assert.match(proxy.stdout(), /\(gateway: demo\)/)
    } finally {
      await proxy.stop()
    }
    const check = spawnSync(process.execPath, [CLI, 'check'], {
      cwd,
      env: cliEnv(),
      encoding: 'utf8',
    })
    assert.equal(check.status, 0, check.stderr)
    assert.equal(check.stdout, `ok: ${join(cwd, 'proxy.toml')} is valid\n`)
    rmSync(cwd, { recursive: true, force: true })
  })

  it('a command’s options before its name are refused by name, not read as run’s', () => {
    // `portico --port 3000 run …` was run with a config file named "run" (file not found), and
    // `portico --db x logs --tail 1` complained of --tail.
    for (const [args, command] of [
      [['--port', '0', 'run', '--upstream', 'http://127.0.0.1:1/mcp'], 'run'],
      [['--db', join(dir, 'x.db'), 'logs', '--tail', '1'], 'logs'],
      [['--db', join(dir, 'x.db'), 'proxy', 'logs'], 'proxy'],
    ] as const) {
      const out = runCliSync([...args])
      assert.equal(out.status, 2, args.join(' '))
      assert.match(
        out.stderr,
        new RegExp(`^error: options before '${command}' are not its: write them after it`),
        args.join(' '),
      )
    }
  })

  it('mcp-proxy’s --from-mcp-json and --import-mcp-json say what to type instead', () => {
    const from = runCliSync(['--from-mcp-json', '.mcp.json'])
    assert.equal(from.status, 2)
    assert.equal(
      from.stderr,
      'portico: --from-mcp-json is mcp-proxy’s: portico import .mcp.json writes portico.toml from its servers, then portico run serves them (on port 3000; mcp-proxy served 127.0.0.1:8080: add --port 8080 to keep its address)\n',
    )
    const importing =
      'portico: --import-mcp-json is mcp-proxy’s: write [proxy] import_backends = ".mcp.json" in the config file (its backends win over those of the same name)\n'
    const merged = runCliSync(['run', '-c', 'proxy.toml', '--import-mcp-json', '.mcp.json'])
    assert.equal(merged.status, 2)
    assert.equal(merged.stderr, importing)
    // With mcp-proxy's --check too (its own order of flags): check knows the flags as well.
    const checked = runCliSync([
      '--config',
      'proxy.toml',
      '--import-mcp-json',
      '.mcp.json',
      '--check',
    ])
    assert.equal(checked.status, 2)
    assert.equal(checked.stderr, importing)
  })

  it('portico help [command] is --help, as mcpr’s help command is (clap’s)', () => {
    const top = runCliSync(['--help'])
    assert.equal(top.status, 0)
    assert.deepEqual(runCliSync(['help']), top)
    const run = runCliSync(['run', '--help'])
    assert.equal(run.status, 0)
    assert.match(run.stdout, /^Usage: portico run /)
    assert.deepEqual(runCliSync(['help', 'run']), run)
    assert.deepEqual(runCliSync(['proxy', 'help', 'logs']), runCliSync(['proxy', 'logs', '--help']))
  })

  it('-c FILE before the command is that command’s file, never dropped for another one', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'portico-global-config-'))
    // A valid mcpr.toml in the working directory: the file a dropped -c would fall back to.
    writeFileSync(join(cwd, 'mcpr.toml'), 'mcp = "http://127.0.0.1:1/mcp"\nport = 0\n')
    const bad = join(cwd, 'bad.toml')
    writeFileSync(bad, 'upstream = "http://127.0.0.1:1/mcp"\nprot = 3000\n')
    const good = join(cwd, 'good.toml')
    writeFileSync(good, 'upstream = "http://127.0.0.1:1/mcp"\nport = 0\n')
    const cli = (args: string[]) => {
      const out = spawnSync(process.execPath, [CLI, ...args], {
        cwd,
        env: cliEnv({ PORTICO_DB: join(cwd, 'store.db') }),
        encoding: 'utf8',
        timeout: 20_000,
      })
      return { status: out.status, stdout: out.stdout, stderr: out.stderr }
    }
    try {
      // mcpr's global -c (`mcpr -c FILE validate`): the file checked is FILE.
      for (const args of [
        ['-c', bad, 'check'],
        ['--config', bad, 'validate'],
        ['-c', bad, 'proxy', 'run'],
      ]) {
        const out = cli(args)
        assert.notEqual(out.status, 0, `portico ${args.join(' ')}: ${out.stdout}`)
        assert.match(out.stderr, /bad\.toml:2: prot: unknown key "prot"/, args.join(' '))
      }
      const ok = cli(['-c', good, 'check'])
      assert.equal(ok.status, 0, ok.stderr)
      assert.equal(ok.stdout, `ok: ${good} is valid\n`)
      // Two files, one before the command and one after it (or a word and --config): refused,
      // as run refuses them, rather than one picked in silence.
      for (const args of [
        ['-c', good, 'check', '-c', bad],
        ['-c', good, 'check', bad],
        ['check', good, '--config', bad],
      ]) {
        const out = cli(args)
        assert.equal(out.status, 2, `portico ${args.join(' ')}: ${out.stdout}`)
        assert.match(out.stderr, /two config files/, args.join(' '))
      }
      // The option given twice on one command, the root or `run`: refused too (before: the last
      // one was read, the first never, and check said ok).
      for (const args of [
        ['-c', bad, '-c', good, 'check'],
        ['check', '-c', bad, '-c', good],
        ['validate', '-c', bad, '-c', good],
        ['--config', bad, '--config', good, '--check'],
        ['run', '-c', bad, '-c', good],
      ]) {
        const out = cli(args)
        assert.equal(out.status, 2, `portico ${args.join(' ')}: ${out.stdout}`)
        assert.match(out.stderr, /given twice .*: name one --config/, args.join(' '))
      }
      // A command that reads no config file says so.
      const version = cli(['-c', good, 'version'])
      assert.equal(version.status, 2)
      assert.equal(version.stdout, '')
      assert.match(version.stderr, /--config .*version/)
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  })

  it('portico relay run takes mcpr’s relay file: mode = "relay", the top-level port and limits', async () => {
    // mcpr's relay reads `mode = "relay"`, the top-level port and body limits, and [relay].
    const file = join(dir, 'relay.toml')
    writeFileSync(
      file,
      [
        'mode = "relay"',
        'port = 0',
        'max_request_body_size = 1000',
        'max_response_body_size = 2000',
        '',
        '[relay]',
        'domain = "tunnel.example.com"',
        'host = "127.0.0.1"',
        '',
      ].join('\n'),
    )
    const relay = loadConfig({ file, env: {}, relay: true }).config.relay
    assert.equal(relay?.port, 0)
    assert.equal(relay?.max_request_body_size, 1000)
    assert.equal(relay?.max_response_body_size, 2000)
    const run = await spawnReady(process.execPath, [CLI, 'relay', 'run', file], {
      env: cliEnv(),
      ready: /Portico relay listening on http:\/\/127\.0\.0\.1:(\d+)/,
    })
    try {
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(run.stdout())?.[1]
      assert.notEqual(port, '8080', 'the top-level port = 0, not the default')
      // A SIGHUP (systemctl reload) is said and ignored: it ended the relay, every tunnel with it.
      run.child.kill('SIGHUP')
      await until(
        () => /received SIGHUP: the relay reloads nothing/.test(run.output()) || undefined,
        5000,
        'the SIGHUP said',
      )
      assert.equal(run.child.exitCode, null, 'the relay still runs')
      assert.equal(run.child.signalCode, null)
      const health = await fetch(`http://127.0.0.1:${port}/healthz`)
      await health.arrayBuffer()
      assert.ok(health.status > 0)
    } finally {
      await run.stop()
    }
    // `portico validate` checks it as the relay reads it, as mcpr's validate did.
    const valid = runCliSync(['validate', '-c', file])
    assert.equal(valid.status, 0, valid.stderr)
    assert.match(
      valid.stdout,
      /ok: .*relay\.toml is a valid relay config \(run it with portico relay /,
    )
    // Found as ./mcpr.toml, as mcpr's validate reads it (before: refused as a proxy's file),
    // and with --dump, its [relay] table as JSON on stdout, the verdict on stderr.
    const folder = mkdtempSync(join(tmpdir(), 'portico-relay-found-'))
    try {
      copyFileSync(file, join(folder, 'mcpr.toml'))
      const found = spawnSync(process.execPath, [CLI, 'validate', '--dump'], {
        cwd: folder,
        env: cliEnv({ HOME: folder }),
        encoding: 'utf8',
        timeout: 20_000,
      })
      assert.equal(found.status, 0, found.stderr)
      assert.match(found.stderr, /ok: .*mcpr\.toml is a valid relay config/)
      const dumped = JSON.parse(found.stdout) as {
        relay: { domain: string; max_tunnels_per_token: unknown }
      }
      assert.equal(dumped.relay.domain, 'tunnel.example.com')
      // A limit, shown (it was "[redacted]", its name holding "token").
      assert.equal(dumped.relay.max_tunnels_per_token, 100)
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
    writeFileSync(file, 'mode = "relay"\n[relay]\nport = 99999\n')
    const invalid = runCliSync(['check', file])
    assert.equal(invalid.status, 1)
    assert.match(invalid.stderr, /relay\.port/)
    // [relay]'s own keys win over the top level's; for a proxy, mode = "relay" stays an error.
    writeFileSync(file, 'port = 3000\n[relay]\ndomain = "t.example.com"\nport = 0\n')
    assert.equal(loadConfig({ file, env: {}, relay: true }).config.relay?.port, 0)
    writeFileSync(file, 'mode = "relay"\nmcp = "http://127.0.0.1:1/mcp"\n')
    assert.throws(() => loadConfig({ file, env: {} }), /mode = "relay"/)
  })

  it('store vacuum --before 7d prunes first, as in mcpr; --dry-run only counts', () => {
    const db = join(dir, 'vacuum.db')
    const store = openStore(db, { create: true })
    const day = 86_400_000
    new Ingestor(store).write([
      exchangeEvent({
        method: 'tools/call',
        name: 'old',
        targetKind: 'tool',
        ts: Date.now() - 10 * day,
      }),
      exchangeEvent({
        method: 'tools/call',
        name: 'new',
        targetKind: 'tool',
        ts: Date.now() - 1000,
      }),
    ])
    store.close()
    const kept = () =>
      jsonLines(runCliSync(['logs', '--db', db, '--since', '30d', '--json']).stdout).map(
        (r) => r.name,
      )
    const dry = runCliSync(['store', 'vacuum', '--before', '7d', '--dry-run', '--db', db])
    assert.equal(dry.status, 0, dry.stderr)
    assert.match(dry.stdout, /^DRY RUN — no changes made\nWould delete 1 exchanges, /)
    assert.doesNotMatch(dry.stdout, /Vacuumed/)
    assert.deepEqual(kept(), ['old', 'new'])
    const done = runCliSync(['store', 'vacuum', '--before', '7d', '--db', db])
    assert.equal(done.status, 0, done.stderr)
    assert.match(done.stdout, /^Deleted 1 exchanges, [^\n]* older than 7d \([^)]+\)\.\nVacuumed /)
    assert.deepEqual(kept(), ['new'])
  })

  it('logs --status timeout and --error-code select those rows only', () => {
    const db = join(dir, 'errors.db')
    const store = openStore(db, { create: true })
    const now = Date.now()
    new Ingestor(store).write([
      exchangeEvent({ method: 'tools/call', name: 'fast', targetKind: 'tool', ts: now - 4000 }),
      exchangeEvent({
        method: 'tools/call',
        name: 'slow',
        targetKind: 'tool',
        ts: now - 3000,
        outcome: 'error',
        errorCode: -32603,
        reason: 'upstream_timeout',
        httpStatus: 504,
      }),
      exchangeEvent({
        method: 'tools/call',
        name: 'bad-args',
        targetKind: 'tool',
        ts: now - 2000,
        outcome: 'error',
        errorCode: -32602,
        httpStatus: 200,
      }),
      exchangeEvent({
        method: 'tools/call',
        name: 'down',
        targetKind: 'tool',
        ts: now - 1000,
        outcome: 'error',
        errorCode: -32603,
        reason: 'upstream_unavailable',
        httpStatus: 502,
      }),
    ])
    store.close()
    const names = (args: string[]) => {
      const out = runCliSync(['proxy', 'logs', '--db', db, '--json', ...args])
      assert.equal(out.status, 0, out.stderr)
      return jsonLines(out.stdout).map((row) => row.name)
    }
    assert.deepEqual(names(['--status', 'timeout']), ['slow'])
    assert.deepEqual(names(['--error-code', '-32602']), ['bad-args'])
    assert.deepEqual(names(['--error-code', '-32603']), ['slow', 'down'])
    assert.deepEqual(names(['--status', 'error']), ['slow', 'bad-args', 'down'])
    // mcpr's positional proxy name (`proxy logs [name]`), the same as --proxy.
    assert.deepEqual(names(['p', '--status', 'timeout']), ['slow'])
    const unknown = runCliSync(['proxy', 'logs', 'other', '--db', db])
    assert.equal(unknown.status, 1)
    assert.equal(
      unknown.stderr,
      `portico: unknown proxy "other": the store ${db} has no records of it; it has "p"\n`,
    )
    const two = runCliSync(['proxy', 'slow', 'p', 'q', '--db', db])
    assert.equal(two.status, 2)
    assert.match(
      two.stderr,
      /^error: too many arguments for 'proxy slow': expected at most one proxy name, got p q\n/,
    )
    // The same word without `proxy`: it named no proxy, and every proxy's rows were printed.
    const top = runCliSync(['logs', 'p', '--db', db, '--json', '--status', 'timeout'])
    assert.equal(top.status, 0, top.stderr)
    assert.deepEqual(
      jsonLines(top.stdout).map((row) => row.name),
      ['slow'],
    )
    const topUnknown = runCliSync(['status', 'other', '--db', db])
    assert.equal(topUnknown.status, 1)
    assert.equal(
      topUnknown.stderr,
      `portico: unknown proxy "other": the store ${db} has no records of it; it has "p"\n`,
    )
    const topTwo = runCliSync(['status', 'p', 'q', '--db', db])
    assert.equal(topTwo.status, 2)
    assert.match(topTwo.stderr, /^error: too many arguments for 'status': expected at most one/)
    const both = runCliSync(['status', 'p', '--proxy', 'q', '--db', db])
    assert.equal(both.status, 2)
    assert.match(both.stderr, /^error: two proxy names: p and --proxy q\n/)
    const bad = runCliSync(['logs', '--db', db, '--error-code', 'x'])
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr, 'portico: --error-code: expected an integer such as -32602, got "x"\n')
    const status = runCliSync(['logs', '--db', db, '--status', 'slow'])
    assert.equal(status.status, 2)
    assert.equal(status.stderr, 'portico: --status: expected ok, error or timeout, got "slow"\n')
  })
})
