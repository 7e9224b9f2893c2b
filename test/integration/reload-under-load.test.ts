/**
 * Hot reload while clients call: `portico run` in gateway mode, eight sessions calling tools
 * of four backends (two HTTP ones on the demo server, two stdio ones running server-everything)
 * without pause, some calls long (progress for a second), while the test writes a seeded
 * random config and sends SIGHUP every few hundred milliseconds: backends added, removed and
 * changed (timeouts, concurrency, retries, caches, tool filters). What must hold: every call is
 * answered with its own id, with its result or with the error of an unknown tool (its backend
 * gone) or of its own timeout: never cut off by a reload (calls in flight on a replaced or
 * removed backend finish first), never a hang or a dropped connection; Portico keeps serving; once the last file is
 * in force it runs exactly that file's stdio backends (no child left behind, none missing).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { startCli } from '../helpers/cli.ts'
import { MCP_ACCEPT, openSession, sessionHeaders, toolCallBody } from '../helpers/mcp-http.ts'
import { serverBin } from '../helpers/mcp-servers.ts'
import type { Spawned } from '../helpers/processes.ts'
import { type Random, seeded } from '../helpers/random.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const SEED = 20261205
const RELOADS = 24
const SESSIONS = 8
const POOL = ['h1', 'h2', 's1', 's2'] as const

/** One random config: a non-empty subset of the pool, each with random policies. */
function randomConfig(random: Random, demo: DemoServer): { text: string; stdio: string[] } {
  let names = POOL.filter(() => random.next(10) < 6)
  if (names.length === 0) names = [random.pick(POOL)]
  const tables = names.map((name) => {
    const lines = ['[[backends]]', `name = "${name}"`]
    if (name.startsWith('h')) lines.push('transport = "http"', `url = "${demo.url}"`)
    else {
      lines.push(
        'transport = "stdio"',
        `command = ${JSON.stringify(process.execPath)}`,
        `args = [${JSON.stringify(serverBin('everything'))}, "stdio"]`,
      )
    }
    if (random.next(5) === 0) lines.push(`hide_tools = ["${random.pick(['add', 'nope*'])}"]`)
    if (random.next(3) === 0) lines.push('[backends.timeout]', `seconds = ${random.pick([2, 30])}`)
    if (random.next(3) === 0) {
      lines.push('[backends.concurrency]', `max_concurrent = ${random.pick([1, 4])}`)
    }
    if (random.next(3) === 0) {
      lines.push(
        '[backends.retry]',
        `max_retries = ${random.pick([0, 2])}`,
        'initial_backoff_ms = 10',
      )
    }
    if (random.next(4) === 0) lines.push('[backends.cache]', 'tool_ttl_seconds = 5')
    return lines.join('\n')
  })
  const head = ['[proxy]', 'hot_reload = false', `list_cache_ttl = "${random.pick(['0s', '60s'])}"`]
  return {
    text: `${[...head, '', ...tables].join('\n')}\n`,
    stdio: names.filter((name) => name.startsWith('s')),
  }
}

/** A call's arguments for each backend's tools: the demo server's, or server-everything's. */
function randomCall(random: Random): { tool: string; args: object } {
  const backend = random.pick(POOL)
  const long = random.next(5) === 0
  if (backend.startsWith('h')) {
    return long
      ? { tool: `${backend}__slow_task`, args: { steps: 4, step_ms: 250 } }
      : { tool: `${backend}__echo`, args: { text: 'x' } }
  }
  return long
    ? { tool: `${backend}__trigger-long-running-operation`, args: { duration: 1, steps: 4 } }
    : { tool: `${backend}__echo`, args: { message: 'x' } }
}

/** Processes whose parent is `pid` (pgrep exits 1 when there is none). */
function childCount(pid: number): number {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean).length
  } catch {
    return 0
  }
}

describe('hot reload under load', () => {
  const random = seeded(SEED)
  const dir = scratchDir('portico-reload-load-')
  const file = join(dir, 'portico.toml')
  let demo: DemoServer
  let portico: Spawned & { url: string }
  let last: { text: string; stdio: string[] }

  before(async () => {
    demo = await startDemoServer()
    last = randomConfig(random, demo)
    writeFileSync(file, last.text)
    portico = await startCli(['run', '--config', file, '--port', '0', '--db', join(dir, 's.db')])
  })

  after(async () => {
    await portico?.stop()
    await demo?.close()
  })

  it(`every call is answered while ${RELOADS} reloads change the backends (seed ${SEED})`, {
    timeout: 90_000,
  }, async (t) => {
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, () => openSession(portico.url)),
    )
    const outcomes = new Map<string, number>()
    const failures: string[] = []
    let running = true
    let nextId = 1
    const callLoop = async (session: string) => {
      while (running) {
        const id = nextId++
        const { tool, args } = randomCall(random)
        let outcome: string
        try {
          const response = await fetch(portico.url, {
            method: 'POST',
            headers: { ...MCP_ACCEPT, ...sessionHeaders(session) },
            body: toolCallBody(id, tool, args),
            signal: AbortSignal.timeout(20_000),
          })
          const text = await response.text()
          const answered = text.includes(`"id":${id}`)
          outcome = !answered
            ? `HTTP ${response.status} without id ${id}: ${text.slice(0, 200)}`
            : /"result"/.test(text)
              ? 'result'
              : `error ${/"message":"([^"]{0,40})/.exec(text)?.[1]?.replace(/\w+__/, '') ?? ''}`
          // A call on a removed backend's tool is unknown; one queued behind a long call can
          // outlast a short timeout. Anything else (a call cut off by a reload) is a failure.
          const expected = outcome === 'result' || /Unknown tool|did not answer within/.test(text)
          if (!answered || !expected) failures.push(`${tool}: ${outcome} ${text.slice(0, 300)}`)
        } catch (error) {
          outcome = `no answer: ${(error as Error).message}`
          failures.push(`${tool} (id ${id}): ${outcome}`)
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
      }
    }
    const loops = sessions.map(callLoop)
    for (let i = 0; i < RELOADS; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150 + random.next(350)))
      last = randomConfig(random, demo)
      writeFileSync(file, last.text)
      portico.child.kill('SIGHUP')
    }
    running = false
    await Promise.all(loops)
    const summary = JSON.stringify(Object.fromEntries(outcomes))
    assert.deepEqual(failures.slice(0, 5), [], `seed ${SEED}: ${summary}`)
    assert.ok((outcomes.get('result') ?? 0) > 50, summary)
    t.diagnostic(summary)

    // The last file in force: its stdio backends run, one process each, and nothing else.
    await until(
      () => (childCount(portico.child.pid as number) === last.stdio.length ? true : undefined),
      40_000,
      `${last.stdio.length} stdio backends running (${last.stdio.join(', ') || 'none'})`,
    )
    const check = await fetch(portico.url, {
      method: 'POST',
      headers: { ...MCP_ACCEPT, ...sessionHeaders(sessions[0] as string) },
      body: toolCallBody('after', 'portico__backends', {}),
    })
    assert.equal(check.status, 200)
    assert.match(await check.text(), /"id":"after"/)
  })
})
