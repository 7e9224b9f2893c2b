/** Runs the compiled `portico` CLI as a child process (the way users run it). */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

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
      { timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } },
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
