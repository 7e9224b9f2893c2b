/** Runs the compiled `portico` CLI as a child process, the way users run it. */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Spawned, spawnReady } from './processes.ts'

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

/**
 * Tests never record into the user's own store (~/.portico/store.db): unless a test names a
 * store, every CLI child records into a throwaway one.
 */
const SCRATCH_STORE = join(mkdtempSync(join(tmpdir(), 'portico-cli-store-')), 'store.db')
const TEST_ENV = { PORTICO_DB: SCRATCH_STORE }

export function runCliSync(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...TEST_ENV, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Starts `portico <args>` and resolves with its printed MCP URL once it listens. */
export async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Spawned & { url: string }> {
  const spawned = await spawnReady(process.execPath, [CLI, ...args], {
    env: { ...TEST_ENV, ...env },
    ready: /listening on http:\/\/\S+\/mcp/,
  })
  const url = /listening on (http:\/\/\S+\/mcp)/.exec(spawned.output())?.[1] ?? ''
  return { ...spawned, url }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export function runCli(args: readonly string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: timeoutMs, env: { ...process.env, ...TEST_ENV, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** Runs a `--json` report and parses its output (one object, or one per line). */
export async function cliJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T[]> {
  const result = await runCli([...args, '--json'])
  if (result.code !== 0) throw new Error(`portico ${args.join(' ')} failed: ${result.stderr}`)
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T)
}
