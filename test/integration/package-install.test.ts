/**
 * Install without a clone: `npm pack` makes the tarball the README's `npm install -g` takes;
 * it installs into an empty folder and the `portico` it links runs (`--version`, `version`).
 * Install scripts are skipped (`--ignore-scripts`: better-sqlite3 would fetch or compile its
 * native module, which needs the network or a toolchain); nothing here opens the store.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { childEnv } from '../helpers/processes.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string
  version: string
  bin: { portico: string }
}

/** npm's own CLI, run with this Node (never a `node` or `npm` from PATH). */
const NPM_CLI = join(
  dirname(process.execPath),
  '..',
  'lib',
  'node_modules',
  'npm',
  'bin',
  'npm-cli.js',
)

function npm(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, [NPM_CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: childEnv({
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    }),
    timeout: 240_000,
  })
  assert.equal(result.status, 0, `npm ${args.join(' ')}:\n${result.stderr}`)
  return result.stdout
}

describe('npm pack → npm install → portico', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-pack-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('the packed tarball installs into an empty folder and portico --version runs', () => {
    const packed = JSON.parse(
      npm(['pack', ROOT, '--pack-destination', dir, '--json'], dir),
    ) as Array<{
      filename: string
      files: Array<{ path: string }>
    }>
    const tarball = join(dir, packed[0]?.filename ?? '')
    assert.equal(packed[0]?.filename, `${pkg.name}-${pkg.version}.tgz`)
    const paths = packed[0]?.files.map((f) => f.path) ?? []
    assert.ok(paths.includes('dist/src/cli/main.js'))
    // The dashboard's built assets ship too (dist/web); nothing else of the tree does.
    assert.ok(paths.includes('dist/web/index.html'), 'the dashboard page is packed')
    assert.deepEqual(
      paths.filter((path) => !path.startsWith('dist/src/') && !path.startsWith('dist/web/')).sort(),
      ['LICENSE', 'README.md', 'package.json'],
    )
    const empty = join(dir, 'empty')
    mkdirSync(empty)
    npm(['install', '--prefix', empty, tarball, '--ignore-scripts', '--prefer-offline'], empty)
    const link = join(empty, 'node_modules', '.bin', 'portico')
    const target = resolve(dirname(link), readlinkSync(link))
    assert.equal(target, join(empty, 'node_modules', 'portico', pkg.bin.portico))
    const version = spawnSync(process.execPath, [target, '--version'], {
      encoding: 'utf8',
      env: childEnv(),
    })
    assert.equal(version.status, 0, version.stderr)
    assert.equal(version.stdout, `${pkg.version}\n`)
    const json = spawnSync(process.execPath, [target, 'version'], {
      encoding: 'utf8',
      env: childEnv(),
    })
    assert.equal(JSON.parse(json.stdout).version, pkg.version)
  })
})
