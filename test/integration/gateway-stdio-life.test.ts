/**
 * The lives of stdio backend processes, with real child processes (test/fixtures/life-stdio.ts)
 * and real HTTP clients: `max_processes` counts the processes that run (starting and stopping
 * ones too), one session's failed start is not the backend's state, a start that succeeds ends
 * a run of failures, `max_restarts` holds for a shared process that crashes after starting, a
 * process that closes its output or input is restarted, a deleted session's call ends at once,
 * a second signal leaves no backend running, and a start that cannot happen says why.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadConfig } from '../../src/config/load.ts'
import type { ConfigInput } from '../../src/config/schema.ts'
import { createPortico } from '../../src/index.ts'
import { Logger } from '../../src/observe/logger.ts'
import { startCli } from '../helpers/cli.ts'
import { MCP_ACCEPT, postInitialize } from '../helpers/mcp-http.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { alive, exitOf } from '../helpers/processes.ts'
import { type RpcAnswer, rpc } from '../helpers/rpc.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const started: number[] = []
const gateways: RunningPortico[] = []

after(async () => {
  await Promise.allSettled(gateways.map((gateway) => gateway.close()))
  // A failing test must not leave its processes running.
  for (const pid of started) if (running(pid)) process.kill(pid, 'SIGKILL')
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

/** The pids the backend's processes wrote to `file` at their start. */
function pidsIn(file: string): number[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  const pids = text.split('\n').filter(Boolean).map(Number)
  for (const pid of pids) if (!started.includes(pid)) started.push(pid)
  return pids
}

interface Backend {
  env?: Record<string, string>
  isolation?: 'shared' | 'session'
  max_processes?: number
  max_restarts?: number
  startup_timeout?: number
  start?: 'eager' | 'lazy'
  command?: string
  cwd?: string
}

/** A gateway with one stdio backend `s` running life-stdio, and the file its pids go to. */
async function gateway(
  backend: Backend,
  logs: string[] = [],
): Promise<{ gateway: RunningPortico; pids: string }> {
  const pids = join(scratchDir('portico-life-'), 'pids')
  const config = {
    request_timeout: 30,
    proxy: { admin_tools: false },
    backends: [
      {
        name: 's',
        transport: 'stdio',
        command: backend.command ?? process.execPath,
        args: [fixture('life-stdio')],
        ...backend,
        env: { LIFE_PIDS: pids, ...backend.env },
      },
    ],
  } as ConfigInput
  const running = await startPortico(config, {
    logger: new Logger({ level: 'info', write: (line) => logs.push(line) }),
  })
  gateways.push(running)
  return { gateway: running, pids }
}

/** Opens a session as client `client` (its name is the backend's `initialize` clientInfo). */
async function session(url: string, client = 'good'): Promise<string> {
  const init = await postInitialize(url, { client })
  const id = init.headers.get('mcp-session-id')
  await init.text()
  assert.ok(id, `no session id (status ${init.status})`)
  const done = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, 'mcp-session-id': id },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  })
  await done.text()
  return id
}

async function call(
  url: string,
  id: string | undefined,
  tool: string,
  callId = 1,
): Promise<RpcAnswer> {
  return rpc(
    url,
    {
      jsonrpc: '2.0',
      id: callId,
      method: 'tools/call',
      params: { name: `s__${tool}`, arguments: {} },
    },
    { 'mcp-session-id': id ?? (await session(url)) },
  )
}

function textOf(answer: RpcAnswer): string {
  const content = (answer.message?.result?.content ?? []) as Array<{ text?: string }>
  return content.map((c) => c.text ?? '').join('')
}

async function remove(url: string, id: string): Promise<void> {
  const response = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': id } })
  await response.text()
  assert.equal(response.status, 200)
}

interface Health {
  name: string
  state: string
  restarts: number
  error?: string
}

async function readyz(origin: string): Promise<{ status: number; backend: Health }> {
  const response = await fetch(`${origin}/readyz`)
  const body = (await response.json()) as { backends: Health[] }
  const backend = body.backends.find((b) => b.name === 's')
  assert.ok(backend, JSON.stringify(body))
  return { status: response.status, backend }
}

