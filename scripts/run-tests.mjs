#!/usr/bin/env node
// Runs the compiled tests with Node's runner on an explicit file list (Node 20 does not
// expand globs, and a directory search would also run compiled fixtures). Optional
// arguments filter the files by substring: `npm test -- store csp`.
//
// No test can hang the run: `--test-timeout` (TEST_TIMEOUT ms, default 120 s) fails a test file
// that runs longer. Node 20 applies it to each file as a whole (a file is one test of the
// runner; its own tests do not inherit it), so it bounds every test and hook in the file; the
// waits inside tests have shorter deadlines of their own that name what they waited for.
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
  `--test-timeout=${process.env.TEST_TIMEOUT ?? 120_000}`,
  ...files,
]
const result = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(result.status ?? 1)
