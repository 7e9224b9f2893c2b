/** Spawning real processes for integration tests: environment, readiness, exit, cleanup. */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The repository root (tests run from dist/test/helpers). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/**
 * The environment of every child a test starts: this process's, without any `PORTICO_*`
 * variable (a developer's `PORTICO_DB` or `PORTICO_PORT` must not change what a test does),
 * plus `extra`.
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('PORTICO_')) env[name] = value
  }
  return { ...env, ...extra }
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Resolves when `child` exits; rejects after `timeoutMs` naming `what` (the child is killed). */
export function exitOf(child: ChildProcess, timeoutMs: number, what: string): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      child.kill('SIGKILL')
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} to exit`))
    }, timeoutMs)
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      resolve({ code, signal })
    }
    child.once('exit', onExit)
  })
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the child is gone. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = exitOf(child, 10_000, `pid ${child.pid}`)
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await gone.finally(() => clearTimeout(timer))
}

export interface Spawned {
  child: ChildProcess
  /** stdout and stderr as they came, interleaved. */
  output(): string
  stdout(): string
  stderr(): string
  stop(): Promise<void>
}

/** Spawns a process that collects its output, without waiting for anything. */
export function spawnCollecting(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Spawned {
  const child = spawn(command, args, {
    env: childEnv(options.env),
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const streams = { stdout: '', stderr: '' }
  const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = chunk.toString()
    output += text
    streams[stream] += text
  }
  child.stdout?.on('data', collect('stdout'))
  child.stderr?.on('data', collect('stderr'))
  return {
    child,
    output: () => output,
    stdout: () => streams.stdout,
    stderr: () => streams.stderr,
    stop: () => stopChild(child),
  }
}

/** Spawns a process and resolves once its output matches `ready` (bounded by `timeoutMs`). */
export async function spawnReady(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; ready: RegExp; timeoutMs?: number; cwd?: string },
): Promise<Spawned> {
  const spawned = spawnCollecting(command, args, options)
  const { child } = spawned
  const timeoutMs = options.timeoutMs ?? 15_000
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void spawned.stop()
      reject(
        new Error(
          `${command} ${args.join(' ')} not ready after ${timeoutMs} ms:\n${spawned.output()}`,
        ),
      )
    }, timeoutMs)
    // Listeners added after spawnCollecting's: the output they test already has the chunk.
    const check = () => {
      if (options.ready.test(spawned.output())) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited with ${code} before ready:\n${spawned.output()}`))
    })
  })
  return spawned
}

const REPORT_PORT = pathToFileURL(join(ROOT, 'dist', 'test', 'fixtures', 'report-port.js')).href
const PORT_LINE = /portico-test: listening on port (\d+)/

/**
 * Runs `node script …args` with `PORT=0` (or `port`), the port reporter preloaded, and resolves
 * with the port the server listens on: for npm servers that only read `PORT`.
 */
export async function spawnOnZero(
  script: string,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv; port?: number } = {},
): Promise<Spawned & { port: number }> {
  const spawned = await spawnReady(process.execPath, ['--import', REPORT_PORT, script, ...args], {
    env: { ...options.env, PORT: String(options.port ?? 0) },
    ready: PORT_LINE,
  })
  const port = Number(PORT_LINE.exec(spawned.output())?.[1])
  return { ...spawned, port }
}

const EVERYTHING = join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'server-everything',
  'dist',
  'index.js',
)

/**
 * Starts `@modelcontextprotocol/server-everything` in `streamableHttp` (endpoint `/mcp`) or
 * `sse` mode (legacy HTTP+SSE, endpoint `/sse`) on a port of its own, or on `port` (to restart
 * a server where the test's previous one was).
 */
export async function startEverything(
  mode: 'streamableHttp' | 'sse',
  port?: number,
): Promise<Spawned & { url: string; port: number }> {
  const spawned = await spawnOnZero(EVERYTHING, [mode], port === undefined ? {} : { port })
  const path = mode === 'sse' ? '/sse' : '/mcp'
  return { ...spawned, url: `http://127.0.0.1:${spawned.port}${path}` }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Runs an ES module script in a child Node (with `nodeFlags`) and resolves with the JSON of its
 * last stdout line: for measures that belong to a whole process (V8 settings, heap sizes).
 */
export function moduleChildResult<T>(script: string, nodeFlags: string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const run = spawn(process.execPath, [...nodeFlags, '--input-type=module', '-e', script])
    let out = ''
    let err = ''
    run.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    run.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString()
    })
    run.on('error', reject)
    run.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}: ${err}`))
      resolve(JSON.parse(out.trim().split('\n').at(-1) as string) as T)
    })
  })
}

/**
 * Source text for a child script: `promotedByScavenges(statistics)`, the bytes V8's young
 * collections moved to old space, from a `v8.GCProfiler`'s `stop().statistics`.
 */
export const PROMOTED_BY_SCAVENGES = `
  function promotedByScavenges(statistics) {
    const old = (s) => s.heapSpaceStatistics.find((x) => x.spaceName === 'old_space').spaceUsedSize
    let promoted = 0
    for (const gc of statistics) if (gc.gcType === 'Scavenge') promoted += old(gc.afterGC) - old(gc.beforeGC)
    return promoted
  }
`

/**
 * Source text for a child script that defines `fn(n)`: runs it 1,000 times to warm up, then
 * 200,000 times under a `v8.GCProfiler`, and prints `{"promoted": bytes}` (needs `v8` imported
 * and PROMOTED_BY_SCAVENGES).
 */
export function printPromotedBy(fn: string): string {
  return `
    ${fn}(1000)
    const profiler = new v8.GCProfiler()
    profiler.start()
    ${fn}(200000)
    const { statistics } = profiler.stop()
    console.log(JSON.stringify({ promoted: promotedByScavenges(statistics) }))
  `
}
