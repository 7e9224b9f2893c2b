/**
 * Child processes of the bench (fixtures, proxies): start with a readiness check, read their
 * memory, stop them. Every process started here is tracked and stopped on exit.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

const running = new Set<ChildProcess>()

export interface Started {
  child: ChildProcess
  /** Output captured so far (stdout + stderr, bounded), for error messages. */
  output(): string
  stop(): Promise<void>
}

export interface StartOptions {
  env?: Record<string, string>
  cwd?: string
  /** Resolves with the match when a line of stdout/stderr matches. */
  waitFor?: RegExp
  timeoutMs?: number
  /**
   * Appends the child's stderr to this file instead of reading it here. For a proxy whose log
   * is part of what is measured (S9's audit lines): as `2>>file` or a log collector would take
   * it, not through the event loop of the bench process, which is also the load generator.
   */
  stderrTo?: string
}

export async function start(
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<Started & { match?: RegExpExecArray }> {
  const stderrFd = options.stderrTo === undefined ? undefined : openSync(options.stderrTo, 'a')
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', stderrFd ?? 'pipe'],
  })
  // The child holds its own copy of the descriptor.
  if (stderrFd !== undefined) closeSync(stderrFd)
  running.add(child)
  let output = ''
  let match: RegExpExecArray | undefined
  const onData = (chunk: Buffer): void => {
    if (output.length < 64 * 1024) output += chunk.toString('utf8')
    if (options.waitFor && match === undefined) match = options.waitFor.exec(output) ?? undefined
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const logged = (): string =>
    options.stderrTo === undefined ? '' : readFileSync(options.stderrTo, 'utf8').slice(-4096)
  const started: Started = {
    child,
    output: () => output + logged(),
    stop: () => stopChild(child),
  }
  if (options.waitFor) {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000)
    while (match === undefined) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${command} exited early: ${started.output().slice(-800)}`)
      }
      if (Date.now() > deadline) {
        await started.stop()
        throw new Error(`${command} not ready in time: ${started.output().slice(-800)}`)
      }
      await sleep(20)
    }
    return { ...started, match }
  }
  return started
}

export async function stopChild(child: ChildProcess): Promise<void> {
  running.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stopChild))
}

/** A port that was free a moment ago (for tools that cannot listen on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Resident memory of a process and all its descendants, in bytes (Linux /proc). */
export function treeRss(pid: number): number {
  let total = 0
  const stack = [pid]
  while (stack.length > 0) {
    const current = stack.pop() as number
    total += rssOf(current)
    stack.push(...childrenOf(current))
  }
  return total
}

/** CPU time (user + system) of a process and its descendants, in µs (Linux /proc). */
export function treeCpuUs(pid: number): number {
  let total = 0
  const stack = [pid]
  while (stack.length > 0) {
    const current = stack.pop() as number
    total += cpuOf(current)
    stack.push(...childrenOf(current))
  }
  return total
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return (ticks * 1_000_000) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
    return kb ? Number(kb) * 1024 : 0
  } catch {
    return 0
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}

/** Polls until `probe` resolves true, or throws after `timeoutMs`. */
export async function waitUntil(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await probe()) return
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`)
    await sleep(50)
  }
}

/**
 * Runs a bench script's `main`: an error is printed and sets exit code 1, and every process
 * the script started is stopped either way.
 */
export function runScript(main: () => Promise<void>): void {
  main()
    .catch((error: unknown) => {
      console.error(error)
      process.exitCode = 1
    })
    .finally(() => stopAll())
}
