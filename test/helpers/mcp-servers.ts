/** Paths of the npm MCP servers used as gateway backends, and a real HTTP server-everything. */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { until } from './wait.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** The bin script of an installed npm MCP server, run with `process.execPath`. */
export function serverBin(pkg: 'everything' | 'memory' | 'filesystem'): string {
  return join(ROOT, 'node_modules', '@modelcontextprotocol', `server-${pkg}`, 'dist', 'index.js')
}

/** Compiled fixture path (tests run from dist/). */
export function fixture(name: string): string {
  return join(ROOT, 'dist', 'test', 'fixtures', `${name}.js`)
}

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

export interface RunningServer {
  url: string
  child: ChildProcess
  stop(): Promise<void>
}

/**
 * `PORT=N mcp-server-everything streamableHttp` (endpoint `/mcp`) or `sse` (legacy HTTP+SSE,
 * endpoint `/sse`), waited for until it answers.
 */
export async function startEverythingHttp(
  fixedPort?: number,
  mode: 'streamableHttp' | 'sse' = 'streamableHttp',
): Promise<RunningServer> {
  const port = fixedPort ?? (await freePort())
  const child = spawn(process.execPath, [serverBin('everything'), mode], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  })
  const url = `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}`
  await until(
    () =>
      fetch(url, { method: 'GET' }).then(
        async (response) => {
          await response.body?.cancel()
          return true
        },
        () => undefined,
      ),
    10_000,
    'server-everything over HTTP',
  )
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}
