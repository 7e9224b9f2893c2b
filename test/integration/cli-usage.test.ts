/**
 * The `portico` command's contract with its user, on real processes: `check` reports every
 * problem of a file in one run, in line order, with "did you mean" for misspelt keys; usage
 * errors exit 2; `--db` creates no folders but the default one; failures reach the log even
 * when stderr is not a terminal and the access log is off; the demo honours PORTICO_PORT.
 */
import assert from 'node:assert/strict'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { runCliSync, startCli } from '../helpers/cli.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const dir = scratchDir('portico-usage-')
after(() => rmSync(dir, { recursive: true, force: true }))

/** Problems of every kind, some hidden by others until those are fixed (zod refinements). */
const BAD = `prot = 3000
port = 70000
upstrem = "http://x"
log_level = "loud"

[store]
enabeld = true
retention = "forever"

[proxy]
separator = " / "

[[backends]]
name = "a"
transport = "stdio"
timeout = "soon"

[[backends]]
name = "a"
transport = "http"
comand = "x"
`

describe('portico check', () => {
  it('reports every problem in one run, in line order, with "did you mean" for misspelt keys', () => {
    const file = join(dir, 'bad.toml')
    writeFileSync(file, BAD)
    const result = runCliSync(['check', '--config', file])
    assert.equal(result.status, 1)
    const lines = result.stderr
      .replace(/^portico: /, '')
      .trimEnd()
      .split('\n')
    const found = lines.slice(0, -1)
    const expected = [
      [1, 'prot: unknown key "prot" (did you mean "port"?)'],
      [2, 'port: '],
      [3, 'upstrem: unknown key "upstrem" (did you mean "upstream"?)'],
      [4, 'log_level: '],
      [7, 'store.enabeld: unknown key "enabeld" (did you mean "enabled"?)'],
      [8, 'store.retention: '],
      [11, 'proxy.separator: '],
      [13, 'backends[0].command: stdio backends need a command'],
      [16, 'backends[0].timeout: '],
      [18, 'backends[1].url: http backends need a url'],
      [19, 'backends[1].name: duplicate backend name (also backends[0])'],
      [21, 'backends[1].comand: unknown key "comand" (did you mean "command"?)'],
    ] as const
    assert.equal(found.length, expected.length, result.stderr)
    expected.forEach(([line, text], i) => {
      assert.ok(
        found[i]?.startsWith(`${file}:${line}: ${text}`),
        `${found[i]}\nexpected ${line}: ${text}`,
      )
    })
    assert.equal(lines.at(-1), `${expected.length} problems found`)
  })
})

