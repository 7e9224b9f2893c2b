/**
 * The operating tables load as the seeds write them: mcp-proxy's `[observability]` (verbatim
 * from its full example, tracing uncommented) and mcpr's `[cloud]` and `admin_bind`, with no
 * warnings; the admin API fails closed on a non-loopback address without a token; and
 * OpenTelemetry's exporter variables fill the tracing keys a file leaves unset.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig, loadConfigText } from '../../src/config/load.ts'
import { parseBind } from '../../src/config/operate.ts'
import { runCliSync } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

function file(text: string): string {
  const dir = scratchDir('portico-operate-config-')
  const path = join(dir, 'portico.toml')
  writeFileSync(path, text)
  return path
}

/** mcp-proxy's config.example.toml, the `--- Observability ---` part, tracing uncommented. */
const SEED_OBSERVABILITY = `
[observability]
# Structured audit logging (target: mcp::audit)
audit = true
# Log level (trace, debug, info, warn, error)
log_level = "info"
# JSON structured logging (for production log aggregation)
json_logs = false

# Prometheus metrics (exposed at /admin/metrics)
[observability.metrics]
enabled = true

# OpenTelemetry distributed tracing (OTLP export)
[observability.tracing]
enabled = true
endpoint = "http://localhost:4317"
service_name = "mcp-proxy"
`

/** mcpr's documented [cloud] table and admin bind. */
const MCPR_CLOUD = `
mcp = "http://localhost:9000"
admin_bind = "127.0.0.1:9901"

[cloud]
token = "mcpr_abc123"
server = "my-server"
endpoint = "https://api.mcpr.app/api/ingest-events"
batch_size = 100
flush_interval_ms = 5000
`