describe('isolation = "session"', () => {
  it('max_processes counts the processes still starting and stopping: sessions deleted while their process starts do not add up', async () => {
    const { gateway: g, pids } = await gateway({
      isolation: 'session',
      max_processes: 2,
      startup_timeout: 30,
      start: 'lazy',
    })
    let most = 0
    for (let i = 0; i < 6; i++) {
      const id = await session(g.url, 'hang')
      const before = pidsIn(pids).length
      const answer = call(g.url, id, 'pid').catch((error: Error) => error)
      // Its process starts (and never answers initialize), or the call is refused at the cap.
      await Promise.race([
        until(() => pidsIn(pids).length > before, 10_000, 'a process to start'),
        answer,
      ])
      most = Math.max(most, pidsIn(pids).filter(running).length)
      await remove(g.url, id)
      await answer
    }
    assert.ok(most <= 2, `${most} processes ran at once with max_processes = 2`)
    await until(() => pidsIn(pids).filter(running).length === 0, 10_000, 'every process to end')
  })

  it('a hot reload that adds or changes the backend starts no process of its own', async () => {
    const dir = scratchDir('portico-life-reload-')
    const pids = join(dir, 'pids')
    const file = join(dir, 'portico.toml')
    const toml = (extra: string) =>
      `port = 0\ndrain_timeout = 2\n[proxy]\nadmin_tools = false\n[store]\nenabled = false\n` +
      `[[backends]]\nname = "s"\ntransport = "stdio"\ncommand = ${JSON.stringify(process.execPath)}\n` +
      `args = [${JSON.stringify(fixture('life-stdio'))}]\nisolation = "session"\nmax_processes = 1\n` +
      `env = { LIFE_PIDS = ${JSON.stringify(pids)} }\n${extra}`
    writeFileSync(file, toml(''))
    const load = () => loadConfig({ file, env: {} }).config
    const portico = createPortico(load(), {
      logger: new Logger({ level: 'silent' }),
      reload: { file, load },
    })
    try {
      const url = (await portico.listen()).url
      writeFileSync(file, toml('startup_timeout = 20\n'))
      assert.equal(await portico.reloadConfig(), 'applied')
      await new Promise((resolve) => setTimeout(resolve, 500))
      // Before: the reload opened the gateway's own session there, whose process took the
      // one place, and the first client's call was refused ("runs its maximum of 1").
      assert.deepEqual(pidsIn(pids), [], 'no process before a client')
      const answer = await call(url, undefined, 'pid')
      assert.match(textOf(answer), /^\d+$/, JSON.stringify(answer.message))
    } finally {
      await portico.close()
    }
  })

  it('a call waiting for its session’s process to start ends at once, with its id, when the session is deleted', async () => {
    const { gateway: g, pids } = await gateway({
      isolation: 'session',
      startup_timeout: 30,
      start: 'lazy',
    })
    const id = await session(g.url, 'hang')
    const answer = call(g.url, id, 'pid', 42)
    await until(() => pidsIn(pids).length > 0, 10_000, 'the session’s process to start')
    await remove(g.url, id)
    // rpc() gives up after 10 s; the start would take 30.
    const { message } = await answer
    assert.equal(message?.id, 42, JSON.stringify(message))
    assert.equal(message?.error?.code, -32001, JSON.stringify(message))
    assert.match(message?.error?.message ?? '', /Session ended/, JSON.stringify(message))
    await until(() => !running(pidsIn(pids)[0] ?? 0), 10_000, 'the process to be stopped')
  })

  it('one session’s failed start leaves the backend up while another session’s process serves', async () => {
    const logs: string[] = []
    const { gateway: g } = await gateway({ isolation: 'session', start: 'lazy' }, logs)
    const good = await session(g.url, 'good')
    const pid = textOf(await call(g.url, good, 'pid'))
    assert.match(pid, /^\d+$/)
    const bad = await session(g.url, 'bad')
    const refused = await call(g.url, bad, 'pid', 7)
    assert.equal(refused.message?.id, 7)
    assert.ok(refused.message?.error, JSON.stringify(refused.message))
    const ready = await readyz(g.origin)
    assert.equal(ready.backend.state, 'up', JSON.stringify(ready.backend))
    assert.equal(ready.status, 200)
    // logging/setLevel still reaches the backends that are up.
    const level = await rpc(
      g.url,
      { jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'debug' } },
      { 'mcp-session-id': good },
    )
    assert.ok(level.message?.result, JSON.stringify(level.message))
    await until(
      () => logs.some((line) => line.includes(`setLevel ${pid}`)),
      10_000,
      'setLevel to reach the good session’s process',
    )
  })

  it('tells a session refused after processes crashed soon after starting what they did', async () => {
    const { gateway: g } = await gateway({
      isolation: 'session',
      max_restarts: 1,
      start: 'lazy',
      env: { LIFE_INIT: 'exit-after' },
    })
    let message = ''
    for (let i = 0; i < 6 && !/keeps crashing/.test(message); i++) {
      const id = await session(g.url)
      // The process answers initialize, then exits: its call fails, and the next process
      // waits out the backoff.
      await call(g.url, id, 'pid')
      await new Promise((resolve) => setTimeout(resolve, 200))
      message = String((await call(g.url, id, 'pid', 2)).message?.error?.message)
    }
    assert.match(message, /keeps crashing \(its last start failed: exited.* soon after starting\)/)
  })

  it('failed starts that are not in a row do not add up to max_restarts', async () => {
    const { gateway: g } = await gateway({ isolation: 'session', max_restarts: 2, start: 'lazy' })
    for (const client of ['bad', 'good', 'good', 'bad', 'good', 'good', 'bad']) {
      const id = await session(g.url, client)
      const answer = await call(g.url, id, 'pid')
      if (client === 'good') assert.match(textOf(answer), /^\d+$/, JSON.stringify(answer.message))
      await remove(g.url, id)
    }
    assert.notEqual((await readyz(g.origin)).backend.state, 'failed')
    const id = await session(g.url, 'good')
    const answer = await call(g.url, id, 'pid')
    assert.match(textOf(answer), /^\d+$/, JSON.stringify(answer.message))
  })
})