describe('exit codes', () => {
  it('exits 2 for usage errors: unknown flag, unknown command, missing command or value', () => {
    for (const args of [['run', '--upstrem', 'x'], ['nosuch'], [], ['logs', '--since']]) {
      const result = runCliSync(args)
      assert.equal(result.status, 2, `portico ${args.join(' ')}: ${result.stderr}`)
    }
    assert.equal(runCliSync(['--version']).status, 0)
    assert.match(runCliSync(['status', '--nope']).stderr, /unknown option '--nope'/)
  })

  it('escapes control characters in what an unknown command or option quotes', () => {
    // Before: commander printed them raw, so a typed escape sequence drove the terminal.
    for (const args of [['\u001b]0;pwned\u0007\u001b[2Jstatus'], ['logs', '--\u001b[2Jbad']]) {
      const result = runCliSync(args)
      assert.equal(result.status, 2)
      const controls = [...result.stderr].filter((char) => char !== '\n' && /\p{Cc}/u.test(char))
      assert.deepEqual(controls, [], JSON.stringify(result.stderr))
      assert.match(result.stderr, /\\x1B\[2J/)
    }
  })

  it('refuses a port past 65535 and a studio URL that is none as usage errors', () => {
    for (const args of [
      ['dashboard', '--port', '70000'],
      ['demo', '--port', '65536'],
      ['dashboard', '--mcp-url', 'not a url'],
      ['dashboard', '--mcp-url', 'ftp://x/mcp'],
      // Before: a ZodError's stack, and the demo server kept the process running.
      ['demo', '--host', '0.0.0.0:3000'],
    ]) {
      const result = runCliSync(args)
      // Before: the dashboard exited 1 with Node's own words, or accepted the URL.
      assert.equal(result.status, 2, `portico ${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, /--(port|mcp-url|host): expected/)
    }
  })

  it("refuses a bad init --csp domain as the flag's usage error, not as a bug", () => {
    const result = runCliSync(['init', '--yes', '--csp', 'a.com,"b', '-o', '-'])
    // Before: exit 1, "the generated configuration does not load (a bug, please report it)".
    assert.equal(result.status, 2, result.stderr)
    assert.match(result.stderr, /--csp: "\\"b": a domain is printable ASCII/)
    assert.doesNotMatch(result.stderr, /a bug/)
  })
})

describe('bad values from the environment and flags', () => {
  it('are named by variable or flag, not blamed on the line of the file that they override', () => {
    const file = join(dir, 'fine.toml')
    writeFileSync(file, 'upstream = "http://127.0.0.1:9/mcp"\n# listen\nport = 3000\n')
    const env = runCliSync(['check', file], { PORTICO_PORT: '70000' })
    assert.equal(env.status, 1)
    assert.equal(
      env.stderr,
      'portico: PORTICO_PORT: port: Too big: expected number to be <=65535\n1 problem found\n',
    )
    const flag = runCliSync(['run', file, '--log-level', 'trace2'])
    assert.equal(flag.status, 2)
    assert.match(flag.stderr, /^portico: invalid configuration:\n--log-level: log_level: /)
    assert.doesNotMatch(flag.stderr, /fine\.toml/)
    const json = runCliSync(['check', file], { PORTICO_JSON_LOGS: 'maybe' })
    assert.equal(json.status, 1)
    assert.match(json.stderr, /^portico: PORTICO_JSON_LOGS: json_logs: expected true or false/)
  })

  it('a bad file stops run with 1, as check exits for it; a bad flag value is a usage error, 2', () => {
    const file = join(dir, 'bad-port.toml')
    writeFileSync(file, 'upstream = "http://127.0.0.1:9/mcp"\nport = 70000\n')
    assert.equal(runCliSync(['check', file]).status, 1)
    // Before: 2, a usage error, for a file the command line had nothing wrong with.
    const run = runCliSync(['run', file])
    assert.equal(run.status, 1, run.stderr)
    assert.match(run.stderr, /^portico: invalid configuration:\n.*bad-port\.toml:2: port: /)
    const env = runCliSync(['run', file], { PORTICO_PORT: '70001' })
    assert.equal(env.status, 1, env.stderr)
  })
})

describe('excess arguments', () => {
  it('are a usage error naming the command, never dropped: only pins accept and relay take several', () => {
    const file = join(dir, 'ok.toml')
    writeFileSync(file, 'upstream = "http://127.0.0.1:9/mcp"\n')
    const missing = join(dir, 'missing.toml')
    // `check ok.toml missing.toml` said "ok: ok.toml is valid" and never read the second file.
    const check = runCliSync(['check', file, missing])
    assert.equal(check.status, 2, check.stderr)
    assert.equal(check.stdout, '')
    assert.match(
      check.stderr,
      /^error: too many arguments for 'check'\. Expected 1 argument but got 2\.\n\(run "portico --help" for usage\)\n$/,
    )
    const cases: Array<[string[], string]> = [
      [['run', file, missing], 'run'],
      [['proxy', 'run', file, missing], 'run'],
      [['import', file, missing, '-o', '-'], 'import'],
      [['session', 'abc', 'def'], 'session'],
      [['version', 'x'], 'version'],
      [['store', 'stats', 'x'], 'stats'],
      [['pins', 'x'], 'pins'],
      [['demo', 'x'], 'demo'],
      [['init', 'x', '--yes', '-o', '-'], 'init'],
    ]
    for (const [args, name] of cases) {
      // Were the extra word dropped, run and demo would listen: on a port of the tests' range.
      const result = runCliSync(args, { PORTICO_PORT: '47311' })
      assert.equal(result.status, 2, `portico ${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, new RegExp(`^error: too many arguments for '${name}'`))
      assert.equal(result.stdout, '', `portico ${args.join(' ')} did something`)
    }
  })
})

describe('stdio backends that cannot start here', () => {
  it('check warns of each, and run logs why in the user’s terms', async () => {
    const file = join(dir, 'unstartable.toml')
    const stdio = (name: string, rest: string) =>
      `[[backends]]\nname = "${name}"\ntransport = "stdio"\n${rest}\n`
    writeFileSync(
      file,
      `port = 0\n[store]\nenabled = false\n${stdio('gone', 'command = "portico-no-such-command"')}${stdio(
        'file',
        `command = ${JSON.stringify(file)}`,
      )}${stdio('nowhere', `command = ${JSON.stringify(process.execPath)}\ncwd = "${join(dir, 'no-such-folder')}"`)}${stdio(
        'fine',
        `command = ${JSON.stringify(process.execPath)}`,
      )}`,
    )
    const checked = runCliSync(['check', file])
    assert.equal(checked.status, 0, checked.stderr)
    assert.equal(
      checked.stderr,
      [
        'warning: backends[0] (gone).command: "portico-no-such-command" is not on PATH here: the backend cannot start',
        `warning: backends[1] (file).command: ${file} is not an executable file here: the backend cannot start`,
        `warning: backends[2] (nowhere).cwd: ${join(dir, 'no-such-folder')} is not a folder here: the backend cannot start`,
        '',
      ].join('\n'),
    )
    const portico = await startCli(['run', file])
    try {
      const lines = await until(
        () => {
          const log = portico.stderr()
          return /backend nowhere failed/.test(log) && /backend file failed/.test(log)
            ? log
            : undefined
        },
        10_000,
        'the three failed starts',
      )
      assert.match(
        lines,
        /Backend gone could not start: command "portico-no-such-command" not found on PATH/,
      )
      assert.match(
        lines,
        new RegExp(`Backend file could not start: ${file} is not an executable file`),
      )
      // Node says `spawn <command> ENOENT` for a missing cwd: the command is not the problem.
      assert.match(
        lines,
        new RegExp(
          `Backend nowhere could not start: its cwd ${join(dir, 'no-such-folder')} does not exist`,
        ),
      )
    } finally {
      await portico.stop()
    }
  })
})

describe('listeners that cannot start', () => {
  it('names the address that failed: the main port, admin_bind, an address of another machine', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as AddressInfo
    const run = (...args: string[]) =>
      runCliSync([
        'run',
        '--upstream',
        'http://127.0.0.1:1/mcp',
        '--db',
        join(dir, 'l.db'),
        ...args,
      ])
    try {
      const hint =
        'is already in use (stop what listens there, or pick another port; 0 picks a free one)'
      const main = run('--port', String(port))
      assert.equal(main.status, 1)
      assert.equal(main.stderr, `portico: listen address 127.0.0.1:${port} ${hint}\n`)
      const file = join(dir, 'admin-bind.toml')
      writeFileSync(file, `port = 0\nadmin_bind = "127.0.0.1:${port}"\n`)
      // Before, this blamed the main port, which was free.
      const admin = run('--config', file)
      assert.equal(admin.status, 1)
      assert.equal(admin.stderr, `portico: admin_bind 127.0.0.1:${port} ${hint}\n`)
      // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
      const elsewhere = run('--port', '0', '--host', '192.0.2.1')
      assert.equal(elsewhere.status, 1)
      assert.equal(
        elsewhere.stderr,
        'portico: listen address 192.0.2.1: 192.0.2.1 is not an address of this machine\n',
      )
    } finally {
      taken.close()
    }
  })

  it('names a host name that does not resolve, in one line, for the main listener and admin_bind', () => {
    // `.invalid` never resolves (RFC 2606); without a DNS server the lookup fails as EAI_AGAIN.
    const unresolved = (what: string) =>
      new RegExp(
        `^portico: ${what} nosuchhost\\.invalid: (no such host \\(the name does not resolve; listen on an address of this machine, such as 127\\.0\\.0\\.1 or 0\\.0\\.0\\.0\\)|the name could not be resolved \\(EAI_AGAIN: [^)]*\\))\n$`,
      )
    const flag = runCliSync([
      'run',
      '--upstream',
      'http://127.0.0.1:1/mcp',
      '--db',
      join(dir, 'h.db'),
      '--port',
      '0',
      '--host',
      'nosuchhost.invalid',
    ])
    assert.equal(flag.status, 1)
    assert.match(flag.stderr, unresolved('listen address'))
    const file = join(dir, 'listen.toml')
    writeFileSync(
      file,
      'upstream = "http://127.0.0.1:1/mcp"\n[store]\nenabled = false\n[proxy.listen]\nhost = "nosuchhost.invalid"\nport = 0\n',
    )
    const table = runCliSync(['run', file])
    assert.equal(table.status, 1)
    assert.match(table.stderr, unresolved('listen address'))
    const admin = join(dir, 'admin-host.toml')
    writeFileSync(
      admin,
      `upstream = "http://127.0.0.1:1/mcp"\nport = 0\nadmin_bind = "nosuchhost.invalid:0"\n[admin]\ntoken = "${'t'.repeat(32)}"\n[store]\nenabled = false\n`,
    )
    const bind = runCliSync(['run', admin])
    assert.equal(bind.status, 1)
    assert.match(bind.stderr, unresolved('admin_bind'))
  })
})

describe('--db folders', () => {
  it('refuses a store whose folder does not exist, naming it, and creates nothing', () => {
    const missing = join(dir, 'no', 'such')
    const result = runCliSync([
      'run',
      '--upstream',
      'http://127.0.0.1:1/mcp',
      '--port',
      '0',
      '--db',
      join(missing, 'store.db'),
    ])
    assert.equal(result.status, 1)
    assert.match(result.stderr, new RegExp(`the folder ${missing} of the store .* does not exist`))
    assert.equal(existsSync(join(dir, 'no')), false)
  })

  it('creates the default folder ~/.portico', async () => {
    const home = join(dir, 'home')
    const demo = await startCli(['demo', '--port', '0'], { HOME: home, PORTICO_DB: '' })
    try {
      assert.ok(existsSync(join(home, '.portico', 'store.db')))
    } finally {
      await demo.stop()
    }
  })
})

describe('failures reach the log', () => {
  it('logs failed exchanges at warn with stderr not a terminal and no access log', async () => {
    const portico = await startCli(['run', '--upstream', `${REFUSED_ORIGIN}/mcp`, '--port', '0'])
    try {
      const response = await fetch(portico.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      })
      assert.equal(response.status, 502)
      await response.text()
      const bad = await fetch(portico.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{oops',
      })
      assert.equal(bad.status, 400)
      await bad.text()
      await until(() => /reason=parse_error/.test(portico.output()), 10_000, 'the refusal logged')
      const output = portico.output()
      assert.match(output, / warn +tools\/list error\(-32603 .*reason=upstream_unavailable/)
      // The refusal is timed like any exchange (reading the body took time).
      assert.match(output, / warn +POST error\(-32700 .* 400 [\d.]+(µs|ms) .*reason=parse_error/)
    } finally {
      await portico.stop()
    }
  })
})

describe('portico demo', () => {
  it('listens on PORTICO_PORT', async () => {
    // 0 lets the system choose: a demo that ignored the variable would sit on 3000.
    const demo = await startCli(['demo'], { PORTICO_PORT: '0' })
    try {
      assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/)
      assert.notEqual(new URL(demo.url).port, '3000')
    } finally {
      await demo.stop()
    }
  })
})
