/**
 * mcp-proxy's YAML config files (`.yaml` / `.yml`, the same keys as its TOML): every seed
 * file, turned into YAML, loads into the same config as the TOML it came from; problems and
 * syntax errors name the YAML file's line; `portico check` reads YAML by the extension.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse as parseToml } from 'smol-toml'
import { stringify } from 'yaml'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { runCliSync } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const SEEDS = join(ROOT, 'test', 'fixtures', 'seeds')
const ENV = {
  GITHUB_TOKEN: 'ghp_test',
  BACKEND_TOKEN: 'backend-test',
  ADMIN_TOKEN: 'admin-test-0123456789',
}

/** `name` written in a folder of its own (the file's stem names the proxy). */
function written(name: string, text: string): string {
  const path = join(scratchDir('portico-yaml-'), name)
  writeFileSync(path, text)
  return path
}

describe('YAML config files', () => {
  for (const seed of readdirSync(SEEDS).filter((name) => name.endsWith('.toml'))) {
    it(`${seed} as YAML loads into the same config`, () => {
      const toml = readFileSync(join(SEEDS, seed), 'utf8')
      const yaml = stringify(parseToml(toml))
      for (const extension of ['yaml', 'yml']) {
        const fromYaml = loadConfig({ file: written(`proxy.${extension}`, yaml), env: ENV })
        const fromToml = loadConfig({ file: written('proxy.toml', toml), env: ENV })
        assert.deepEqual(fromYaml.config, fromToml.config)
      }
    })
  }

  it('names the line of a problem, and of a syntax error', () => {
    const file = written(
      'proxy.yaml',
      [
        'proxy:',
        '  name: gateway',
        'backends:',
        '  - name: files',
        '    transport: stdio',
        '    command: npx',
        '  - name: web',
        '    transport: http',
        '    url: ws://example.com/mcp',
        '    retries: 3',
        '',
      ].join('\n'),
    )
    const error = (() => {
      try {
        loadConfig({ file, env: {} })
      } catch (caught) {
        return caught as ConfigError
      }
      return undefined
    })()
    assert.ok(error instanceof ConfigError)
    assert.deepEqual(
      error.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`),
      [
        '8: backends[1].transport: http backends need an http:// or https:// url (not ws://)',
        '10: backends[1].retries: unknown key "retries" (did you mean "retry"?)',
      ],
    )
    const broken = written('proxy.yml', 'backends:\n  - name: a\n   transport: stdio\n')
    const out = runCliSync(['check', '--config', broken])
    assert.equal(out.status, 1)
    assert.match(out.stderr, /proxy\.yml:3: invalid YAML: /)
  })

  it('names the line of a key whose value is a block, not its first item', () => {
    const file = written(
      'blocks.yaml',
      [
        'upstream: http://127.0.0.1:9/mcp',
        'securty:',
        '  admin_token: abcdefabcdefabcdef12',
        'port:',
        '  - 1',
        '__proto__:',
        '  auth:',
        '    tokens: [abcdefabcdefabcdef12]',
        '',
      ].join('\n'),
    )
    assert.throws(
      () => loadConfig({ file, env: {} }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.deepEqual(error.problems.map((p) => `${p.line}: ${p.path}`).sort(), [
          '2: securty',
          '4: port',
          '6: __proto__',
        ])
        return true
      },
    )
  })

  it('refuses a circular alias, an alias bomb and a document nested too deeply as config problems, not crashes', () => {
    const circular = written(
      'circular.yaml',
      'upstream: http://127.0.0.1:9/mcp\nproxy: &x\n  a: *x\n',
    )
    const bomb = written(
      'bomb.yaml',
      [
        'upstream: http://127.0.0.1:9/mcp',
        'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
        'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
        '',
      ].join('\n'),
    )
    // Nested deeper than the parser's recursion goes: named, not V8's RangeError.
    const deep = written('deep.yaml', `a: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`)
    for (const [file, expected] of [
      [circular, /circular\.yaml: invalid YAML: an alias refers to a node that contains it/],
      [bomb, /bomb\.yaml: invalid YAML: Excessive alias count/],
      [deep, /deep\.yaml:1: invalid YAML: nested too deeply/],
    ] as const) {
      assert.throws(() => loadConfig({ file, env: {} }), ConfigError)
      const out = runCliSync(['check', '--config', file])
      assert.equal(out.status, 1)
      assert.match(out.stderr, expected)
      assert.doesNotMatch(out.stderr, /unexpected error|at .*\.js:\d+/)
    }
  })

  it('refuses a key that is a list or a mapping, naming its line, without a Node warning', () => {
    const file = written(
      'complex-key.yaml',
      'upstream: http://127.0.0.1:9/mcp\nproxy:\n  ? [a, b]\n  : 1\n',
    )
    assert.throws(() => loadConfig({ file, env: {} }), ConfigError)
    const out = runCliSync(['check', '--config', file])
    assert.equal(out.status, 1)
    assert.match(out.stderr, /complex-key\.yaml:3: invalid YAML: a key must be a plain value/)
    assert.doesNotMatch(out.stderr, /Warning|stringified/)
  })

  it('portico check reads a .yaml file as YAML', () => {
    const file = written(
      'proxy.yaml',
      'backends:\n  - name: files\n    transport: stdio\n    command: npx\n    args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]\n',
    )
    const out = runCliSync(['check', '--config', file])
    assert.equal(out.status, 0, out.stderr)
    assert.equal(out.stderr, '')
  })

  it('portico check names the YAML line of what run would refuse when building', () => {
    const file = written(
      'proxy.yaml',
      'backends:\n  - name: files\n    transport: stdio\n    command: node\nwidgets: ./no-such-folder\n',
    )
    const out = runCliSync(['check', '--config', file])
    assert.equal(out.status, 1)
    // Before: `proxy.yaml: widgets: …`, without the line a TOML file's problem has.
    assert.match(out.stderr, /proxy\.yaml:5: widgets: \.\/no-such-folder is not a folder\n/)
  })
})
