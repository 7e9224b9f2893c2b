/** Runs the compiled `portico` CLI as a user would. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Spawned, spawnReady } from './processes.ts'

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
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
    env,
    ready: /listening on http:\/\/\S+\/mcp/,
  })
  const url = /listening on (http:\/\/\S+\/mcp)/.exec(spawned.output())?.[1] ?? ''
  return { ...spawned, url }
}
