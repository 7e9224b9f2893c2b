import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { parseDuration } from '../../src/config/duration.ts'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { scratchDir } from '../helpers/scratch.ts'

function file(text: string): string {
  const dir = scratchDir('portico-config-')
  const path = join(dir, 'portico.toml')
  writeFileSync(path, text)
  return path
}

/** `${NAME}` as written in a config file (built here so the linter sees no template typo). */
function ref(name: string): string {
  return ['$', '{', name, '}'].join('')
}

function problems(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    loadConfig({ file: file(text), env })
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

describe('loadConfig', () => {
  it('accepts mcpr keys (mcp, port, log_format)', () => {
    const { config } = loadConfig({
      file: file('mcp = "http://localhost:9000/mcp"\nport = 3004\nlog_format = "json"\n'),
      env: {},
    })
    assert.equal(config.upstream, 'http://localhost:9000/mcp')
    assert.equal(config.port, 3004)
    assert.equal(config.json_logs, true)
  })

  it('refuses a log_format mcpr would refuse, at its line, in [runtime] too', () => {
    const url = 'mcp = "http://localhost:9000/mcp"\n'
    for (const value of ['pretty', 'text'])
      assert.equal(
        loadConfig({ file: file(`${url}log_format = "${value}"\n`), env: {} }).config.json_logs,
        false,
      )
    const expected = 'expected "json" or "pretty" (mcpr\'s values; "text" is "pretty")'
    assert.deepEqual(
      problems(`${url}log_format = "josn"\n`).map(({ path, line, message }) => ({
        path,
        line,
        message,
      })),
      [{ path: 'log_format', line: 2, message: expected }],
    )
    assert.deepEqual(
      problems(`${url}[runtime]\nlog_format = "JSON "\n`).map(({ path, line, message }) => ({
        path,
        line,
        message,
      })),
      [{ path: 'runtime.log_format', line: 3, message: expected }],
    )
  })

  it('names a key [runtime] does not hold as that key, at its line, not the table', () => {
    const url = 'mcp = "http://localhost:9000/mcp"\n'
    assert.deepEqual(
      problems(`${url}[runtime]\nlog_format = "json"\nrequest_timeout = 10\nspeed = 3\n`).map(
        ({ path, line, message }) => ({ path, line, message }),
      ),
      [
        {
          path: 'runtime.request_timeout',
          line: 4,
          message:
            'unknown key "request_timeout": mcpr\'s [runtime] holds log_format, admin_bind and drain_timeout (request_timeout is a top-level key: move it above the tables)',
        },
        {
          path: 'runtime.speed',
          line: 5,
          message:
            'unknown key "speed": mcpr\'s [runtime] holds log_format, admin_bind and drain_timeout',
        },
      ],
    )
  })

  it("names a problem in an inline array's entry at the entry's own line", () => {
    const text = [
      'upstream = "http://localhost:9000/mcp"',
      '[auth]',
      'api_keys = [',
      '  { name = "a", key = "aaaa-key-0123456789abcdef" }, # a comment, "quoted"',
      '  { name = "b,c", key = "bbbb-key-0123456789abcdef", roles = ["x", "y"] },',
      '  { name = "c", key = "cccc-key-0123456789abcdef", roles = ["nosuch"] },',
      ']',
      '',
    ].join('\n')
    const found = problems(text).find(({ path }) => path.startsWith('auth.api_keys[2]'))
    assert.equal(found?.line, 6, JSON.stringify(problems(text)))
  })

  it('names a problem in a key moved to where Portico reads it as the file wrote it, at its line', () => {
    const url = 'mcp = "http://localhost:9000/mcp"\n'
    const found = (text: string) =>
      problems(text).map(({ path, line, message }) => ({ path, line, message }))
    assert.deepEqual(found(`${url}[runtime]\ndrain_timeout = -3\n`), [
      { path: 'runtime.drain_timeout', line: 3, message: 'expected a duration of 0 or more' },
    ])
    assert.deepEqual(
      found(`${url}[store]\nname = "my proxy!"\n`).map(({ path, line }) => ({ path, line })),
      [{ path: 'store.name', line: 3 }],
    )
    const cache = (lines: string) =>
      found(`upstream = "http://localhost:9000/mcp"\n[cache]\n${lines}`)
    assert.deepEqual(cache('backend = "redis"\nurl = "http://x"\n'), [
      { path: 'cache.url', line: 4, message: 'expected a redis:// or rediss:// URL' },
    ])
    assert.deepEqual(cache('backend = "redis"\n'), [
      { path: 'cache.backend', line: 3, message: 'backend = "redis" needs url = "redis://…"' },
    ])
    // mcp-proxy refuses any other backend: a misspelt one must not leave caches per process.
    assert.deepEqual(cache('backend = "Redis"\nurl = "redis://127.0.0.1:6379"\n'), [
      {
        path: 'cache.backend',
        line: 3,
        message:
          'expected "memory", "redis" or "sqlite" (mcp-proxy\'s cache backends), not "Redis"',
      },
    ])
    assert.deepEqual(cache('backend = "memory"\n'), [])
  })

  it('refuses values nested past 100 levels at their line, with no stack overflow', () => {
    // Before: TOML's dotted keys nest without the parser's bound, and `a.a.….a = 1` with 5,000
    // parts was "Maximum call stack size exceeded" (portico check) or a 500 (admin validate).
    const deep = `upstream = "http://localhost:9000/mcp"\n${Array(5000).fill('a').join('.')} = 1\n`
    assert.deepEqual(problems(deep), [
      { path: 'a.a.a…', message: 'nested deeper than 100 levels', line: 2 },
    ])
    const fine = `upstream = "http://localhost:9000/mcp"\n[x]\n${Array(99).fill('a').join('.')} = 1\n`
    assert.doesNotMatch(JSON.stringify(problems(fine)), /nested deeper/)
  })

  it('applies defaults', () => {
    const { config } = loadConfig({ file: file('upstream = "http://127.0.0.1:9000/mcp"'), env: {} })
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.mcp_path, '/mcp')
    assert.equal(config.max_request_body_size, 4 * 1024 * 1024)
    assert.equal(config.request_timeout, 60_000)
    assert.equal(config.drain_timeout, 30_000)
  })

  it('lets PORTICO_* variables override the file and flags override both', () => {
    const path = file('upstream = "http://127.0.0.1:9000/mcp"\nport = 3000\n')
    const env = {
      PORTICO_PORT: '4000',
      PORTICO_UPSTREAM: 'http://127.0.0.1:9100/mcp',
      PORTICO_DB: '/tmp/x.db',
    }
    const fromEnv = loadConfig({ file: path, env }).config
    assert.equal(fromEnv.port, 4000)
    assert.equal(fromEnv.upstream, 'http://127.0.0.1:9100/mcp')
    assert.equal(fromEnv.store.path, '/tmp/x.db')
    const fromFlags = loadConfig({
      file: path,
      env,
      overrides: { port: 5000, db: '/tmp/y.db' },
    }).config
    assert.equal(fromFlags.port, 5000)
    assert.equal(fromFlags.store.path, '/tmp/y.db')
  })

  it('reads PORTICO_JSON_LOGS as shells and service files write booleans, and refuses the rest', () => {
    const path = file('upstream = "http://127.0.0.1:9000/mcp"\njson_logs = false\n')
    const jsonLogs = (value: string) =>
      loadConfig({ file: path, env: { PORTICO_JSON_LOGS: value } }).config.json_logs
    for (const value of ['on', 'ON', 'yes', 'true', 'True', '1', ' on ']) {
      assert.equal(jsonLogs(value), true, value)
    }
    for (const value of ['off', 'no', 'false', 'FALSE', '0']) assert.equal(jsonLogs(value), false)
    const found = problems('upstream = "http://127.0.0.1:9000/mcp"\n', { PORTICO_JSON_LOGS: 'y' })
    assert.deepEqual(found, [
      {
        path: 'json_logs',
        message: 'expected true or false (also yes/no, on/off, 1/0), got "y"',
        source: 'PORTICO_JSON_LOGS',
      },
    ])
  })

  it('names the variable or flag a bad value came from, never a line of the file', () => {
    const text = 'upstream = "http://127.0.0.1:9000/mcp"\n# the port\nport = 3000\n'
    const path = file(text)
    const loaded = (env: NodeJS.ProcessEnv, overrides = {}) => {
      try {
        loadConfig({ file: path, env, overrides })
      } catch (error) {
        if (error instanceof ConfigError) return error
        throw error
      }
      assert.fail('expected a ConfigError')
    }
    const port = loaded({ PORTICO_PORT: '70000' })
    assert.deepEqual(
      port.problems.map((p) => [p.source, p.line, p.path]),
      [['PORTICO_PORT', undefined, 'port']],
    )
    assert.equal(port.message, 'PORTICO_PORT: port: Too big: expected number to be <=65535')
    assert.equal(
      loaded({ PORTICO_PORT: 'abc' }).message,
      'PORTICO_PORT: port: expected a whole number, got "abc"',
    )
    // A flag wins over the variable, and is what a problem names.
    assert.equal(
      loaded({ PORTICO_PORT: '70000' }, { port: 80000 }).message,
      '--port: port: Too big: expected number to be <=65535',
    )
    // ... and a broken variable a flag overrides is not used, so it is no problem.
    assert.equal(
      loadConfig({ file: path, env: { PORTICO_PORT: 'abc' }, overrides: { port: 1 } }).config.port,
      1,
    )
    assert.match(loaded({ PORTICO_LOG_LEVEL: 'loud' }).message, /^PORTICO_LOG_LEVEL: log_level: /)
    assert.match(loaded({}, { logLevel: 'loud' }).message, /^--log-level: log_level: /)
    assert.match(loaded({ PORTICO_UPSTREAM: 'nope' }).message, /^PORTICO_UPSTREAM: upstream: /)
    assert.match(loaded({ PORTICO_WORKERS: 'lots' }).message, /^PORTICO_WORKERS: workers: /)
    assert.match(loaded({ PORTICO_PUBLIC_URL: 'x' }).message, /^PORTICO_PUBLIC_URL: public_url: /)
    // The file's own problems keep their line beside the variable's.
    const both = problems('upstream = "http://127.0.0.1:9000/mcp"\nport = 70000\n', {
      PORTICO_LOG_LEVEL: 'loud',
    })
    assert.deepEqual(
      both.map((p) => [p.line, p.source, p.path]),
      [
        [2, undefined, 'port'],
        [undefined, 'PORTICO_LOG_LEVEL', 'log_level'],
      ],
    )
  })

  it('interpolates environment references and reports a missing variable', () => {
    const { config } = loadConfig({
      file: file(`upstream = "http://${ref('HOST')}:9000/mcp"`),
      env: { HOST: 'example.internal' },
    })
    assert.equal(config.upstream, 'http://example.internal:9000/mcp')
    assert.deepEqual(
      problems(`upstream = "http://${ref('NOPE')}/mcp"`).map((p) => p.message)[0],
      'environment variable NOPE is not set',
    )
  })

  it('reads defaults, nested ones too; an unset variable inside a default is a problem', () => {
    const $ = '$' + '{' // a reference's opening, as written in a file
    const upstream = (text: string, env: Record<string, string> = {}) =>
      loadConfig({ file: file(`upstream = "${text}"`), env }).config.upstream
    assert.equal(upstream(`http://${$}NOPE:-a.example}/mcp`), 'http://a.example/mcp')
    assert.equal(
      upstream(`http://${$}NOPE:-${$}HOST}}/mcp`, { HOST: 'b.example' }),
      'http://b.example/mcp',
    )
    assert.equal(
      upstream(`http://${$}NOPE:-${$}NADA:-c.example}}:9${$}PORT:-0}/mcp`),
      'http://c.example:90/mcp',
    )
    assert.equal(upstream(`http://d.example/$${$}A:-${$}B}}`), `http://d.example/${$}A:-${$}B}}`)
    // mcp-proxy would send the literal text as a credential: here it is the unset B.
    assert.deepEqual(
      problems(`upstream = "http://${$}A:-${$}B}}/mcp"`).map((p) => p.message),
      ['environment variable B is not set'],
    )
    const deep = `${`${$}X:-`.repeat(9)}e.example${'}'.repeat(9)}`
    assert.deepEqual(
      problems(`upstream = "http://${deep}/mcp"`).map((p) => p.message),
      ['defaults nested deeper than 8'],
    )
  })

  it('reports every problem with its line and key path', () => {
    const found = problems(
      'upstream = "not a url"\n\nport = 70000\nprot = 1\n\n[store]\nenabled = "yes"\n',
    )
    const byPath = Object.fromEntries(found.map((p) => [p.path, p]))
    assert.equal(byPath.upstream?.line, 1)
    assert.match(byPath.upstream?.message ?? '', /absolute http/)
    assert.equal(byPath.port?.line, 3)
    assert.equal(byPath['store.enabled']?.line, 7)
    assert.ok(found.some((p) => /unknown key "prot"/.test(p.message)))
  })

  it('names the line of a mistake inside a table that may also be written as a value', () => {
    const found = problems(
      [
        'upstream = "http://127.0.0.1:9/mcp"',
        '[timeout]',
        'seconds = -5',
        '[[backends]]',
        'name = "a"',
        'transport = "http"',
        'url = "http://127.0.0.1:9/mcp"',
        '[backends.timeout]',
        'attempt = "20x"',
      ].join('\n'),
    )
    assert.deepEqual(
      found.map((p) => [p.line, p.path, p.message]),
      [
        [3, 'timeout.seconds', 'expected a number of seconds > 0'],
        [9, 'backends[0].timeout.attempt', 'expected a duration like "30s" or "500ms", got "20x"'],
      ],
    )
    // Neither a value nor a table: the union's own message.
    assert.match(problems('timeout = true')[0]?.message ?? '', /a duration .* or a table/)
  })

  it('refuses a duration longer than a timer can wait, instead of firing at once', () => {
    const found = problems(
      [
        'request_timeout = "30d"',
        'drain_timeout = 1e308',
        '[proxy]',
        'shutdown_timeout_seconds = 9e9',
        '[[backends]]',
        'name = "a"',
        'transport = "stdio"',
        'command = "x"',
        '[backends.timeout]',
        'seconds = 2592000',
        '[backends.retry]',
        'max_backoff_ms = 1e12',
        '[backends.hedging]',
        'delay_ms = 3e9',
      ].join('\n'),
    )
    assert.deepEqual(
      found.map((p) => [p.line, p.path]),
      [
        [1, 'request_timeout'],
        [2, 'drain_timeout'],
        [4, 'proxy.shutdown_timeout_seconds'],
        [10, 'backends[0].timeout.seconds'],
        [12, 'backends[0].retry.max_backoff_ms'],
        [14, 'backends[0].hedging.delay_ms'],
      ],
    )
    for (const problem of found) assert.match(problem.message, /at most 24\.8 days/)
    // Neither a number nor a string, or below 0: said as what a duration is.
    for (const value of ['inf', 'nan', '1979-05-27', 'true', '-3']) {
      const [problem] = problems(`upstream = "http://127.0.0.1:9/mcp"\nrequest_timeout = ${value}`)
      assert.match(problem?.message ?? '', /^expected a duration (like|of 0 or more)/, value)
    }
    // The longest that fits is accepted; a rate's period is no timer and may be longer.
    assert.deepEqual(problems('upstream = "http://127.0.0.1:9/mcp"\nrequest_timeout = "24d"'), [])
    const rate = '[rate_limit]\nrequests = 1\nperiod_seconds = 86400000'
    assert.deepEqual(problems(`upstream = "http://127.0.0.1:9/mcp"\n${rate}`), [])
  })

  it('refuses a widgets URL with a path, query or credentials (only its origin would be used)', () => {
    const upstream = 'upstream = "http://127.0.0.1:9/mcp"\n'
    for (const url of [
      'http://u:p@127.0.0.1:5173',
      'http://127.0.0.1:5173/app/',
      'http://h:1/?x=1',
    ]) {
      const [problem] = problems(`${upstream}widgets = "${url}"\n`)
      assert.equal(problem?.path, 'widgets', url)
      assert.equal(problem?.line, 2, url)
      assert.match(problem?.message ?? '', /used for its origin alone/)
    }
    assert.deepEqual(problems(`${upstream}widgets = "http://127.0.0.1:5173/"\n`), [])
    assert.deepEqual(problems(`${upstream}widgets = "./dist"\n`), [])
  })

  it('lets workers serve a [tunnel] file with no_tunnel or --no-tunnel (no tunnel opens)', () => {
    const tunnel =
      '[tunnel]\nenabled = true\nrelay_url = "https://r.example"\ntoken = "tok-0123456789abcdef"'
    const text = `upstream = "http://127.0.0.1:9/mcp"\nworkers = 2\n${tunnel}\n`
    assert.match(problems(text)[0]?.message ?? '', /must be 1 with \[tunnel\] enabled/)
    // Before: refused, though the flag keeps the tunnel closed.
    const flagged = loadConfig({ file: file(text), env: {}, overrides: { noTunnel: true } })
    assert.equal(flagged.config.workers, 2)
    assert.deepEqual(problems(`no_tunnel = true\n${text}`), [])
  })

  it("refuses mcpr's max_concurrent_upstream disagreeing with [concurrency], and warns of it in a gateway", () => {
    const upstream = 'upstream = "http://127.0.0.1:9/mcp"\n'
    // Before: the table's 3 was taken and the 1 dropped without a word.
    const both = problems(
      `${upstream}max_concurrent_upstream = 1\n[concurrency]\nmax_concurrent = 3\n`,
    )
    assert.deepEqual(
      both.map((p) => [p.line, p.path, p.message]),
      [
        [
          2,
          'max_concurrent_upstream',
          'max_concurrent_upstream (1) and [concurrency] max_concurrent (3) name one setting and disagree: keep one',
        ],
      ],
    )
    assert.deepEqual(
      problems(`${upstream}max_concurrent_upstream = 3\n[concurrency]\nmax_concurrent = 3\n`),
      [],
    )
    const gateway = '[[backends]]\nname = "b"\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\n'
    const { warnings } = loadConfig({
      file: file(`max_concurrent_upstream = 2\n${gateway}`),
      env: {},
    })
    assert.ok(
      warnings.some((w) =>
        /max_concurrent_upstream limits the one upstream of transparent mode/.test(w),
      ),
      warnings.join('\n'),
    )
  })

  it('reads only a regular file of at most 16 MiB: a FIFO, /dev/zero or a huge file is refused at once', () => {
    const dir = scratchDir('portico-config-files-')
    const fifo = join(dir, 'fifo.toml')
    execFileSync('mkfifo', [fifo])
    const zero = join(dir, 'zero.toml')
    symlinkSync('/dev/zero', zero)
    const huge = join(dir, 'huge.toml')
    writeFileSync(huge, 'upstream = "http://127.0.0.1:9/mcp"\n')
    truncateSync(huge, 17 * 1024 * 1024)
    // Before: a FIFO with no writer, or /dev/zero, blocked the process for ever (a reload too).
    for (const [path, why] of [
      [fifo, 'not a regular file'],
      [zero, 'not a regular file'],
      [huge, 'larger than 16 MiB'],
    ]) {
      assert.throws(
        () => loadConfig({ file: path, env: {} }),
        (error: unknown) =>
          error instanceof ConfigError && error.message.includes(`cannot read file (${why})`),
        path,
      )
    }
  })

  it('names a url that does not parse, where other checks read it too (no TypeError)', () => {
    const upstream = problems('upstream = "127.0.0.1:9000/mcp"\nworkers = 2')
    assert.deepEqual(
      upstream.map((p) => [p.line, p.path]),
      [[1, 'upstream']],
    )
    const backend = problems(
      '[[backends]]\nname = "r"\ntransport = "websocket"\nurl = "127.0.0.1:9000/ws"',
    )
    assert.deepEqual(
      backend.map((p) => [p.line, p.path]),
      [[4, 'backends[0].url']],
    )
  })

  it('names the line of a key written as a table, a dotted key, or a later element’s sub-table', () => {
    const found = problems(
      [
        'upstream = "http://127.0.0.1:9/mcp"',
        'tracing.enabled = true',
        '[securty]',
        'admin_token = "abcdefabcdefabcdef12"',
        '[[backends]]',
        'name = "a"',
        'transport = "stdio"',
        'command = "x"',
        '[backends.timeout]',
        'seconds = 30',
        '[[backends]]',
        'name = "b"',
        'transport = "stdio"',
        'command = "x"',
        '[backends.timeout]',
        'seconds = "soon"',
      ].join('\n'),
    )
    assert.deepEqual(
      found.map((p) => [p.line, p.path]),
      [
        [2, 'tracing'],
        [3, 'securty'],
        [16, 'backends[1].timeout.seconds'],
      ],
    )
  })

  it('refuses mcpr’s name and Portico’s for one setting when they disagree', () => {
    const found = problems(
      [
        'mcp = "http://127.0.0.1:9001/mcp"',
        'upstream = "http://127.0.0.1:9002/mcp"',
        'json_logs = false',
        'log_format = "json"',
      ].join('\n'),
    )
    assert.deepEqual(
      found.map((p) => [p.line, p.message]),
      [
        [2, 'upstream and mcp name one setting and disagree: keep one'],
        [4, 'log_format and json_logs name one setting and disagree: keep one'],
      ],
    )
    const agreeing = 'mcp = "http://127.0.0.1:9/mcp"\nupstream = "http://127.0.0.1:9/mcp"'
    assert.deepEqual(problems(`${agreeing}\njson_logs = true\nlog_format = "json"`), [])
  })

  it('refuses a served path no request can reach (a dot segment or a backslash), at its line', () => {
    // Before: accepted, and every request to it was refused 400 before routing.
    const message =
      'a "." or ".." segment or a backslash: requests to such a path are refused before routing, so it could never be reached'
    const cases: Array<[string, string]> = [
      ['mcp_path = "/a/../mcp"', 'mcp_path'],
      ['sse_path = "/./sse"', 'sse_path'],
      [
        '[observability.metrics]\nenabled = true\npath = "/m/%2E%2e/x"',
        'observability.metrics.path',
      ],
      ['[observability.metrics]\nenabled = true\npath = "/x\\\\y"', 'observability.metrics.path'],
    ]
    for (const [text, key] of cases) {
      const found = problems(`upstream = "http://127.0.0.1:9/mcp"\n${text}`)
      const line = text.split('\n').length + 1
      assert.deepEqual(
        found.map((p) => [p.line, p.path, p.message]),
        [[line, key, message]],
        text,
      )
    }
  })

  it('refuses a listen host that is not an address or a host name, at its line', () => {
    // Before: `portico check` said ok, and `run` failed to resolve it.
    const message =
      'expected an IP address or a host name of this machine (e.g. 127.0.0.1, 0.0.0.0, ::, localhost), without a port'
    for (const text of [
      'host = "0.0.0.0:3000"',
      'host = "bad host"',
      'host = ""',
      '[proxy.listen]\nhost = "[::1]"',
      '[relay]\nhost = "relay:8080"',
    ]) {
      const found = problems(`upstream = "http://127.0.0.1:9/mcp"\n${text}`)
      const line = text.split('\n').length + 1
      assert.deepEqual(
        found.map((p) => [p.line, p.message]),
        [[line, message]],
        text,
      )
    }
    for (const host of ['0.0.0.0', '::', '::1', 'localhost', 'my_service', 'mcp.example.com.']) {
      assert.deepEqual(problems(`upstream = "http://127.0.0.1:9/mcp"\nhost = "${host}"`), [], host)
    }
  })

  it("refuses mcp-proxy's and mcpr's tables and the top level saying two things of one setting", () => {
    // Before: the top level won in silence; with these two, Portico served every interface.
    const listen = problems(
      'host = "0.0.0.0"\nport = 1111\n[proxy.listen]\nhost = "127.0.0.1"\nport = 2222',
    )
    assert.deepEqual(
      listen.map((p) => [p.line, p.message]),
      [
        [
          4,
          'proxy.listen.host and the top-level host name one setting and disagree ("127.0.0.1" and "0.0.0.0"): keep one',
        ],
        [
          5,
          'proxy.listen.port and the top-level port name one setting and disagree (2222 and 1111): keep one',
        ],
      ],
    )
    for (const [text, message] of [
      [
        'drain_timeout = 5\n[runtime]\ndrain_timeout = 60',
        /runtime\.drain_timeout and the top-level drain_timeout/,
      ],
      [
        'log_level = "debug"\n[observability]\nlog_level = "error"',
        /observability\.log_level and the top-level log_level/,
      ],
      [
        'json_logs = true\n[observability]\njson_logs = false',
        /observability\.json_logs and the top-level json_logs/,
      ],
      [
        'log_format = "json"\n[observability]\njson_logs = false',
        /observability\.json_logs and the top-level log_format/,
      ],
    ] as const) {
      const found = problems(text)
      assert.ok(
        found.some((p) => message.test(p.message)),
        `${text}: ${JSON.stringify(found)}`,
      )
    }
    // Saying the same thing twice, or the table alone (a port it leaves out is 8080), is fine.
    assert.deepEqual(problems('host = "127.0.0.1"\n[proxy.listen]\nhost = "127.0.0.1"'), [])
    assert.deepEqual(problems('port = 1111\n[proxy.listen]\nhost = "127.0.0.1"'), [])
    assert.deepEqual(problems('log_level = "warn"\n[observability]\nlog_level = "warn"'), [])
  })

  it('names an imported server and its file, not backends[i], for a problem of its own', () => {
    const config = file(
      'upstream = "http://127.0.0.1:9/mcp"\n[proxy]\nimport_backends = "mcp.json"\n',
    )
    const servers = join(dirname(config), 'mcp.json')
    writeFileSync(servers, JSON.stringify({ mcpServers: { remote: { url: 'wss:' } } }))
    assert.throws(
      () => loadConfig({ file: config, env: {} }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.deepEqual(
          error.problems.map((p) => [p.line, p.path, p.message]),
          [
            [
              3,
              'proxy.import_backends',
              `${servers}: server "remote": url: expected an absolute http://, https://, ws:// or wss:// URL`,
            ],
          ],
        )
        return true
      },
    )
  })

  it('refuses an MCP path that is one of Portico’s own (it would take that path’s place)', () => {
    const taken = (lines: string) =>
      problems(`upstream = "http://127.0.0.1:9/mcp"\n${lines}`).map((p) => [p.line, p.message])
    assert.deepEqual(taken('mcp_path = "/sse"'), [
      [2, "/sse is Portico's path for sse_path (the legacy HTTP+SSE stream): choose another"],
    ])
    assert.deepEqual(taken('mcp_path = "/healthz"'), [
      [2, "/healthz is Portico's path for the health probe: choose another"],
    ])
    const metrics = 'mcp_path = "/metrics"\n[observability.metrics]\nenabled = true'
    assert.match(String(taken(metrics)[0]?.[1]), /the Prometheus metrics/)
    const dashboard = 'mcp_path = "/_portico/mcp"\n[dashboard]\nenabled = true'
    assert.match(String(taken(dashboard)[0]?.[1]), /the dashboard/)
    // A path nothing of Portico's serves is the MCP endpoint's to take.
    assert.deepEqual(taken('mcp_path = "/metrics"'), [])
    assert.deepEqual(taken('mcp_path = "/"'), [])
  })

  it('refuses a metrics or dashboard path that overlaps another of Portico’s, at its own key', () => {
    const found = (lines: string) =>
      problems(`upstream = "http://127.0.0.1:9/mcp"\n${lines}`).map((p) => [
        p.line,
        p.path,
        p.message,
      ])
    const metricsAt = (path: string) =>
      found(`[observability.metrics]\nenabled = true\npath = "${path}"`)
    // Never served (the probe answers first), or in the legacy stream's place.
    assert.deepEqual(metricsAt('/healthz'), [
      [
        4,
        'observability.metrics.path',
        "/healthz is Portico's path for the health probe: choose another",
      ],
    ])
    assert.deepEqual(metricsAt('/sse'), [
      [
        4,
        'observability.metrics.path',
        "/sse is Portico's path for sse_path (the legacy HTTP+SSE stream): choose another",
      ],
    ])
    // A prefix that takes every path: blamed on itself, not on mcp_path.
    assert.deepEqual(metricsAt('/'), [
      [
        4,
        'observability.metrics.path',
        "/ overlaps Portico's path for the MCP endpoint (/mcp): choose another",
      ],
    ])
    assert.deepEqual(metricsAt('/prom'), [])
    const dashboard = found(
      '[dashboard]\nenabled = true\npath = "/admin/"\n[admin]\nenabled = true',
    )
    assert.equal(dashboard[0]?.[1], 'dashboard.path')
    assert.match(String(dashboard[0]?.[2]), /the admin API/)
  })

  it("refuses a dashboard path on the upstream's OAuth, or one a browser resolves away", () => {
    const at = (path: string, upstream = 'upstream = "http://127.0.0.1:9/mcp"\n') =>
      problems(`${upstream}[dashboard]\nenabled = true\npath = "${path}"`).map((p) => [
        p.line,
        p.path,
        p.message,
      ])
    // Before: accepted, and the dashboard answered the upstream's discovery with its own 404.
    for (const path of ['/.well-known/', '/oauth/', '/oauth2/', '/token/', '/Authorize/']) {
      assert.deepEqual(
        at(path),
        [
          [
            4,
            'dashboard.path',
            `${path} is where the upstream's own OAuth lives (its discovery and token endpoints always go to it): choose another path for the dashboard`,
          ],
        ],
        path,
      )
    }
    // A gateway has no upstream OAuth to keep.
    const gateway = '[[backends]]\nname = "b"\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\n'
    assert.deepEqual(at('/oauth/', gateway), [])
    // Before: accepted, and no browser could open it (it goes to /x/../ → /).
    for (const path of ['/x/../', '/../x/', '/./']) {
      assert.match(String(at(path)[0]?.[2]), /without \. or \.\. segments/, path)
    }
    assert.deepEqual(at('/a.b/'), [])
  })

  it('refuses __proto__ as a key (it would set a prototype, hiding what it holds)', () => {
    const found = problems(
      'upstream = "http://127.0.0.1:9/mcp"\n[__proto__.auth]\ntokens = ["abcdefabcdefabcdef12"]',
    )
    assert.deepEqual(
      found.map((p) => [p.line, p.path, p.message]),
      [[2, '__proto__', 'the key "__proto__" is not allowed']],
    )
    // Object's own property names are unknown keys like any other, not aliases or present.
    for (const key of ['constructor', 'hasOwnProperty', 'toString']) {
      const unknown = problems(`upstream = "http://127.0.0.1:9/mcp"\n${key} = "x"`)
      assert.deepEqual(
        unknown.map((p) => [p.line, p.message]),
        [[2, `unknown key "${key}"`]],
      )
    }
  })

  it('reports a bad required value once, not again as missing once it is set aside', () => {
    const found = problems('upstream = "http://127.0.0.1:9/mcp"\n[shared]\nredis = "http://nope"\n')
    assert.deepEqual(
      found.map((p) => [p.line, p.path, p.message]),
      [[3, 'shared.redis', 'expected a redis:// or rediss:// URL']],
    )
  })

  it('refuses a Redis URL the client would fail on after start', () => {
    const cases: Array<[string, string]> = [
      ['redis://127.0.0.1:6379/abc', 'the part after the host must be a database number'],
      ['redis://127.0.0.1:6379/0/x', 'the part after the host must be a database number'],
      ['redis://127.0.0.1:6379?db=abc', 'db in the query must be a database number'],
      ['redis://:s3cret%PW@127.0.0.1:6379', 'holds a % that starts no percent-escape'],
    ]
    for (const [url, message] of cases) {
      const found = problems(`upstream = "http://127.0.0.1:9/mcp"\n[shared]\nredis = "${url}"\n`)
      assert.equal(found.length, 1, url)
      assert.equal(found[0]?.path, 'shared.redis')
      assert.ok(found[0]?.message.includes(message), found[0]?.message)
      // The password is never echoed.
      assert.ok(!found[0]?.message.includes('s3cret'))
    }
    for (const url of [
      'redis://127.0.0.1:6379',
      'redis://127.0.0.1:6379/',
      'rediss://u:p%25w@h:1/15',
    ]) {
      assert.deepEqual(
        problems(`upstream = "http://127.0.0.1:9/mcp"\n[shared]\nredis = "${url}"\n`),
        [],
        url,
      )
    }
  })

  it('names the line of a TOML syntax error', () => {
    const found = problems('upstream = "http://x"\nport = [\n')
    assert.equal(found.length, 1)
    assert.match(found[0]?.message ?? '', /invalid TOML/)
    assert.ok((found[0]?.line ?? 0) >= 2)
  })

  it('a JSON file read as TOML says how to bring an MCP client config instead', () => {
    const path = join(scratchDir('portico-config-'), 'claude_desktop_config.json')
    writeFileSync(path, '{"mcpServers": {"files": {"command": "npx"}}}')
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (error: ConfigError) => {
        assert.match(error.problems[0]?.message ?? '', /^invalid TOML at column 1: /)
        assert.match(
          error.problems[0]?.message ?? '',
          /Portico's config is TOML or YAML; for an MCP client's config with mcpServers, `portico import .*claude_desktop_config\.json` writes a portico\.toml/,
        )
        return true
      },
    )
    // Only for a .json file: a broken TOML file gets the TOML message alone.
    assert.doesNotMatch(problems('{"upstream": 1}')[0]?.message ?? '', /portico import/)
  })

  it('warns about other tools keys instead of failing', () => {
    const { warnings } = loadConfig({
      file: file('mcp = "http://localhost:9000"\nmode = "proxy"\n'),
      env: {},
    })
    assert.match(warnings[0] ?? '', /mode = "proxy" is ignored: Portico is a gateway/)
  })

  it('names UTF-16 (as PowerShell writes it) instead of a TOML syntax error; a UTF-8 BOM loads', () => {
    const text = 'upstream = "http://localhost:9000/mcp"\n'
    const utf16 = file('')
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]))
    assert.throws(
      () => loadConfig({ file: utf16, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /the file is UTF-16 text .*save it as UTF-8/.test(error.problems[0]?.message ?? ''),
    )
    const bom = file('')
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))
    assert.equal(loadConfig({ file: bom, env: {} }).config.upstream, 'http://localhost:9000/mcp')
  })

  it('imports an MCP client config saved with a UTF-8 BOM (Notepad), and names a UTF-16 one', () => {
    const path = file('[proxy]\nimport_backends = "mcp.json"\n')
    const json = JSON.stringify({ mcpServers: { memo: { command: 'node', args: ['memo.js'] } } })
    const mcpJson = join(dirname(path), 'mcp.json')
    writeFileSync(mcpJson, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]))
    const { config } = loadConfig({ file: path, env: {} })
    assert.deepEqual(
      (config.backends ?? []).map((backend) => backend.name),
      ['memo'],
    )
    writeFileSync(mcpJson, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')]))
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /mcp\.json: the file is UTF-16 text/.test(error.problems[0]?.message ?? ''),
    )
  })

  it('imports VS Code’s mcp.json with comments and trailing commas; a bad one names line and column', () => {
    const path = file('[proxy]\nimport_backends = "mcp.json"\n')
    const mcpJson = join(dirname(path), 'mcp.json')
    writeFileSync(
      mcpJson,
      '{\n  // my servers\n  "servers": {\n    "memo": { "type": "stdio", "command": "node", "args": ["m.js",], },\n  },\n}\n',
    )
    const { config } = loadConfig({ file: path, env: {} })
    assert.deepEqual(
      (config.backends ?? []).map((backend) => backend.name),
      ['memo'],
    )
    writeFileSync(mcpJson, '{\n  "servers": {\n    "memo": \n  }\n}\n')
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /mcp\.json: not valid JSON at line 4, column 3 \(ValueExpected\)/.test(
          error.problems[0]?.message ?? '',
        ),
    )
  })

  it('refuses a file that is not UTF-8 at the line where it stops being so', () => {
    const path = join(scratchDir('portico-latin1-'), 'portico.toml')
    // Latin-1, as an editor set to Windows-1252 saves "Café": read leniently, the é became
    // U+FFFD in the running config without a word.
    writeFileSync(
      path,
      Buffer.concat([
        Buffer.from('upstream = "http://127.0.0.1:9/mcp"\n[proxy]\ninstructions = "Caf'),
        Buffer.from([0xe9]),
        Buffer.from('"\n'),
      ]),
    )
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (error: ConfigError) =>
        error instanceof ConfigError &&
        error.problems[0]?.line === 3 &&
        /not UTF-8 from this line on .*save it as UTF-8/.test(error.problems[0]?.message ?? ''),
    )
  })

  it('reads an empty PORTICO_CONFIG as unset: the default file is loaded', () => {
    const dir = scratchDir('portico-empty-env-')
    writeFileSync(join(dir, 'portico.toml'), 'upstream = "http://127.0.0.1:9/mcp"\nport = 4321\n')
    // Before: the empty value named the working directory, read as a file (EISDIR).
    const { config } = loadConfig({ env: { PORTICO_CONFIG: '' }, cwd: dir })
    assert.equal(config.port, 4321)
  })

  it('fails clearly on a missing explicit file', () => {
    assert.throws(
      () => loadConfig({ file: '/nonexistent/portico.toml', env: {} }),
      /file not found/,
    )
  })
})