describe('operating config', () => {
  it("accepts mcp-proxy's [observability] tables without warnings", () => {
    const text = `[proxy]\nname = "p"\n[[backends]]\nname = "files"\ntransport = "stdio"\ncommand = "npx"\n${SEED_OBSERVABILITY}`
    const { config, warnings } = loadConfig({ file: file(text), env: {} })
    assert.deepEqual(warnings, [])
    assert.equal(config.observability.audit, true)
    assert.equal(config.observability.metrics.enabled, true)
    assert.equal(config.observability.tracing.enabled, true)
    assert.equal(config.observability.tracing.service_name, 'mcp-proxy')
    assert.equal(config.log_level, 'info')
    assert.equal(config.json_logs, false)
  })

  it('refuses a [cloud] token no Authorization header can carry, at its line', () => {
    // A secret mounted from a file ends in a newline. Before: accepted, and every batch failed
    // ("invalid authorization header"), only a warning in the log saying so.
    const variable = ['$', '{MCPR_TOKEN}'].join('')
    const text = MCPR_CLOUD.replace('token = "mcpr_abc123"', `token = "${variable}"`)
    assert.throws(
      () => loadConfig({ file: file(text), env: { MCPR_TOKEN: 'mcpr_abc123\n' } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /:6: cloud\.token: sent as Authorization: a header value holds visible ASCII/.test(
          error.message,
        ) &&
        !error.message.includes('mcpr_abc123'),
    )
  })

  it("accepts mcpr's [cloud] and admin_bind without warnings", () => {
    const { config, warnings } = loadConfig({ file: file(MCPR_CLOUD), env: {} })
    assert.deepEqual(warnings, [])
    assert.equal(config.cloud?.token, 'mcpr_abc123')
    assert.equal(config.cloud?.server, 'my-server')
    assert.equal(config.admin_bind, '127.0.0.1:9901')
    // Without `endpoint`, the config says where a token's events go (check --dump shows it).
    const bare = loadConfig({
      file: file(MCPR_CLOUD.replace(/^endpoint = .*\n/m, '')),
      env: {},
    }).config
    assert.equal(bare.cloud?.endpoint, 'https://api.mcpr.app/api/ingest-events')
  })

  it('portico check warns of the seed’s gRPC tracing port, as portico run does, and of nothing else', () => {
    const cases: Array<[string, string]> = [
      [
        `mcp = "http://localhost:9000"\n${SEED_OBSERVABILITY}`,
        "warning: observability.tracing.endpoint http://localhost:4317: port 4317 is OTLP/gRPC's; Portico exports OTLP/HTTP (usually port 4318, e.g. http://localhost:4318)\n",
      ],
      [MCPR_CLOUD, ''],
    ]
    for (const [text, stderr] of cases) {
      const result = runCliSync(['check', '-c', file(text)])
      assert.equal(result.status, 0, result.stderr)
      assert.equal(result.stderr, stderr)
      assert.match(result.stdout, /^ok: /)
    }
    // The endpoint as it is shown everywhere: without its credentials (before, verbatim).
    const secret = `upstream = "http://127.0.0.1:9000/mcp"
[observability.tracing]
enabled = true
endpoint = "http://collector-user:BASICPASSWORD@127.0.0.1:4317/?api_key=QUERYSECRET"
`
    const result = runCliSync(['check', '-c', file(secret)])
    assert.equal(result.status, 0, result.stderr)
    assert.match(
      result.stderr,
      /endpoint http:\/\/\[redacted\]@127\.0\.0\.1:4317\/\?api_key=\[redacted\]: port 4317/,
    )
    assert.doesNotMatch(result.stderr, /BASICPASSWORD|QUERYSECRET|collector-user/)
  })

  it('hoists [observability] log settings; the top level may repeat them, not contradict them', () => {
    const nested = loadConfig({
      file: file('mcp = "http://x:1"\n[observability]\nlog_level = "warn"\njson_logs = true\n'),
      env: {},
    }).config
    assert.equal(nested.log_level, 'warn')
    assert.equal(nested.json_logs, true)
    const top = loadConfig({
      file: file('mcp = "http://x:1"\nlog_level = "warn"\n[observability]\nlog_level = "warn"\n'),
      env: {},
    }).config
    assert.equal(top.log_level, 'warn')
    // Before: the top level won in silence.
    assert.throws(
      () =>
        loadConfig({
          file: file(
            'mcp = "http://x:1"\nlog_level = "error"\n[observability]\nlog_level = "warn"\n',
          ),
          env: {},
        }),
      /observability\.log_level and the top-level log_level name one setting and disagree/,
    )
    const flag = loadConfig({
      file: file('mcp = "http://x:1"\n[observability]\nlog_level = "warn"\n'),
      env: { PORTICO_LOG_LEVEL: 'debug' },
    }).config
    assert.equal(flag.log_level, 'debug')
  })

  it('reads trace, the finest level of mcp-proxy’s example, as debug, wherever a level is given', () => {
    const levels = [
      loadConfig({ file: file('mcp = "http://x:1"\nlog_level = "trace"\n'), env: {} }),
      loadConfig({
        file: file('mcp = "http://x:1"\n[observability]\nlog_level = "trace"\n'),
        env: {},
      }),
      loadConfig({ file: file('mcp = "http://x:1"\n'), env: { PORTICO_LOG_LEVEL: 'trace' } }),
      loadConfig({ file: file('mcp = "http://x:1"\n'), env: {}, overrides: { logLevel: 'trace' } }),
    ].map((loaded) => loaded.config.log_level)
    assert.deepEqual(levels, ['debug', 'debug', 'debug', 'debug'])
  })

  it('reports a bad [observability] log_level once, at its line (it also sets the top level)', () => {
    const result = runCliSync([
      'check',
      '-c',
      file('mcp = "http://x:1"\n[observability]\nlog_level = "verbose"\njson_logs = "yes"\n'),
    ])
    assert.equal(result.status, 1)
    const lines = result.stderr
      .replace(/^portico: /, '')
      .trimEnd()
      .split('\n')
    assert.deepEqual(
      lines.map((line) => line.replace(/^\S+\.toml/, 'FILE')),
      [
        'FILE:3: observability.log_level: Invalid option: expected one of "debug"|"info"|"warn"|"error"|"silent"|"trace"',
        'FILE:4: observability.json_logs: Invalid input: expected boolean, received string',
        '2 problems found',
      ],
    )
  })

  it("refuses an admin_bind on the main listener's own address", () => {
    // Before: accepted by check, and run failed as if another program held the port.
    for (const text of [
      'mcp = "http://x:1"\nport = 9100\nadmin_bind = "127.0.0.1:9100"\n',
      'mcp = "http://x:1"\nport = 9100\nhost = "0.0.0.0"\nadmin_bind = "127.0.0.1:9100"\n[admin]\ntoken = "0123456789abcdef0"\n',
    ]) {
      assert.throws(
        () => loadConfig({ file: file(text), env: {} }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /admin_bind 127\.0\.0\.1:9100 is the main listener's own address/.test(error.message),
        text,
      )
    }
    // Another port, or any port (0), is fine.
    for (const bind of ['127.0.0.1:9101', '127.0.0.1:0']) {
      const text = `mcp = "http://x:1"\nport = 9100\nadmin_bind = "${bind}"\n`
      assert.equal(loadConfig({ file: file(text), env: {} }).config.admin_bind, bind)
    }
  })

  it('refuses [admin] enabled = true beside admin_bind: the two place the admin API apart', () => {
    // Before: enabled was ignored, and a request to the main /admin (its token with it) was
    // forwarded to the upstream.
    for (const bind of ['127.0.0.1:9901', 'none']) {
      const text = `mcp = "http://x:1"\nadmin_bind = "${bind}"\n[admin]\nenabled = true\n`
      assert.throws(
        () => loadConfig({ file: file(text), env: {} }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /:4: admin\.enabled: \[admin\] enabled = true serves the admin API under \/admin on the main listener, and admin_bind = .*: keep one/.test(
            error.message,
          ),
        text,
      )
    }
  })

  it('fails closed: an admin API on a non-loopback address needs a token', () => {
    for (const text of [
      'mcp = "http://x:1"\nadmin_bind = "0.0.0.0:9901"\n',
      'mcp = "http://x:1"\nhost = "0.0.0.0"\n[admin]\nenabled = true\n',
    ]) {
      assert.throws(
        () => loadConfig({ file: file(text), env: {} }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /not a loopback address: set \[admin\] token/.test(error.message),
      )
    }
    const withToken = loadConfig({
      file: file(
        'mcp = "http://x:1"\nadmin_bind = "0.0.0.0:9901"\n[admin]\ntoken = "0123456789abcdef0"\n',
      ),
      env: {},
    }).config
    assert.equal(withToken.admin.token, '0123456789abcdef0')
    // Loopback without a token, and `none`, are fine.
    loadConfig({ file: file('mcp = "http://x:1"\nadmin_bind = "127.0.0.1:0"\n'), env: {} })
    loadConfig({
      file: file('mcp = "http://x:1"\nhost = "0.0.0.0"\nadmin_bind = "none"\n'),
      env: {},
    })
  })

  it('rejects a malformed admin_bind and a short token with their lines', () => {
    assert.throws(
      () => loadConfigText('mcp = "http://x:1"\nadmin_bind = "nine-nine-oh-one"\n'),
      /:2: admin_bind: expected "host:port"/,
    )
    assert.throws(
      () => loadConfigText('mcp = "http://x:1"\n[admin]\ntoken = "short"\n'),
      /:3: admin\.token: an admin token needs at least 16 characters/,
    )
  })

  it('refuses an endpoint with credentials beside another Authorization, at its line', () => {
    assert.throws(
      () =>
        loadConfigText(
          'mcp = "http://x:1"\n[cloud]\ntoken = "mcpr_abc123"\nendpoint = "https://u:p@hooks.example.com/in"\n',
        ),
      /:4: cloud\.endpoint: has credentials \(sent as Basic authentication\) and token is set too/,
    )
    assert.throws(
      () =>
        loadConfigText(
          'mcp = "http://x:1"\n[observability.tracing]\nendpoint = "https://u:p@otel.example.com"\nheaders = { Authorization = "Bearer t" }\n',
        ),
      /:3: observability\.tracing\.endpoint: has credentials .* headers sets Authorization too/,
    )
    // Not valid percent-encoding: refused at its line (`portico run` ended with a URIError).
    assert.throws(
      () =>
        loadConfigText(
          'mcp = "http://x:1"\n[cloud]\nendpoint = "http://hook:s3cr%ZZt@hooks.example.com/in"\n',
        ),
      /:3: cloud\.endpoint: its user:password@ is not valid percent-encoding/,
    )
    // Alone, credentials in the URL are how Basic authentication is asked for.
    const alone = loadConfigText(
      'mcp = "http://x:1"\n[cloud]\nendpoint = "https://u:p@hooks.example.com/in"\n',
    )
    assert.equal(alone.config.cloud?.endpoint, 'https://u:p@hooks.example.com/in')
  })

  it('parses binds', () => {
    assert.deepEqual(parseBind('127.0.0.1:9901'), { host: '127.0.0.1', port: 9901 })
    assert.deepEqual(parseBind('[::1]:80'), { host: '::1', port: 80 })
    assert.equal(parseBind('localhost'), undefined)
    assert.equal(parseBind('h:70000'), undefined)
  })
})

describe("OpenTelemetry's exporter variables", () => {
  const TRACING_ON =
    'upstream = "http://127.0.0.1:9000/mcp"\n[observability.tracing]\nenabled = true\n'

  it('fill the tracing keys a file leaves unset, and only those', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example:4318/otlp/',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s%3Dcret, x-team = core',
      OTEL_SERVICE_NAME: 'portico-eu',
    }
    const tracing = loadConfig({ file: file(TRACING_ON), env }).config.observability.tracing
    assert.equal(tracing.endpoint, 'https://collector.example:4318/otlp/v1/traces')
    assert.equal(tracing.protocol, 'http/json')
    assert.deepEqual(tracing.headers, { 'x-api-key': 's=cret', 'x-team': 'core' })
    assert.equal(tracing.service_name, 'portico-eu')
    const own = loadConfig({
      file: file(`${TRACING_ON}endpoint = "http://mine:4318"\nservice_name = "mine"\n`),
      env: { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/v1/traces' },
    }).config.observability.tracing
    assert.equal(own.endpoint, 'http://mine:4318')
    assert.equal(own.service_name, 'mine')
    assert.equal(own.protocol, 'http/json')
    const signal = loadConfig({
      file: file(TRACING_ON),
      env: { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/v1/traces' },
    }).config.observability.tracing
    assert.equal(signal.endpoint, 'http://traces:4318/v1/traces')
    const off = loadConfig({ file: file('upstream = "http://127.0.0.1:9000/mcp"\n'), env })
    assert.equal(off.config.observability.tracing.enabled, false, 'they never turn tracing on')
  })

  it('name the variable of a bad value, never the secret it holds', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ file: file(TRACING_ON), env })
      } catch (error) {
        assert.ok(error instanceof ConfigError)
        return error.problems.map((p) => `${p.path}: ${p.message}`)
      }
      return []
    }
    assert.deepEqual(problems({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), [
      'observability.tracing.protocol: OTEL_EXPORTER_OTLP_PROTOCOL: Portico exports OTLP over HTTP, "http/protobuf" or "http/json" (not gRPC)',
    ])
    // Before: the value was quoted (its first 40 characters), a secret set in the wrong variable.
    const protocol = problems({ OTEL_EXPORTER_OTLP_PROTOCOL: 'tok-SECRETVALUE-1234' })
    assert.equal(protocol.length, 1)
    assert.doesNotMatch(protocol[0] ?? '', /SECRETVALUE/)
    // Before: a value that decodes to a line break was taken, and every export then failed.
    const broken = problems({ OTEL_EXPORTER_OTLP_HEADERS: 'x-k=abc%0Adef' })
    assert.equal(broken.length, 1)
    assert.match(broken[0] ?? '', /OTEL_EXPORTER_OTLP_HEADERS is not a list of key=value pairs/)
    const endpoint = problems({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318?token=hunter2',
    })
    assert.equal(endpoint.length, 1)
    assert.match(endpoint[0] ?? '', /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not an absolute/)
    assert.doesNotMatch(endpoint[0] ?? '', /hunter2/)
    const headers = problems({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization Bearer hunter2' })
    assert.equal(headers.length, 1)
    assert.match(headers[0] ?? '', /OTEL_EXPORTER_OTLP_HEADERS is not a list of key=value pairs/)
    assert.doesNotMatch(headers[0] ?? '', /hunter2/)
  })

  it('stop nothing while tracing is off: they are set for other services too', () => {
    // A namespace's collector for gRPC services: before, Portico refused to start.
    const env = {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4317',
      OTEL_EXPORTER_OTLP_HEADERS: 'not a header list',
    }
    const off = loadConfig({ file: file('upstream = "http://127.0.0.1:9000/mcp"\n'), env })
    assert.equal(off.config.observability.tracing.enabled, false)
    assert.throws(() => loadConfig({ file: file(TRACING_ON), env }), ConfigError)
  })

  it('refuses [observability.tracing] headers no export could send', () => {
    for (const [headers, message] of [
      [
        '{ "x-api-key" = "a\\nb" }',
        /observability\.tracing\.headers\.x-api-key: a header value holds visible ASCII or Latin-1 characters/,
      ],
      [
        '{ "bad key" = "v" }',
        /observability\.tracing\.headers\.bad key: expected an HTTP header name/,
      ],
      // Before: accepted, and every export failed (the body's length is not 5).
      [
        '{ "content-length" = "5" }',
        /observability\.tracing\.headers\.content-length: content-length is set by the HTTP client/,
      ],
      [
        '{ Host = "evil" }',
        /observability\.tracing\.headers\.Host: Host is set by the HTTP client/,
      ],
    ] as const) {
      const text = `${TRACING_ON}headers = ${headers}\n`
      assert.throws(
        () => loadConfig({ file: file(text), env: {} }),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        text,
      )
    }
  })
})
