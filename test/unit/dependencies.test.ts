/**
 * What `npm install` downloads: every package the tests import is a root dependency, and the
 * proxies only the benchmark runs are not (they live in bench/peers, installed by `npm run
 * bench` on first use), so installing Portico stays light.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BENCH_PEERS = ['@civic/passthrough-mcp-server', 'mcp-proxy', 'supergateway']

interface Manifest {
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

function manifest(path: string): Manifest {
  return JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Manifest
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return name.endsWith('.ts') ? [path] : []
  })
}

/** Package names a file imports, resolves or reaches under node_modules/. */
function packagesOf(text: string): string[] {
  const specifiers = [
    ...text.matchAll(/(?:from|import\(|import\.meta\.resolve\()\s*'([^'.][^']*)'/g),
    ...text.matchAll(/node_modules['/, ]+'?(@[\w.-]+['/, ]+'?[\w.-]+|[\w.-]+)/g),
  ].map((m) => (m[1] as string).replace(/['\s]/g, '').replace(/,/g, '/'))
  return specifiers
    .filter((s) => !s.startsWith('node:'))
    .map((s) =>
      s
        .split('/')
        .slice(0, s.startsWith('@') ? 2 : 1)
        .join('/'),
    )
    .filter((name) => /^(@[\w.-]+\/)?\w[\w.-]*$/.test(name))
}

describe('dependencies', () => {
  it('declares every package the tests use at the root', () => {
    const root = manifest('package.json')
    const declared = new Set([
      // The package itself: library-mode tests import it by name.
      (root as { name?: string }).name ?? 'portico',
      ...Object.keys(root.dependencies ?? {}),
      ...Object.keys(root.devDependencies ?? {}),
    ])
    const missing = new Set<string>()
    for (const file of sources(join(ROOT, 'test'))) {
      for (const pkg of packagesOf(readFileSync(file, 'utf8'))) {
        // `server-${pkg}` templates resolve to the declared @modelcontextprotocol/server-* ones.
        if (!declared.has(pkg) && !pkg.includes('$'))
          missing.add(`${pkg} (${file.slice(ROOT.length)})`)
      }
    }
    assert.deepEqual([...missing], [])
  })

  it('keeps the benchmark peers out of the root install, pinned in bench/peers', () => {
    const root = manifest('package.json')
    const peers = manifest('bench/peers/package.json')
    for (const pkg of BENCH_PEERS) {
      assert.equal(root.devDependencies?.[pkg], undefined, `${pkg} is a root devDependency`)
      assert.match(
        peers.dependencies?.[pkg] ?? '',
        /^\d+\.\d+\.\d+$/,
        `${pkg} pinned in bench/peers`,
      )
    }
    const lock = readFileSync(join(ROOT, 'package-lock.json'), 'utf8')
    for (const pkg of BENCH_PEERS)
      assert.ok(!lock.includes(`"node_modules/${pkg}"`), `${pkg} in the root lock`)
  })
})
