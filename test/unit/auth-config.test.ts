/**
 * `[auth]` and `[security]` in the config: the seeds' examples (mcp-proxy's README and full
 * config, mcpr's protected-resource table) are accepted as written, with their secrets from the
 * environment; what mcp-proxy rejects is rejected, with the key's line; and anything Portico
 * would not enforce is an error, never a warning.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { scratchDir } from '../helpers/scratch.ts'

const ref = (name: string) => ['$', '{', name, '}'].join('')

function file(text: string): string {
  const path = join(scratchDir('portico-auth-config-'), 'portico.toml')
  writeFileSync(path, text)
  return path
}

function load(text: string, env: NodeJS.ProcessEnv = {}) {
  return loadConfig({ file: file(text), env })
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    load(text, env)
  } catch (error) {
    if (error instanceof ConfigError)
      return error.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`)
    throw error
  }
  return []
}

const GATEWAY = `[[backends]]
name = "files"
transport = "stdio"
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
`

/** The `[auth]` bearer example of mcp-proxy's README and config.example.toml (seeds 003, 004). */
const SEED_BEARER = `[auth]
type = "bearer"
tokens = ["${ref('MCP_TOKEN')}"]
`

/** The JWT/RBAC example of the same seeds, verbatim but for the secret-free values. */
const SEED_JWT = `[auth]
type = "jwt"
issuer = "https://auth.example.com"
audience = "mcp-proxy"
jwks_uri = "https://auth.example.com/.well-known/jwks.json"

[[auth.roles]]
name = "reader"
allow_tools = ["files/read_file", "files/list_directory"]

[[auth.roles]]
name = "admin"

[auth.role_mapping]
claim = "scope"
mapping = { "mcp:read" = "reader", "mcp:admin" = "admin" }
`

describe('[auth] from the seeds', () => {
  it("accepts mcp-proxy's bearer example with its token from the environment", () => {
    const { config } = load(`${GATEWAY}${SEED_BEARER}`, { MCP_TOKEN: 'my-secret-token' })
    assert.deepEqual(config.auth?.tokens, ['my-secret-token'])
  })

  it('refuses the bearer example when its token variable is unset', () => {
    const found = problems(`${GATEWAY}${SEED_BEARER}`)
    assert.ok(
      found.some((p) => /MCP_TOKEN is not set/.test(p)),
      found.join('\n'),
    )
  })

  it("accepts mcp-proxy's JWT example in front of one upstream, and in a gateway with admin_token", () => {
    const upstream = `upstream = "http://127.0.0.1:9000/mcp"\n${SEED_JWT}`
    assert.equal(load(upstream).config.auth?.role_mapping?.mapping['mcp:read'], 'reader')
    // Its role names tools with mcp-proxy's separator, "/", as its full config sets it.
    const gateway = `[proxy]\nseparator = "/"\n${GATEWAY}${SEED_JWT}\n[security]\nadmin_token = "${ref('ADMIN_TOKEN')}"\nmax_argument_size = 1048576\n`
    assert.equal(
      load(gateway, { ADMIN_TOKEN: 'a-long-admin-secret' }).config.security?.admin_token,
      'a-long-admin-secret',
    )
    // Left to Portico's "__", its role would allow nothing: refused, saying what to write.
    const found = problems(gateway.replace('[proxy]\nseparator = "/"\n', ''), {
      ADMIN_TOKEN: 'a-long-admin-secret',
    })
    assert.deepEqual(
      found.map((p) => p.replace(/ names backend .*/, '')),
      [
        '14: auth.roles[0].allow_tools: "files/read_file"',
        '14: auth.roles[0].allow_tools: "files/list_directory"',
      ],
    )
  })

  it("accepts mcpr's protected-resource table and makes it an OAuth resource server", () => {
    const { config } = load(`upstream = "http://127.0.0.1:9000/mcp"
[auth]
authorization_servers = ["https://auth.example.com"]
scopes_supported = ["mcp:tools"]
resource = "https://mcp.example.com/mcp"
resource_documentation = "https://example.com/docs"
`)
    assert.equal(config.auth?.authorization_servers?.[0], 'https://auth.example.com')
    assert.equal(config.auth?.resource, 'https://mcp.example.com/mcp')
  })

  it('forward_auth on an HTTP backend (mcp-proxy) is accepted with [auth]', () => {
    const { config } = load(
      `[[backends]]
name = "remote"
transport = "http"
url = "http://mcp-server:8080"
forward_auth = true
${SEED_BEARER}`,
      { MCP_TOKEN: 't' },
    )
    assert.equal(config.backends?.[0]?.forward_auth, true)
  })
})

