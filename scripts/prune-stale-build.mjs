#!/usr/bin/env node
// Runs after the incremental `tsc -p .` of `npm run build`: deletes compiled files whose
// TypeScript source no longer exists. tsc never removes an output, so without this a deleted
// or renamed test would keep running from its stale dist/test/**.test.js, and a removed
// module would stay importable from dist/. Only files tsc emits (.js, .d.ts, .js.map) are
// considered; folders left empty are removed too.
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const DIST = join(ROOT, 'dist')
const EMITTED = /\.(js|d\.ts|js\.map|d\.ts\.map)$/

function sourceOf(file) {
  return join(ROOT, relative(DIST, file).replace(EMITTED, '.ts'))
}

/** Prunes `dir`; returns true when it is left empty. */
function prune(dir) {
  let empty = true
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (prune(path)) rmdirSync(path)
      else empty = false
    } else if (EMITTED.test(name) && !existsSync(sourceOf(path))) {
      rmSync(path)
      console.error(`removed stale ${relative(ROOT, path)} (its source is gone)`)
    } else empty = false
  }
  return empty
}

for (const top of ['src', 'test', 'bench']) {
  const dir = join(DIST, top)
  if (existsSync(dir)) prune(dir)
}
