import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config/load.ts'

const dir = mkdtempSync(join(tmpdir(), 'portico-gw-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function load(text: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.toml`)
  writeFileSync(file, text)
  return loadConfig({ file, env, cwd: dir })
}

function problems(text: string): string[] {
  try {
    load(text)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`)
    throw error
  }
  return []
}

describe('gateway config', () => {
  it('accepts mcp-proxy style backends with defaults and interpolation', () => {
    const { config } = load(
      `
[proxy]
separator = "__"

[[backends]]
name = "files"
transport = "stdio"
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
env = { TOKEN = "\${TOKEN}" }
expose_tools = ["read_*"]

[[backends]]
name = "remote"
transport = "http"
url = "http://127.0.0.1:9/mcp"
bearer_token = "\${TOKEN}"
timeout = "2s"
[[backends.aliases]]
from = "echo"
to = "say"
[[backends.inject_args]]
tool = "query"
args = { read_only = true }
overwrite = true
`,
      { TOKEN: 'sekret' },
    )
    assert.equal(config.backends?.length, 2)
    assert.equal(config.backends?.[0]?.env.TOKEN, 'sekret')
    assert.equal(config.backends?.[0]?.isolation, 'shared')
    assert.equal(config.backends?.[1]?.timeout?.attemptMs, 2000)
    assert.equal(config.backends?.[1]?.inject_args[0]?.overwrite, true)
    assert.equal(config.proxy.separator, '__')
    assert.equal(config.proxy.list_timeout, 5000)
    assert.equal(config.upstream, undefined)
  })

  const bad: Array<[string, string, RegExp]> = [
    [
      'stdio without command',
      '[[backends]]\nname="a"\ntransport="stdio"',
      /backends\[0\]\.command: stdio backends need a command/,
    ],
    [
      'http without url',
      '[[backends]]\nname="a"\ntransport="http"',
      /backends\[0\]\.url: http backends need a url/,
    ],
    [
      'an invalid re: pattern',
      '[[backends]]\nname="a"\ntransport="stdio"\ncommand="x"\nhide_tools=["ok_*", "re:("]',
      /backends\[0\]\.hide_tools\[1\]: invalid regular expression: /,
    ],
    [
      'websocket with an http url',
      '[[backends]]\nname="a"\ntransport="websocket"\nurl="http://h/mcp"',
      /backends\[0\]\.transport: websocket backends need a ws:\/\/ or wss:\/\/ url \(not http:\/\/\)/,
    ],
    [
      'http with a ws url',
      '[[backends]]\nname="a"\ntransport="http"\nurl="ws://h/mcp"',
      /backends\[0\]\.transport: http backends need an http:\/\/ or https:\/\/ url \(not ws:\/\/\)/,
    ],
    [
      'protocol_version 2026-07-28 on an sse backend',
      '[[backends]]\nname="a"\ntransport="sse"\nurl="http://h/sse"\nprotocol_version="2026-07-28"',
      /backends\[0\]\.protocol_version: protocol_version = "2026-07-28" needs transport = "http"/,
    ],
    [
      'an unknown protocol_version',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://h/mcp"\nprotocol_version="2026-01-01"',
      /backends\[0\]\.protocol_version/,
    ],
    [
      'websocket with forward_auth',
      '[auth]\ntokens=["t"]\n[[backends]]\nname="a"\ntransport="websocket"\nurl="ws://h/mcp"\nforward_auth=true',
      /backends\[0\]\.forward_auth: forward_auth needs an http or sse backend \(a WebSocket's headers/,
    ],
    [
      'duplicate names',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\n[[backends]]\nname="a"\ntransport="http"\nurl="http://y"',
      /backends\[1\]\.name: duplicate backend name/,
    ],
    ['reserved name', '[[backends]]\nname="portico"\ntransport="http"\nurl="http://x"', /reserved/],
    [
      'invalid name characters',
      '[[backends]]\nname="my.server"\ntransport="http"\nurl="http://x"',
      /backends\[0\]\.name/,
    ],
    [
      'separator with spaces',
      '[proxy]\nseparator=" / "\n[[backends]]\nname="a"\ntransport="http"\nurl="http://x"',
      /proxy\.separator/,
    ],
    [
      // Before: accepted, and no filter at all: every tool exposed.
      'an empty expose list',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\nexpose_tools=[]',
      /backends\[0\]\.expose_tools: an empty expose list is refused .*leave the key out to expose everything/,
    ],
    [
      'an empty expose list of resources',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\nexpose_resources=[]',
      /backends\[0\]\.expose_resources: an empty expose list is refused/,
    ],
    [
      'expose and hide together',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\nexpose_tools=["a"]\nhide_tools=["b"]',
      /mutually exclusive/,
    ],
    [
      // Before: accepted; the later alias was listed and both names reached the tool.
      'two aliases of one name',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\n[[backends.aliases]]\nfrom="echo"\nto="e1"\n[[backends.aliases]]\nfrom="echo"\nto="e2"',
      /backends\[0\]\.aliases\[1\]\.from: two aliases rename "echo": give it one/,
    ],
    [
      'ambiguous prefixes',
      '[proxy]\nseparator="_"\n[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\n[[backends]]\nname="a_b"\ntransport="http"\nurl="http://y"',
      /ambiguous/,
    ],
    [
      'unknown key',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\nprot=1',
      /unknown key "prot"/,
    ],
    ['bad transport', '[[backends]]\nname="a"\ntransport="ws"\nurl="http://x"', /transport/],
    [
      'an unprefixed backend next to another',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\nnamespace=false\n[[backends]]\nname="b"\ntransport="http"\nurl="http://y"',
      /backends\[0\]\.namespace: namespace = false needs this to be the only backend/,
    ],
    [
      'alias to an invalid name',
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\n[[backends.aliases]]\nfrom="x"\nto="a.b"',
      /aliases/,
    ],
  ]
  it('accepts resource aliases to a URI and checks their targets across backends', () => {
    const b = (name: string, aliases: string) =>
      `[[backends]]\nname="${name}"\ntransport="http"\nurl="http://${name}"\n${aliases}`
    const alias = (from: string, to: string) => `[[backends.aliases]]\nfrom="${from}"\nto="${to}"\n`
    const { config } = load(b('a', alias('memo://x', 'notes://x') + alias('echo', 'say')))
    assert.deepEqual(
      config.backends?.[0]?.aliases.map((a) => a.to),
      ['notes://x', 'say'],
    )
    assert.deepEqual(problems(b('a', alias('memo://x', 'readme'))), [
      'backends[0].aliases[0].to: "readme" is not a resource URI: an alias of a resource (from = "memo://x") renames it to the exact URI clients see (scheme://… or urn:…)',
    ])
    assert.deepEqual(problems(b('a', alias('memo://x', 'notes://has space'))).length, 1)
    assert.match(
      problems(b('a', alias('echo', 'notes://x')))[0] ?? '',
      /is a resource URI, but "echo" is a tool or prompt name/,
    )
    // Two backends' aliases to one URI.
    assert.deepEqual(
      problems(b('a', alias('memo://x', 'notes://x')) + b('b', alias('memo://y', 'notes://x'))),
      [
        'backends[1].aliases[0].to: "notes://x" is also the alias of backends[0].aliases[0]: two resources would have one URI',
      ],
    )
    // Scheme and host compared in any case, as URIs are (RFC 3986).
    assert.deepEqual(
      problems(b('a', alias('memo://x', 'docs://z')) + b('b', alias('memo://y', 'DOCS://Z'))),
      [
        'backends[1].aliases[0].to: "DOCS://Z" is also the alias of backends[0].aliases[0]: two resources would have one URI',
      ],
    )
    // A URI inside another backend's namespace could name one of its resources.
    assert.deepEqual(problems(b('a', alias('memo://x', 'memo://b__x')) + b('b', '')), [
      `backends[0].aliases[0].to: "memo://b__x" is inside backend b's resource URIs (b__ after the scheme): it could name one of its resources`,
    ])
    assert.deepEqual(problems(b('a', alias('memo://x', 'MEMO://B__x')) + b('b', '')), [
      `backends[0].aliases[0].to: "MEMO://B__x" is inside backend b's resource URIs (b__ after the scheme): it could name one of its resources`,
    ])
    // The namespaced URI of a resource another alias renames stays that resource's.
    assert.deepEqual(
      problems(b('a', alias('memo://x', 'notes://x') + alias('memo://y', 'memo://a__x'))),
      [
        'backends[0].aliases[1].to: "memo://a__x" is the URI of the resource backends[0].aliases[0] renames: two resources would have one URI',
      ],
    )
    // Into its own namespace, or to its own namespaced URI: fine.
    assert.deepEqual(
      problems(b('a', alias('memo://x', 'memo://a__y') + alias('memo://z', 'memo://a__z'))),
      [],
    )
  })

  it('accepts namespace = false on the only backend (default true)', () => {
    const { config } = load(
      '[[backends]]\nname="a"\ntransport="http"\nurl="http://x"\nnamespace=false',
    )
    assert.equal(config.backends?.[0]?.namespace, false)
    const prefixed = load('[[backends]]\nname="a"\ntransport="http"\nurl="http://x"').config
    assert.equal(prefixed.backends?.[0]?.namespace, true)
  })

  it('refuses a NUL in what a stdio process is given, without quoting the value', () => {
    // Before: accepted, and the start's error quoted the value (an env secret) to every client.
    const found = problems(
      '[[backends]]\nname="gh"\ntransport="stdio"\ncommand="node"\nargs=["--t=sk-SECRET2\\u0000x"]\nenv={ GITHUB_TOKEN = "ghp_SECRET1\\u0000" }\ncwd="/tmp\\u0000"',
    )
    assert.deepEqual(found.sort(), [
      'backends[0].args[0]: holds a NUL character, which cannot be passed to a process',
      'backends[0].cwd: holds a NUL character, which cannot be passed to a process',
      'backends[0].env.GITHUB_TOKEN: holds a NUL character, which cannot be passed to a process',
    ])
    assert.doesNotMatch(found.join('\n'), /SECRET/)
  })

  for (const [title, text, expected] of bad) {
    it(`rejects ${title}`, () => {
      const found = problems(text)
      assert.ok(
        found.some((p) => expected.test(p)),
        `expected ${expected} in ${JSON.stringify(found)}`,
      )
    })
  }
})