describe('[auth] rejections (mcp-proxy rules and fail closed)', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      'duplicate tokens',
      `[auth]\ntype = "bearer"\ntokens = ["a", "b"]\nscoped_tokens = [{ token = "a", allow_tools = ["x"] }]\n`,
      /auth\.scoped_tokens\[0\]\.token: duplicate token \(also auth\.tokens\[0\]\)/,
    ],
    [
      'allow and deny on one token',
      `[auth]\ntype = "bearer"\nscoped_tokens = [{ token = "a", allow_tools = ["x"], deny_tools = ["y"] }]\n`,
      /allow_tools and deny_tools are mutually exclusive/,
    ],
    [
      'jwt without admin_token while the admin tools are exposed',
      `${GATEWAY}${SEED_JWT}`,
      /security\.admin_token: jwt auth with the admin tools exposed needs \[security\] admin_token/,
    ],
    [
      // Before: accepted, and read as no rule: the role allowed every tool.
      'an empty allow list in a role',
      `[auth]\ntype = "bearer"\ntokens = ["a"]\n[[auth.roles]]\nname = "none"\nallow_tools = []\n`,
      /auth\.roles\[0\]\.allow_tools: an empty allow list is refused .*leave the key out to allow everything/,
    ],
    [
      'an empty allow list in a scoped token',
      `[auth]\ntype = "bearer"\nscoped_tokens = [{ token = "a", allow_tools = [] }]\n`,
      /auth\.scoped_tokens\[0\]\.allow_tools: an empty allow list is refused/,
    ],
    [
      'an empty allow list of resources in a URL profile',
      `[auth]\ntype = "bearer"\ntokens = ["a"]\n[[auth.profiles]]\nname = "ro"\nallow_resources = []\n`,
      /auth\.profiles\[0\]\.allow_resources: an empty allow list is refused/,
    ],
    [
      // Before: accepted, and read as the literal name "re:^env$": it denied nothing.
      "mcp-proxy's re: syntax in a role",
      `[auth]\ntype = "bearer"\ntokens = ["a"]\n[[auth.roles]]\nname = "r"\ndeny_tools = ["re:^env$"]\n`,
      /auth\.roles\[0\]\.deny_tools\[0\]: role patterns are globs \(\* and \?\); re: regular expressions are for backend filters only/,
    ],
    [
      're: in a scoped token',
      `[auth]\ntype = "bearer"\nscoped_tokens = [{ token = "a", deny_tools = ["re:env"] }]\n`,
      /auth\.scoped_tokens\[0\]\.deny_tools\[0\]: role patterns are globs/,
    ],
    [
      "re: among a role's resources",
      `[auth]\ntype = "bearer"\ntokens = ["a"]\n[[auth.roles]]\nname = "r"\ndeny_resources = ["re:secret"]\n`,
      /auth\.roles\[0\]\.deny_resources\[0\]: role patterns are globs/,
    ],
    [
      'glob alternatives a role would read as literal characters',
      `[auth]\ntype = "bearer"\ntokens = ["a"]\n[[auth.roles]]\nname = "r"\ndeny_tools = ["{env,cwd}"]\n`,
      /auth\.roles\[0\]\.deny_tools\[0\]: role patterns are globs with \* and \? only/,
    ],
    [
      'a glob class in a profile',
      `[auth]\ntype = "bearer"\ntokens = ["a"]\n[[auth.profiles]]\nname = "p"\nallow_prompts = ["[e]nv"]\n`,
      /auth\.profiles\[0\]\.allow_prompts\[0\]: role patterns are globs with \* and \? only/,
    ],
    [
      // Before: accepted, and no rule at all: every address was let in.
      'an empty allow_ips',
      `[security]\nallow_ips = []\n`,
      /security\.allow_ips: an empty allow list is refused: it would let every address in/,
    ],
    [
      'bearer without any token',
      `[auth]\ntype = "bearer"\n`,
      /bearer auth needs at least one valid token/,
    ],
    [
      'introspection without client credentials',
      `[auth]\ntype = "oauth"\nissuer = "https://as.example.com"\naudience = "x"\ntoken_validation = "introspection"\n`,
      /needs client_id and client_secret/,
    ],
    [
      'an empty secret',
      `[auth]\ntokens = [""]\n`,
      /auth\.tokens\[0\]: expected a non-empty secret/,
    ],
    [
      'jwt without jwks_uri',
      `[auth]\ntype = "jwt"\nissuer = "https://as.example.com"\naudience = "x"\n`,
      /jwt auth needs jwks_uri/,
    ],
    [
      'an unknown auth key',
      `[auth]\ntype = "bearer"\ntokens = ["a"]\nallow_anonymous = true\n`,
      /auth\.allow_anonymous: unknown key "allow_anonymous"/,
    ],
    [
      'an unknown security key',
      `[security]\nrate_limit = 5\n`,
      /security\.rate_limit: unknown key "rate_limit"/,
    ],
    [
      'a role mapped that does not exist',
      `[auth]\ntype = "jwt"\nissuer = "https://as.example.com"\naudience = "x"\njwks_uri = "https://as.example.com/jwks"\n[[auth.roles]]\nname = "reader"\n[auth.role_mapping]\nclaim = "scope"\nmapping = { "mcp:admin" = "admin" }\n`,
      /unknown role "admin"/,
    ],
    [
      'forward_auth without [auth]',
      `[[backends]]\nname = "r"\ntransport = "http"\nurl = "http://h:1/mcp"\nforward_auth = true\n`,
      /forward_auth needs \[auth\]/,
    ],
    [
      'forward_auth on a stdio backend',
      `${GATEWAY}forward_auth = true\n[auth]\ntokens = ["a"]\n`,
      /forward_auth needs an http or sse backend/,
    ],
    [
      'an OAuth resource with no audience on a wildcard address',
      `host = "0.0.0.0"\n[auth]\nauthorization_servers = ["https://as.example.com"]\n`,
      /needs the audience tokens are issued for/,
    ],
    [
      'a sub-path in public_url, which the OAuth resource identifier would drop',
      `public_url = "https://example.com/tools"\n[auth]\nauthorization_servers = ["https://as.example.com"]\n`,
      /public_url: its path \/tools is not part of the resource identifier tokens are issued for \(https:\/\/example\.com\/mcp\); .*set auth\.resource to the public MCP URL \(e\.g\. "https:\/\/example\.com\/tools\/mcp"\)/,
    ],
    [
      'admin_token without [auth] (it would protect nothing)',
      `${GATEWAY}[security]\nadmin_token = "x-long-enough-secret"\n`,
      /admin_token needs \[auth\]/,
    ],
    [
      'forward_token with API keys (Portico never forwards its own credentials)',
      `[auth]\napi_keys = [{ name = "a", key = "k" }]\nforward_token = true\n`,
      /auth\.forward_token: forward_token passes on tokens an authorization server issued/,
    ],
    [
      'introspection keys on jwt auth (they would do nothing)',
      `[auth]\ntype = "jwt"\nissuer = "https://as.example.com"\njwks_uri = "https://as.example.com/jwks"\naudience = "a"\nintrospection_endpoint = "https://as.example.com/introspect"\nclient_secret = "s"\n`,
      /auth\.introspection_endpoint: introspection_endpoint is only used to introspect tokens/,
    ],
    [
      'an admin_token anyone could guess (it opens the admin API)',
      `${GATEWAY}[auth]\ntokens = ["a"]\n[security]\nadmin_token = "a"\n`,
      /security\.admin_token: an admin token needs at least 16 characters/,
    ],
    [
      'an API key no client can send (a space, a character outside visible ASCII)',
      `[auth]\napi_keys = [{ name = "a", key = "correct horse battery staple" }]\n`,
      /auth\.api_keys\[0\]\.key: cannot be sent as a bearer token/,
    ],
    [
      'a token no client can send',
      `[auth]\ntokens = ["pässwörd-0123456789"]\n`,
      /auth\.tokens\[0\]: cannot be sent as a bearer token/,
    ],
    [
      'OAuth keys with type = "bearer" (they would do nothing)',
      `[auth]\ntype = "bearer"\ntokens = ["a"]\nauthorization_servers = ["https://as.example.com"]\nresource = "https://p/mcp"\n`,
      /authorization_servers is not used by type = "bearer"/,
    ],
    [
      'pin_file without pin_tools',
      `[security]\npin_file = "/tmp/p.json"\n`,
      /pin_file needs pin_tools = true/,
    ],
    [
      'forward_token in gateway mode',
      `${GATEWAY}[auth]\ntokens = ["a"]\nforward_token = true\n`,
      /forward_token applies to transparent mode/,
    ],
    [
      'an IP rule that is not a CIDR block',
      `[security]\nallow_ips = ["10.0.0.0/33"]\n`,
      /expected an IP address or a CIDR block/,
    ],
    [
      "an API key named like a token's own name (one principal, two credentials)",
      `[auth]\ntokens = ["first-token-value"]\n[[auth.api_keys]]\nname = "token-0"\nkey = "an-api-key-value-long"\n`,
      /auth\.api_keys\[0\]\.name: duplicate key name/,
    ],
    [
      "an API key named like the admin token's caller (both would reach upstreams as x-user-id admin)",
      `[auth]\n[[auth.api_keys]]\nname = "admin"\nkey = "an-api-key-value-long"\n[security]\nadmin_token = "an-admin-token-value-long"\n`,
      /auth\.api_keys\[0\]\.name: "admin" names the caller of \[security\] admin_token/,
    ],
    [
      'pin_tools with the search tools, which show definitions pins never see',
      `${GATEWAY}[proxy]\ntool_exposure = "search"\n[auth]\ntokens = ["a-token-value"]\n[security]\npin_tools = true\n`,
      /pin_tools does not cover the search tools/,
    ],
    [
      'validate_arguments with tool_exposure = "search", whose listings never show a backend schema',
      `${GATEWAY}[proxy]\ntool_exposure = "search"\n[security]\nvalidate_arguments = true\n`,
      /validate_arguments cannot check the calls of tool_exposure = "search"/,
    ],
    [
      'bearer_methods_supported other than header',
      `[auth]\ntokens = ["a"]\nbearer_methods_supported = ["query"]\n`,
      /only "header" is supported/,
    ],
    [
      'roles that nothing gives a caller (every caller would be unrestricted)',
      `[auth]\ntype = "jwt"\nissuer = "https://as.example.com"\njwks_uri = "https://as.example.com/jwks"\naudience = "x"\n[[auth.roles]]\nname = "reader"\nallow_tools = ["echo"]\n`,
      /auth\.roles: roles are defined, and nothing gives a caller one/,
    ],
    [
      // Before: "bearer auth needs at least one valid token" and "scopes_supported is not used
      // by type = bearer", naming keys and a mode the file never had.
      "mcpr's [auth] table with no authorization server",
      `[auth]\nauthorization_servers = []\nscopes_supported = ["mcp:tools"]\nresource = "https://x.example.com/mcp"\n`,
      /^2: auth\.authorization_servers: mcpr's \[auth\] table needs authorization_servers to name the authorization server/,
    ],
    [
      'roles beside a role_mapping that maps nothing (every caller would be unrestricted)',
      `[auth]\ntype = "jwt"\nissuer = "https://as.example.com"\njwks_uri = "https://as.example.com/jwks"\naudience = "x"\n[[auth.roles]]\nname = "reader"\nallow_tools = ["echo"]\n[auth.role_mapping]\nclaim = "scope"\nmapping = {}\n`,
      /auth\.roles: roles are defined, and nothing gives a caller one/,
    ],
    [
      "[admin] token equal to a client's API key (the key would open the admin API)",
      `[auth]\n[[auth.api_keys]]\nname = "alice"\nkey = "alice-key-0123456789"\n[admin]\nenabled = true\ntoken = "alice-key-0123456789"\n`,
      /admin\.token: duplicate token \(also auth\.api_keys\[0\]\)/,
    ],
  ]
  for (const [name, text, expected] of cases) {
    it(name, () => {
      const found = problems(text)
      assert.ok(
        found.some((p) => expected.test(p)),
        `${expected}\n in:\n${found.join('\n')}`,
      )
    })
  }

  it("says only what mcpr's [auth] with an empty authorization_servers lacks", () => {
    // Before: also "bearer auth needs at least one valid token", of keys the file never named
    // (a later pass of the check, with authorization_servers set aside, read a bare [auth]).
    assert.deepEqual(
      problems('[auth]\nauthorization_servers = []\n').map((p) => p.replace(/ \(mcpr.*$/, '')),
      [
        "2: auth.authorization_servers: mcpr's [auth] table needs authorization_servers to name the authorization server",
      ],
    )
  })

  it('takes URI templates and IPv6 hosts among resources, and roles without allow lists', () => {
    const { config } = load(
      `[auth]\ntype = "bearer"\n[[auth.api_keys]]\nname = "k"\nkey = "a-key-long-enough-0123"\nroles = ["r"]\n[[auth.roles]]\nname = "r"\ndeny_resources = ["file:///{path}", "http://[::1]/*"]\ndeny_tools = ["env*"]\n`,
    )
    const role = config.auth?.roles[0]
    assert.deepEqual(role?.deny_resources, ['file:///{path}', 'http://[::1]/*'])
    assert.equal(role?.allow_tools, undefined)
  })

  it("takes public_url as an origin, as the MCP endpoint's URL, or with a sub-path beside auth.resource", () => {
    const oauth = '[auth]\nauthorization_servers = ["https://as.example.com"]\n'
    for (const url of ['https://example.com', 'https://example.com/', 'https://example.com/mcp']) {
      assert.deepEqual(problems(`public_url = "${url}"\n${oauth}`), [], url)
    }
    const resource = 'resource = "https://example.com/tools/mcp"\n'
    assert.deepEqual(problems(`public_url = "https://example.com/tools"\n${oauth}${resource}`), [])
    // The public MCP URL behind a prefix: the suggestion is that URL, not it plus mcp_path.
    assert.match(
      problems(`public_url = "https://example.com/tools/mcp"\n${oauth}`).join('\n'),
      /set auth\.resource to the public MCP URL \(e\.g\. "https:\/\/example\.com\/tools\/mcp"\)/,
    )
    // Without OAuth the path names nothing tokens are issued for: CSP and Host read the origin.
    assert.deepEqual(problems('public_url = "https://example.com/tools"\n'), [])
  })

  it("refuses rules naming a backend with mcp-proxy's separator when the config uses another", () => {
    // mcp-proxy's layout, its separator left to its default ("/" there, "__" here): the deny
    // would match nothing, and the denied tool would run.
    const file = `[proxy.listen]\nhost = "127.0.0.1"\nport = 8080\n[[backends]]\nname = "a"\ntransport = "http"\nurl = "http://127.0.0.1:1/mcp"\n`
    const auth = `[auth]\ntype = "bearer"\ntokens = ["full-token-0123456789abcdef"]\n[[auth.scoped_tokens]]\ntoken = "no-writes-0123456789abcdef"\ndeny_tools = ["a/write"]\n`
    const found = problems(file + auth)
    assert.equal(found.length, 1, found.join('\n'))
    assert.match(
      found[0] as string,
      /^13: auth\.scoped_tokens\[0\]\.deny_tools: "a\/write" names backend a with the separator "\/", but its tools and prompts are named a__write here .* Write "a__write", or set \[proxy\] separator = "\/"/,
    )
    // Roles and per-tool rate limits alike; a glob too.
    const role = `[auth]\ntype = "jwt"\nissuer = "https://as.example.com"\njwks_uri = "https://as.example.com/jwks"\naudience = "x"\n[security]\nadmin_token = "an-admin-token-long-enough"\n[[auth.roles]]\nname = "reader"\ndeny_tools = ["a/w*"]\n`
    assert.match(
      problems(file + role).join('\n'),
      /auth\.roles\[0\]\.deny_tools: "a\/w\*" names backend a/,
    )
    const composite = '[[composite_tools]]\nname = "both"\ndescription = "d"\ntools = ["a/write"]\n'
    assert.match(problems(file + composite).join('\n'), /composite_tools\[0\]\.tools: "a\/write"/)
    const limit = '[proxy.rate_limit]\nper_tool = [{ tool = "a/write", requests = 1 }]\n'
    assert.match(
      problems(file + limit).join('\n'),
      /proxy\.rate_limit\.per_tool\[0\]\.tool: "a\/write"/,
    )
    // With mcp-proxy's separator said, its names are this config's own.
    assert.deepEqual(problems(`[proxy]\nseparator = "/"\n${file}${auth}`), [])
    assert.deepEqual(problems(file + auth.replace('a/write', 'a__write')), [])
  })

  it('names the line of the problem', () => {
    const found = problems(`[auth]\ntype = "bearer"\ntokens = ["a", "a"]\n`)
    assert.ok(
      found.some((p) => p.startsWith('3: auth.tokens[1]: duplicate token')),
      found.join('\n'),
    )
  })

  const JWT = `[auth]
type = "jwt"
issuer = "https://auth.example.com/"
jwks_uri = "https://auth.example.com/jwks.json"
audience = "https://mcp.example.com/mcp"
`
  const KEYS = `api_keys = [
  { name = "alice", key = "alice-key-0123456789", roles = ["reader"] },
  { name = "ci", key = "ci-key-0123456789abc" },
  { name = "ops", key = "ops-key-0123456789ab", admin = true },
]
`
  const TABLES = `[[auth.api_keys]]
name = "alice"
key = "alice-key-0123456789"
roles = ["reader"]

[[auth.api_keys]]
name = "ci"
key = "ci-key-0123456789abc"

[[auth.api_keys]]
name = "ops"
key = "ops-key-0123456789ab"
admin = true
`
  const READER = `[[auth.roles]]
name = "reader"
allow_tools = ["echo"]
`

  it('refuses a role-less key under default_deny, at its line, naming it but not its secret', () => {
    const mapping =
      '[auth.role_mapping]\nclaim = "scope"\nmapping = { "mcp:read" = "reader" }\ndefault_deny = true\n'
    const text = `${JWT}tokens = ["plain-token-0123456789"]\n${READER}${mapping}${TABLES}`
    const found = problems(text)
    assert.deepEqual(
      found.map((p) => p.split(': ').slice(0, 2).join(': ')),
      ['6: auth.tokens[0]', '20: auth.api_keys[1].name'],
      found.join('\n'),
    )
    assert.match(found[1] ?? '', /key "ci" has no role; .*default_deny = true .*give it roles/)
    assert.doesNotMatch(found.join('\n'), /ci-key|plain-token/)
    // With roles (or admin rights, as "ops") the same keys are served.
    const fixed = text.replace('name = "ci"', 'name = "ci"\nroles = ["reader"]')
    assert.deepEqual(problems(fixed.replace('tokens = ["plain-token-0123456789"]\n', '')), [])
  })

  it('refuses static keys beside required_scopes: they carry no scopes', () => {
    const found = problems(`${JWT}required_scopes = ["mcp:tools"]
${KEYS}${READER}`)
    assert.deepEqual(
      found.map((p) => p.split(': ').slice(0, 2).join(': ')),
      // Each named at its own line in the multi-line `api_keys = [ … ]`.
      ['8: auth.api_keys[0].name', '9: auth.api_keys[1].name', '10: auth.api_keys[2].name'],
      found.join('\n'),
    )
    assert.match(found[1] ?? '', /key "ci": required_scopes \(mcp:tools\) holds for every request/)
    assert.doesNotMatch(found.join('\n'), /-key-/)
  })

  it("refuses an API key shorter than 16 characters at its line, naming the key's name only", () => {
    const text = `[auth]\n[[auth.api_keys]]\nname = "long"\nkey = "0123456789abcdef"\n\n[[auth.api_keys]]\nname = "ci"\nkey = "tiny-secret"\n`
    const found = problems(text)
    assert.deepEqual(
      found,
      [
        '8: auth.api_keys[1].key: the key of "ci" is shorter than 16 characters, easy to guess: use a longer one (e.g. openssl rand -hex 32)',
      ],
      found.join('\n'),
    )
    // From the environment too, never echoed.
    const env = problems(`[auth]\napi_keys = [{ name = "ci", key = "${ref('CI_KEY')}" }]\n`, {
      CI_KEY: 'short-env-key',
    })
    assert.ok(
      env.some((p) => /^2: auth\.api_keys\[0\]\.key: the key of "ci" is shorter/.test(p)),
      env.join('\n'),
    )
    assert.doesNotMatch(env.join('\n'), /short-env-key/)
  })

  it("warns about mcp-proxy's short tokens, as its documented example writes them, by index", () => {
    const { warnings } = load(
      `[auth]\ntype = "bearer"\ntokens = ["my-secret-token", "a-token-long-enough"]\nscoped_tokens = [{ token = "scoped", allow_tools = ["echo"] }]\n`,
    )
    assert.deepEqual(warnings, [
      'auth.tokens[0] is shorter than 16 characters, easy to guess: use a longer one (e.g. openssl rand -hex 32)',
      'auth.scoped_tokens[0] is shorter than 16 characters, easy to guess: use a longer one (e.g. openssl rand -hex 32)',
    ])
  })

  it('names a duplicate [admin] token once, never also as missing', () => {
    const found = problems(
      `[auth]\n[[auth.api_keys]]\nname = "alice"\nkey = "alice-key-0123456789"\n[admin]\nenabled = true\ntoken = "alice-key-0123456789"\n`,
    )
    // Before: also "the admin API needs a token", the token set aside by the second pass.
    assert.deepEqual(
      found.map((p) => p.split(': ').slice(0, 2).join(': ')),
      ['7: admin.token'],
      found.join('\n'),
    )
  })

  it('takes [admin] token equal to [security] admin_token: one admin credential', () => {
    const token = 'an-admin-token-value-long'
    const text = `[auth]\ntokens = ["a-token-value-long-enough"]\n[security]\nadmin_token = "${token}"\n[admin]\nenabled = true\ntoken = "${token}"\n`
    assert.deepEqual(problems(text), [])
  })

  it('warns about authorization servers other than the issuer: their tokens are refused, and they are not published', () => {
    const { warnings } = load(
      `[auth]\nauthorization_servers = ["https://a.example.com", "https://b.example.com"]\nresource = "https://mcp.example.com/mcp"\n`,
    )
    assert.deepEqual(warnings, [
      'auth.authorization_servers[1] (https://b.example.com) is not used: Portico accepts the tokens of one authorization server (the issuer, https://a.example.com) and publishes only it in /.well-known/oauth-protected-resource',
    ])
  })

  it('takes trusted_proxies alone: it names who the client is for limits and records', () => {
    assert.deepEqual(problems(`[security]\ntrusted_proxies = ["127.0.0.1"]\n`), [])
  })

  it('auth is no longer ignored with a warning', () => {
    const { warnings } = load(`[auth]\ntokens = ["a-token-long-enough"]\n`)
    assert.deepEqual(warnings, [])
  })
})
