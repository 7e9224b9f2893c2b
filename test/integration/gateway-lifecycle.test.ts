/**
 * Gateway lifecycle with real servers: a stdio backend killed mid-session (calls in flight get
 * a clear error, the process restarts, the next call works, other backends never notice), an
 * HTTP backend that loses its sessions (re-initialized transparently), and hot reload adding
 * and removing backends while a client stays connected (an invalid file is rejected).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { loadConfig } from '../../src/config/load.ts'
import { Logger } from '../../src/observe/logger.ts'
import { openListenStream } from '../helpers/listen.ts'
import { fixture, serverBin } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { alive, type Spawned, startEverything } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const node = JSON.stringify(process.execPath)
let dir: string
let file: string
let web: Spawned & { url: string; port: number }
let gateway: RunningPortico
let client: Client
let listChanged = 0
const changedAt: number[] = []
const logs: string[] = []

function backendsToml(names: string[]): string {
  const tables: Record<string, string> = {
    ev: `[[backends]]\nname = "ev"\ntransport = "stdio"\ncommand = ${node}\nargs = [${JSON.stringify(serverBin('everything'))}, "stdio"]\n`,
    paged: `[[backends]]\nname = "paged"\ntransport = "stdio"\ncommand = ${node}\nargs = [${JSON.stringify(fixture('paged-server'))}]\n`,
    mem: `[[backends]]\nname = "mem"\ntransport = "stdio"\ncommand = ${node}\nargs = [${JSON.stringify(serverBin('memory'))}]\nenv = { MEMORY_FILE_PATH = ${JSON.stringify(join(dir, 'mem.jsonl'))} }\n`,
    web: `[[backends]]\nname = "web"\ntransport = "http"\nurl = "${web.url}"\n`,
  }
  return `[proxy]\nhot_reload = true\nlist_timeout = "3s"\n\n${names.map((n) => tables[n]).join('\n')}`
}

async function toolNames(): Promise<string[]> {
  return (await client.listTools()).tools.map((t) => t.name)
}

async function health(name: string): Promise<{ state: string; pid?: number; restarts: number }> {
  const result = await client.callTool({ name: 'portico__backends', arguments: {} })
  const { backends } = result.structuredContent as {
    backends: Array<{ name: string; state: string; pid?: number; restarts: number }>
  }
  const found = backends.find((b) => b.name === name)
  assert.ok(found, `no backend ${name}`)
  return found
}

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? []
  return content.map((c) => c.text ?? '').join('\n')
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-gw-life-'))
  file = join(dir, 'portico.toml')
  web = await startEverything('streamableHttp')
  writeFileSync(file, backendsToml(['ev', 'paged', 'web']))
  const { config } = loadConfig({ file, env: {} })
  gateway = await startPortico(config, {
    logger: new Logger({ level: 'info', write: (line) => logs.push(line) }),
    reload: { file, load: () => loadConfig({ file, env: {} }).config },
  })
  client = new Client({ name: 'lifecycle', version: '1.0.0' })
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    listChanged++
    changedAt.push(Date.now())
  })
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
})

after(async () => {
  await client?.close()
  await gateway?.close()
  await web?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('gateway lifecycle', () => {
  it('restarts a killed stdio backend; in-flight calls fail clearly, other backends never notice', async () => {
    const first = await until(async () => (await health('ev')).pid, 10_000, 'ev pid')
    let running: () => void = () => {}
    const started = new Promise<void>((resolve) => {
      running = resolve
    })
    const inFlight = client.callTool(
      { name: 'ev__trigger-long-running-operation', arguments: { duration: 10, steps: 10 } },
      undefined,
      { onprogress: () => running() },
    )
    await started // the call is running inside the backend
    const announced = listChanged
    process.kill(first, 'SIGKILL')
    await assert.rejects(inFlight, /ev exited|exited/)
    assert.match(text(await client.callTool({ name: 'paged__alpha', arguments: {} })), /alpha/)
    const restarted = await until(
      async () => {
        const h = await health('ev')
        return h.state === 'up' && h.pid !== first ? h : undefined
      },
      10_000,
      'ev restarted',
    )
    assert.ok(restarted.restarts >= 1)
    assert.match(
      text(await client.callTool({ name: 'ev__get-sum', arguments: { a: 4, b: 5 } })),
      /sum of 4 and 5 is 9/,
    )
    // Back up, it may list other tools: the client is told to list again (once the coalescing
    // window is over), and its list-change announcements are passed on again.
    await until(
      () => (listChanged > announced ? true : undefined),
      5000,
      'list_changed on recovery',
    )
    assert.ok(
      logs.some((line) => line.includes('backend ev exited')),
      logs.join(''),
    )
    // Backend stderr is in Portico's log under the backend's name.
    assert.ok(
      logs.some((line) => line.includes('[ev] ')),
      logs.join(''),
    )
  })

  it('re-initializes an HTTP backend session that the backend forgot', async () => {
    assert.match(
      text(await client.callTool({ name: 'web__echo', arguments: { message: 'a' } })),
      /a/,
    )
    // A fresh process where the old one was: every old session id is unknown to it. (The
    // port is this test's own, released a moment before; nothing else asked for it.)
    await web.stop()
    web = await startEverything('streamableHttp', web.port)
    assert.match(
      text(await client.callTool({ name: 'web__echo', arguments: { message: 'again' } })),
      /again/,
    )
  })

  it('hot reload adds and removes backends while the client stays connected', async () => {
    const evPid = (await health('ev')).pid
    const before = listChanged
    const listen = await openListenStream(gateway.url, 'listen-1', {
      toolsListChanged: true,
      resourceSubscriptions: ['x://y'],
    })
    writeFileSync(file, backendsToml(['ev', 'mem', 'web']))
    const names = await until(
      async () => {
        const list = await toolNames()
        return list.includes('mem__read_graph') && !list.some((n) => n.startsWith('paged__'))
          ? list
          : undefined
      },
      15_000,
      'reloaded tool list',
    )
    assert.ok(names.includes('ev__echo'))
    await until(() => (listChanged > before ? true : undefined), 5000, 'tools/list_changed')
    // The reload and the new backends' own announcements reach the client as one per list:
    // proving that no second one follows takes waiting past the coalescing window (1 s).
    await new Promise((resolve) => setTimeout(resolve, 2000))
    assert.equal(listChanged - before, 1, `tools/list_changed at ${changedAt.join(', ')} ms`)
    assert.equal((await health('ev')).pid, evPid, 'an untouched backend was restarted')
    // A stateless (2026-07-28) client listening with subscriptions/listen is told too.
    const events = await listen.until((all) =>
      all.some((m) => m.method === 'notifications/tools/list_changed'),
    )
    assert.equal(events[0]?.method, 'notifications/subscriptions/acknowledged')
    const ack = events[0]?.params as { notifications?: object } | undefined
    assert.deepEqual(ack?.notifications, { toolsListChanged: true })
    const changed = events.find((m) => m.method === 'notifications/tools/list_changed')
    assert.deepEqual(changed?.params, {
      _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-1' },
    })
    listen.close()
    assert.match(
      text(await client.callTool({ name: 'mem__read_graph', arguments: {} })),
      /entities/,
    )
    await assert.rejects(client.callTool({ name: 'paged__alpha', arguments: {} }), /Unknown tool/)

    writeFileSync(file, '[[backends]]\nname = "broken"\ntransport = "stdio"\n')
    await until(
      () => (logs.some((l) => l.includes('config reload rejected')) ? true : undefined),
      5000,
      'rejection logged',
    )
    assert.ok((await toolNames()).includes('mem__read_graph'), 'the old config stopped serving')
    assert.match(
      text(await client.callTool({ name: 'ev__get-sum', arguments: { a: 1, b: 1 } })),
      /is 2/,
    )
    // Putting the running config back after a rejected edit says so, though nothing changes.
    writeFileSync(file, backendsToml(['ev', 'mem', 'web']))
    await until(
      () => (logs.some((l) => l.includes('config reload accepted')) ? true : undefined),
      5000,
      'the recovery logged',
    )
    // A top-level default every backend is built with (request_timeout) changes them all.
    const reloadsBefore = logs.filter((l) => l.includes('config reloaded')).length
    writeFileSync(file, `request_timeout = "45s"\n${backendsToml(['ev', 'mem', 'web'])}`)
    const reloaded = await until(
      () => logs.filter((l) => l.includes('config reloaded'))[reloadsBefore],
      10_000,
      'the reload of a new request_timeout',
    )
    for (const name of ['ev', 'mem', 'web']) assert.match(reloaded, new RegExp(name))
    await until(
      async () => ((await health('ev')).pid !== evPid ? true : undefined),
      15_000,
      'ev started again with the new timeout',
    )
  })

  it('a reload that replaces a backend lets the calls in flight on it finish, then stops it', async () => {
    await client.callTool({ name: 'ev__echo', arguments: { message: 'start' } })
    const oldPid = (await health('ev')).pid
    assert.ok(oldPid, 'ev runs')
    let progressed = 0
    const running = client.callTool(
      { name: 'ev__trigger-long-running-operation', arguments: { duration: 3, steps: 6 } },
      undefined,
      {
        onprogress: () => {
          progressed++
        },
        timeout: 30_000,
      },
    )
    await until(() => (progressed > 0 ? true : undefined), 10_000, 'the call to be running')
    const reloadsBefore = logs.filter((l) => l.includes('config reloaded')).length
    writeFileSync(file, `request_timeout = "50s"\n${backendsToml(['ev', 'mem', 'web'])}`)
    await until(
      () => logs.filter((l) => l.includes('config reloaded'))[reloadsBefore],
      10_000,
      'the reload that replaces ev',
    )
    await until(
      async () => ((await health('ev')).pid !== oldPid ? true : undefined),
      15_000,
      'the new ev process',
    )
    // The old process finishes the call it had: the client sees it complete, not fail.
    assert.match(text(await running), /Long running operation .*completed/i)
    await until(() => (alive(oldPid) ? undefined : true), 10_000, 'the old ev process to stop')
  })
})

describe('a slow backend at start-up (issue 18: initialize does not wait for it)', () => {
  let slowGateway: RunningPortico
  let early: Client

  before(async () => {
    const faulty = JSON.stringify(fixture('faulty-stdio'))
    const toml = [
      '[proxy]',
      // Shorter than the slow backend's start (2.5 s): the first list goes out without it.
      'list_timeout = "1s"',
      '[[backends]]',
      'name = "quick"',
      'transport = "stdio"',
      `command = ${node}`,
      `args = [${faulty}]`,
      '[[backends]]',
      'name = "slow"',
      'transport = "stdio"',
      `command = ${node}`,
      `args = [${faulty}]`,
      'env = { FAULTY_START_DELAY_MS = "2500", FAULTY_NAME = "slow" }',
    ].join('\n')
    const slowFile = join(dir, 'slow.toml')
    writeFileSync(slowFile, toml)
    slowGateway = await startPortico(loadConfig({ file: slowFile, env: {} }).config)
  })

  after(async () => {
    await early?.close()
    await slowGateway?.close()
  })

  it('answers initialize while a backend starts, and announces its tools once it is up', async () => {
    let changed = 0
    early = new Client({ name: 'early', version: '1.0.0' })
    early.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++
    })
    await early.connect(new StreamableHTTPClientTransport(new URL(slowGateway.url)))
    // Initialized before the slow backend answered its own initialize.
    const states = await early.callTool({ name: 'portico__backends', arguments: {} })
    const { backends } = states.structuredContent as {
      backends: Array<{ name: string; state: string }>
    }
    assert.equal(backends.find((b) => b.name === 'slow')?.state, 'starting')
    const capabilities = early.getServerCapabilities()
    assert.ok(capabilities?.tools?.listChanged, 'tools announced, with listChanged')
    // What a starting backend may serve is announced rather than hidden for the session.
    assert.ok(capabilities?.resources && capabilities.prompts, JSON.stringify(capabilities))
    // The first list waits list_timeout for the starting backend, then goes out without it.
    const first = (await early.listTools()).tools.map((t) => t.name)
    assert.ok(first.includes('quick__echo') && !first.includes('slow__echo'), first.join(','))
    await until(() => (changed > 0 ? true : undefined), 15_000, 'tools/list_changed')
    const again = (await early.listTools()).tools.map((t) => t.name)
    assert.ok(again.includes('slow__echo') && again.includes('quick__echo'), again.join(','))
  })
})

describe('startup_timeout: the deadline of a backend’s start, apart from its calls’', () => {
  it('lets a slow starter come up past a short call timeout, and fails one past its own', async () => {
    const slow = (name: string, keys: Record<string, number>) => ({
      name,
      transport: 'stdio' as const,
      command: process.execPath,
      args: [fixture('faulty-stdio')],
      // Answers nothing, initialize included, for 1.2 s after it starts.
      env: { FAULTY_START_DELAY_MS: '1200', FAULTY_NAME: name },
      max_restarts: 0,
      ...keys,
    })
    const gateway = await startPortico({
      backends: [
        // Calls get 0.3 s each; the start gets 10 s (Codex's tool and startup timeouts).
        slow('patient', { timeout: 0.3, startup_timeout: 10 }),
        slow('hasty', { startup_timeout: 0.3 }),
      ],
    })
    const client = new Client({ name: 'startup-timeout', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
      const states = await until(
        async () => {
          const result = await client.callTool({ name: 'portico__backends', arguments: {} })
          const { backends } = result.structuredContent as {
            backends: Array<{ name: string; state: string; error?: string }>
          }
          const byName = Object.fromEntries(backends.map((b) => [b.name, b]))
          return byName.patient?.state === 'up' && byName.hasty?.state === 'failed'
            ? byName
            : undefined
        },
        10_000,
        'patient up and hasty failed',
      )
      assert.match(states.hasty?.error ?? '', /did not answer initialize within 300 ms/)
      const echoed = await client.callTool({ name: 'patient__echo', arguments: { text: 'hi' } })
      assert.equal(echoed.isError, undefined)
      assert.match(JSON.stringify(echoed.content), /hi/)
    } finally {
      await client.close()
      await gateway.close()
    }
  })
})

describe('a stdio backend that answers, then exits at once', () => {
  it('delivers the answer it wrote before exiting, then serves again from a new process', async () => {
    const gateway = await startPortico({
      backends: [
        {
          name: 'last',
          transport: 'stdio',
          command: process.execPath,
          args: [fixture('faulty-stdio')],
          env: { FAULTY_PLAN: JSON.stringify([{ mode: 'exit-after', times: 1, tool: 'echo' }]) },
        },
      ],
    })
    const client = new Client({ name: 'exit-after', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
      // The answer was in the pipe when the process exited: the client gets it, not an error.
      const last = await client.callTool({ name: 'last__echo', arguments: { text: 'final words' } })
      assert.equal(last.isError, undefined)
      assert.match(JSON.stringify(last.content), /final words/)
      await until(
        async () => {
          const again = await client
            .callTool({ name: 'last__echo', arguments: { text: 'again' } })
            .catch(() => undefined)
          return again !== undefined && /again/.test(JSON.stringify(again.content))
            ? true
            : undefined
        },
        15_000,
        'the restarted backend to answer',
      )
    } finally {
      await client.close()
      await gateway.close()
    }
  })
})