describe('parseDuration', () => {
  const cases: Array<[string, number | undefined]> = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['250us', 0.25],
    // Microseconds with the micro sign (U+00B5) and with the Greek mu (U+03BC).
    ['250\u00b5s', 0.25],
    ['250\u03bcs', 0.25],
    ['1.5 \u03bcs', 0.0015],
    ['1.5s', 1500],
    ['soon', undefined],
    ['10', undefined],
  ]
  for (const [text, ms] of cases) it(`${text} → ${ms}`, () => assert.equal(parseDuration(text), ms))
})

describe('durations in a config file', () => {
  it('take microseconds written with us, the micro sign or the Greek mu', () => {
    const { config } = loadConfig({
      file: file(
        'upstream = "http://127.0.0.1:9000/mcp"\nrequest_timeout = "500\u03bcs"\nconnect_timeout = "250\u00b5s"\ndrain_timeout = "2000us"\n',
      ),
      env: {},
    })
    assert.deepEqual(
      [config.request_timeout, config.connect_timeout, config.drain_timeout],
      [0.5, 0.25, 2],
    )
  })
})

describe('parseConfig', () => {
  it('parses raw input once: seconds become milliseconds, and a parsed config is left as it is', async () => {
    const { parseConfig } = await import('../../src/config/schema.ts')
    const parsed = parseConfig({ upstream: 'http://127.0.0.1:9000/mcp', request_timeout: 2 })
    assert.equal(parsed.request_timeout, 2000)
    assert.equal(parseConfig(parsed), parsed)
    assert.equal(parseConfig(parsed).request_timeout, 2000)
    const loaded = loadConfig({
      file: file('upstream = "http://127.0.0.1:9000/mcp"\nrequest_timeout = 1\n'),
      env: {},
    })
    assert.equal(parseConfig(loaded.config).request_timeout, 1000)
  })
})

describe('backend keys its transport never reads', () => {
  it('are named in a warning, backend by backend', () => {
    // Before: `portico check` said valid and nothing at run time said they did nothing.
    const { warnings } = loadConfig({
      file: file(
        [
          '[[backends]]',
          'name = "s"',
          'transport = "stdio"',
          'command = "srv"',
          'url = "http://127.0.0.1:1/mcp"',
          'bearer_token = "secret-token-value"',
          '[[backends]]',
          'name = "h"',
          'transport = "http"',
          'url = "http://127.0.0.1:2/mcp"',
          'command = "srv"',
          'args = ["a"]',
          'isolation = "session"',
          'max_processes = 5',
          '[[backends]]',
          'name = "fine"',
          'transport = "stdio"',
          'command = "srv"',
        ].join('\n'),
      ),
      env: {},
    })
    const named = warnings.filter((w) => /do(es)? nothing for transport/.test(w))
    assert.deepEqual(named, [
      'backend "s": url, bearer_token do nothing for transport = "stdio" (they are for http, sse and websocket backends)',
      'backend "h": command, args, isolation = "session", max_processes do nothing for transport = "http" (they are for stdio backends)',
    ])
  })
})
