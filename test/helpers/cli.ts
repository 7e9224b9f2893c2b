/** Runs the compiled `portico` CLI as a child process, the way users run it. */
import { execFile, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { childEnv, type Spawned, spawnReady } from './processes.ts'
import { scratchDir } from './scratch.ts'

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

/**
 * Tests never record into the user's own store (~/.portico/store.db): unless a test names a
 * store, every CLI child records into a throwaway one.
 */
const SCRATCH_STORE = join(scratchDir('portico-cli-store-'), 'store.db')

/**
 * The environment of a CLI child: no `PORTICO_*` from the developer's shell (a `PORTICO_PORT`
 * or `PORTICO_DB` there must not change what a test does), a scratch store, no colours.
 */
export function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return childEnv({ PORTICO_DB: SCRATCH_STORE, NO_COLOR: '1', ...env })
}

export function runCliSync(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: cliEnv(env),
    encoding: 'utf8',
    timeout: timeoutMs,
  })
  if (result.error || result.signal) {
    const why = result.error?.message ?? `killed by ${result.signal}`
    throw new Error(`portico ${args.join(' ')} did not finish within ${timeoutMs} ms (${why})`)
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** What `portico run` prints once it listens: `Portico listening on <url> (…)`. */
const LISTENING = /Portico listening on (http:\/\/\S+)/

/** Starts `portico <args>` and resolves with its printed MCP URL once it listens. */
export async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Spawned & { url: string }> {
  const spawned = await spawnReady(process.execPath, [CLI, ...args], {
    env: cliEnv(env),
    ready: LISTENING,
  })
  const url = LISTENING.exec(spawned.output())?.[1] ?? ''
  return { ...spawned, url }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs `portico <args>` to its end; rejects, naming the command, if it runs past `timeoutMs`. */
export function runCli(args: readonly string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: timeoutMs, env: cliEnv() },
      (error, stdout, stderr) => {
        if (error?.killed) {
          reject(new Error(`portico ${args.join(' ')} did not finish within ${timeoutMs} ms`))
          return
        }
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
