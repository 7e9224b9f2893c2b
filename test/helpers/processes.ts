/** Spawning real MCP servers for integration tests: free ports, readiness, cleanup. */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export interface Spawned {
  child: ChildProcess
  output(): string
  stop(): Promise<void>
}

/** Spawns a process and resolves once its output matches `ready` (bounded by `timeoutMs`). */
export async function spawnReady(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; ready: RegExp; timeoutMs?: number; cwd?: string },
): Promise<Spawned> {
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const spawned: Spawned = {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await once(child, 'exit').catch(() => undefined)
      clearTimeout(timer)
    },
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void spawned.stop()
      reject(
        new Error(
          `${command} ${args.join(' ')} not ready after ${options.timeoutMs ?? 15000} ms:\n${output}`,
        ),
      )
    }, options.timeoutMs ?? 15000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (options.ready.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited with ${code} before ready:\n${output}`))
    })
  })
  return spawned
}

const EVERYTHING = fileURLToPath(
  new URL(
    '../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
    import.meta.url,
  ),
)

/** Starts `@modelcontextprotocol/server-everything` in `streamableHttp` or `sse` mode. */
export async function startEverything(
  mode: 'streamableHttp' | 'sse',
): Promise<Spawned & { url: string }> {
  const port = await freePort()
  const spawned = await spawnReady(process.execPath, [EVERYTHING, mode], {
    env: { PORT: String(port) },
    ready: /(listening|running) on port/i,
  })
  const path = mode === 'sse' ? '/sse' : '/mcp'
  return { ...spawned, url: `http://127.0.0.1:${port}${path}` }
}
