#!/usr/bin/env node
// Runs the compiled tests with Node's runner on an explicit file list (Node 20 does not
// expand globs, and a directory search would also run compiled fixtures). Optional
// arguments filter the files by substring: `npm test -- store csp`.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function collect(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...collect(path))
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

const filters = process.argv.slice(2)
const files = collect('dist/test')
  .sort()
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
if (files.length === 0) {
  console.error(`no test files match ${filters.join(', ') || 'dist/test/**/*.test.js'}`)
  process.exit(1)
}
const args = [
  '--enable-source-maps',
  '--test',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  ...files,
]
const result = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(result.status ?? 1)