describe('a shared process', () => {
  it('that crashes right after starting is given up after max_restarts: no call starts it again', async () => {
    const { gateway: g, pids } = await gateway({
      env: { LIFE_INIT: 'exit-after' },
      max_restarts: 1,
    })
    await until(
      async () => (await readyz(g.origin)).backend.state === 'failed',
      15_000,
      'the backend to be failed',
    )
    const count = pidsIn(pids).length
    for (let i = 0; i < 3; i++) {
      const answer = await call(g.url, undefined, 'pid', i)
      // The cause, not only "keeps crashing".
      assert.match(String(answer.message?.error?.message), /exited.* soon after starting/)
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(pidsIn(pids).length, count, 'calls started the backend again')
  })

  for (const [tool, what] of [
    ['close_stdout', /closed its output/],
    ['close_stdin', /closed its input/],
  ] as const) {
    it(`that ${tool.replace('_', 's its ')} but runs on is stopped and restarted`, async () => {
      const logs: string[] = []
      const { gateway: g, pids } = await gateway({}, logs)
      const first = Number(textOf(await call(g.url, undefined, tool)))
      assert.ok(first > 0)
      // Each call is answered well within rpc()'s 10 s (request_timeout is 30 s), and soon
      // by a new process.
      await until(
        async () => {
          const answer = await call(g.url, undefined, 'pid', 2)
          const pid = Number(textOf(answer))
          return pid > 0 && pid !== first ? pid : undefined
        },
        15_000,
        'a call answered by a restarted process',
      )
      await until(() => !running(first), 10_000, `the old process ${first} to be stopped`)
      assert.ok(
        logs.some((line) => what.test(line)),
        logs.join(''),
      )
      assert.ok(pidsIn(pids).length >= 2)
    })
  }
})

describe('what a process writes at the edges of its life', () => {
  it('its last answer, written without a newline before it exits, answers the call', async () => {
    const { gateway: g } = await gateway({})
    // Before, the line without its newline was dropped at the end of the output, and the
    // call failed "Backend s exited (code 0)".
    const answer = await call(g.url, undefined, 'last_words', 7)
    assert.equal(answer.message?.id, 7, JSON.stringify(answer.message))
    assert.equal(textOf(answer), 'last words', JSON.stringify(answer.message))
  })

  for (const isolation of ['shared', 'session'] as const) {
    it(`a request it writes with its initialize answer is answered (isolation = "${isolation}")`, async () => {
      const { gateway: g } = await gateway({ isolation, env: { LIFE_EARLY_ROOTS: '1' } })
      const id = await session(g.url)
      // Before, it came before the gateway took the process's messages and was dropped:
      // the server waited for its answer for ever.
      const answers = await until(
        async () => {
          const got = JSON.parse(textOf(await call(g.url, id, 'answers'))) as Array<{ id: unknown }>
          return got.length > 0 ? got : undefined
        },
        5000,
        'the answer to its early roots/list',
      )
      assert.equal(answers.length, 1, JSON.stringify(answers))
      assert.equal(answers[0]?.id, 'early', JSON.stringify(answers))
    })
  }
})

describe('a session’s process', () => {
  it('that closes its output but runs on counts as a crash (toward max_restarts) and is stopped', async () => {
    const { gateway: g } = await gateway({ isolation: 'session', max_restarts: 0, start: 'lazy' })
    const id = await session(g.url, 'good')
    const first = Number(textOf(await call(g.url, id, 'close_stdout')))
    assert.ok(first > 0)
    await until(() => !running(first), 10_000, `the process ${first} to be stopped`)
    // One crash within 10 s of its start, with max_restarts = 0: the backend gives up.
    await until(
      async () => (await readyz(g.origin)).backend.state === 'failed',
      10_000,
      'the backend to be failed',
    )
  })
})

describe('a start that cannot happen', () => {
  it('tells the client the cause (missing command, cwd that is a file), as portico check says it', async () => {
    const missing = await gateway({ command: 'definitely-not-a-command-xyz', max_restarts: 0 })
    await until(
      async () => (await readyz(missing.gateway.origin)).backend.state === 'failed',
      10_000,
      'the backend to be failed',
    )
    const answer = await call(missing.gateway.url, undefined, 'pid', 5)
    assert.equal(answer.message?.id, 5)
    assert.match(
      answer.message?.error?.message ?? '',
      /Backend s could not start: command "definitely-not-a-command-xyz" not found on PATH/,
    )
    const file = fixture('life-stdio')
    const cwd = await gateway({ cwd: file, max_restarts: 0 })
    await until(
      async () => (await readyz(cwd.gateway.origin)).backend.state === 'failed',
      10_000,
      'the backend to be failed',
    )
    const health = (await readyz(cwd.gateway.origin)).backend
    assert.match(
      health.error ?? '',
      new RegExp(`Backend s could not start: its cwd ${file} is not a folder`),
    )
    const refused = await call(cwd.gateway.url, undefined, 'pid', 6)
    assert.match(refused.message?.error?.message ?? '', /its cwd .* is not a folder/)
  })
})

describe('portico run', () => {
  it('a second signal leaves no backend running, even one that ignores SIGTERM', {
    skip: process.platform === 'win32',
  }, async () => {
    const dir = scratchDir('portico-life-cli-')
    const pids = join(dir, 'pids')
    const file = join(dir, 'portico.toml')
    writeFileSync(
      file,
      [
        'port = 0',
        'log_level = "info"',
        `[store]\npath = "${join(dir, 'store.db')}"`,
        '[[backends]]\nname = "s"\ntransport = "stdio"',
        `command = ${JSON.stringify(process.execPath)}`,
        `args = [${JSON.stringify(fixture('life-stdio'))}]`,
        `env = { LIFE_PIDS = ${JSON.stringify(pids)}, LIFE_IGNORE_TERM = "1" }`,
      ].join('\n'),
    )
    const portico = await startCli(['run', '--config', file])
    const [pid] = await until(
      () => {
        const found = pidsIn(pids)
        return found.length > 0 ? found : undefined
      },
      10_000,
      'the backend to start',
    )
    assert.ok(pid && running(pid))
    portico.child.kill('SIGTERM')
    await until(() => portico.output().includes('received SIGTERM'), 10_000, 'the first SIGTERM')
    portico.child.kill('SIGTERM')
    await exitOf(portico.child, 15_000, 'portico run after two SIGTERMs')
    await until(() => !running(pid), 10_000, `backend ${pid}, which ignores SIGTERM, to end`)
  })
})
