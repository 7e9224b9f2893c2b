/**
 * The build is incremental (`npm start` no longer deletes and rebuilds dist/), so compiled
 * files of deleted sources must be removed by the build itself: a deleted test's stale
 * dist/test/**.test.js would otherwise keep running. Checked on a scratch project tree with
 * the real script, and on the project's own build settings.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SCRIPT = join(ROOT, 'scripts', 'prune-stale-build.mjs')

function touch(path: string): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, '')
}

describe('incremental build', () => {
  it('removes the outputs of deleted sources and keeps the others', () => {
    const project = mkdtempSync(join(tmpdir(), 'portico-build-'))
    try {
      mkdirSync(join(project, 'scripts'))
      copyFileSync(SCRIPT, join(project, 'scripts', 'prune-stale-build.mjs'))
      touch(join(project, 'test', 'unit', 'kept.test.ts'))
      touch(join(project, 'src', 'kept.ts'))
      for (const file of ['kept.test.js', 'kept.test.js.map', 'kept.test.d.ts']) {
        touch(join(project, 'dist', 'test', 'unit', file))
      }
      for (const file of ['gone.test.js', 'gone.test.js.map', 'gone.test.d.ts']) {
        touch(join(project, 'dist', 'test', 'unit', file))
      }
      touch(join(project, 'dist', 'src', 'kept.js'))
      touch(join(project, 'dist', 'src', 'old', 'removed.js'))
      const run = spawnSync(process.execPath, [join(project, 'scripts', 'prune-stale-build.mjs')], {
        encoding: 'utf8',
      })
      assert.equal(run.status, 0, run.stderr)
      assert.ok(existsSync(join(project, 'dist', 'test', 'unit', 'kept.test.js')))
      assert.ok(existsSync(join(project, 'dist', 'test', 'unit', 'kept.test.d.ts')))
      assert.ok(existsSync(join(project, 'dist', 'src', 'kept.js')))
      assert.ok(!existsSync(join(project, 'dist', 'test', 'unit', 'gone.test.js')))
      assert.ok(!existsSync(join(project, 'dist', 'test', 'unit', 'gone.test.js.map')))
      assert.ok(!existsSync(join(project, 'dist', 'src', 'old')), 'empty folders go too')
      assert.match(run.stderr, /removed stale dist\/test\/unit\/gone\.test\.js/)
    } finally {
      rmSync(project, { recursive: true, force: true })
    }
  })

  it('builds incrementally into dist/ and prunes after compiling', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    // tsc, then the dashboard's front end (type-checked, bundled into dist/web), then the prune.
    assert.equal(
      manifest.scripts.build,
      'tsc -p . && tsc -p web && node scripts/build-web.mjs && node scripts/prune-stale-build.mjs',
    )
    assert.doesNotMatch(manifest.scripts.start, /clean|rm -rf/)
    const tsconfig = readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')
    assert.match(tsconfig, /"incremental": true/)
    // In dist/: deleting dist/ must also forget what was built, or tsc would emit nothing.
    assert.match(tsconfig, /"tsBuildInfoFile": "dist\//)
  })
})
