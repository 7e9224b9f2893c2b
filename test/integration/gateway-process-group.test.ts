/**
 * A stdio backend started through a wrapper (`sh -c`) that leaves a helper process running:
 * stopping Portico, or the backend's process crashing, ends the helper too (the backend runs
 * in a process group of its own, signalled whole). Real processes; waits bounded by deadlines.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { startCli } from '../helpers/cli.ts'
import { openSession } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { alive, exitOf } from '../helpers/processes.ts'
import { rpc } from '../helpers/rpc.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const helpers: number[] = []

after(() => {
  // A failing test must not leave its helper running.
  for (const pid of helpers) if (running(pid)) process.kill(pid, 'SIGKILL')
})

/** True while the process runs (a zombie nobody reaped yet has ended). */
function running(pid: number): boolean {
  if (!alive(pid)) return false
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return process.platform !== 'linux'
  }
}

/** A gateway whose backend is `sh -c 'node helper & exec node server'`. */
async function wrapped(): Promise<{ gateway: RunningPortico; helper: number; session: string }> {
  const pidFile = join(scratchDir('portico-group-'), 'helper.pid')
  const script = `"$1" "$2" "$3" & exec "$1" "$4"`
  const gateway = await startPortico({
    proxy: { admin_tools: false },
    backends: [
      {
        name: 'wrapped',
        transport: 'stdio',
        command: '/bin/sh',
        args: [
          '-c',
          script,
          'sh',
          process.execPath,
          fixture('pid-helper'),
          pidFile,
          fixture('echo-raw-stdio'),
        ],
        max_restarts: 0,
      },
    ],
  })
  const session = await openSession(gateway.url)
  const helper = await helperPid(pidFile)
  helpers.push(helper)
  assert.ok(running(helper), 'the helper runs beside the backend')
  return { gateway, helper, session }
}

it('ends the helper a wrapped stdio backend started when Portico stops', {
  skip: process.platform === 'win32',
}, async () => {
  const { gateway, helper } = await wrapped()
  await gateway.close()
  await until(() => !running(helper), 10_000, `helper ${helper} to end after Portico stopped`)
})

it('ends the helper when the wrapped backend crashes, before any restart', {
  skip: process.platform === 'win32',
}, async () => {
  const { gateway, helper, session } = await wrapped()
  try {
    const answer = await rpc(
      gateway.url,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'wrapped__crash', arguments: {} },
      },
      { 'mcp-session-id': session },
    )
    assert.ok(answer.message?.error, JSON.stringify(answer.message))
    await until(() => !running(helper), 10_000, `helper ${helper} to end after its backend crashed`)
  } finally {
    await gateway.close()
  }
})

/** `portico run` with the wrapped backend; resolves once its helper runs. */
async function wrappedCli(): Promise<{
  portico: Awaited<ReturnType<typeof startCli>>
  helper: number
}> {
  const dir = scratchDir('portico-group-cli-')
  const pidFile = join(dir, 'helper.pid')
  const args = [
    '-c',
    '"$1" "$2" "$3" & exec "$1" "$4"',
    'sh',
    process.execPath,
    fixture('pid-helper'),
    pidFile,
    fixture('echo-raw-stdio'),
  ]
  const file = join(dir, 'portico.toml')
  writeFileSync(
    file,
    [
      'port = 0',
      'log_level = "info"',
      `[store]\npath = "${join(dir, 'store.db')}"`,
      `[[backends]]\nname = "wrapped"\ntransport = "stdio"\ncommand = "/bin/sh"\nargs = ${JSON.stringify(args)}`,
    ].join('\n'),
  )
  const portico = await startCli(['run', '--config', file])
  const helper = await helperPid(pidFile)
  helpers.push(helper)
  return { portico, helper }
}

it('portico run stops a wrapped backend and its helper on Ctrl-C (SIGINT to Portico alone)', {
  skip: process.platform === 'win32',
}, async () => {
  const { portico, helper } = await wrappedCli()
  // The backend's group is not the terminal's: only Portico gets the SIGINT, and stops it.
  portico.child.kill('SIGINT')
  await exitOf(portico.child, 15_000, 'portico run after SIGINT')
  await until(() => !running(helper), 10_000, `helper ${helper} to end after Ctrl-C`)
})

it('a second Ctrl-C exits at once and still ends the backend groups', {
  skip: process.platform === 'win32',
}, async () => {
  const { portico, helper } = await wrappedCli()
  // A call in flight keeps the first Ctrl-C's drain waiting (up to drain_timeout, 30 s).
  const session = await openSession(portico.url)
  const hanging = rpc(
    portico.url,
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'wrapped__hang', arguments: {} },
    },
    { 'mcp-session-id': session },
  ).catch(() => undefined)
  await until(() => portico.output().includes('hanging'), 10_000, 'the call to reach the backend')
  portico.child.kill('SIGINT')
  await until(() => portico.output().includes('received SIGINT'), 10_000, 'the first SIGINT')
  portico.child.kill('SIGINT')
  const exit = await exitOf(portico.child, 15_000, 'portico run after two SIGINTs')
  assert.equal(exit.code, 130)
  await until(() => !running(helper), 10_000, `helper ${helper} to end after two Ctrl-Cs`)
  await hanging
})

/** The pid the backend's helper writes once it runs. */
function helperPid(pidFile: string): Promise<number> {
  return until(
    () => {
      try {
        return Number(readFileSync(pidFile, 'utf8')) || undefined
      } catch {
        return undefined
      }
    },
    10_000,
    'the helper to write its pid',
  )
}
