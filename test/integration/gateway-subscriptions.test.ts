/**
 * What a stdio backend is told about resource subscriptions through the gateway, and how its
 * processes restart, with real processes: a shared process that is killed gets its clients'
 * subscriptions again; a subscribe the backend refuses is not remembered as done; two listen
 * streams that ask for one resource at once keep it subscribed until both are gone; and a
 * per-session backend that crashes at start is not respawned for every call.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { openListenStream } from '../helpers/listen.ts'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

/** The subscribable fixture as a shared stdio backend named `sub`. */
const SUBSCRIBABLE = {
  name: 'sub',
  transport: 'stdio' as const,
  command: process.execPath,
  args: [fixture('subscribable-stdio')],
}

let dir: string
let starts: string
let gateway: RunningPortico
const clients: Client[] = []

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-gw-subs-'))
  starts = join(dir, 'starts')
  gateway = await startPortico({
    proxy: { admin_tools: false, list_timeout: '3s' },
    backends: [
      SUBSCRIBABLE,
      {
        // Counts its starts in a file, then exits before answering initialize.
        name: 'crashy',
        transport: 'stdio',
        command: process.execPath,
        args: ['-e', 'require("fs").appendFileSync(process.env.STARTS, "x\\n"); process.exit(1)'],
        env: { STARTS: starts },
        isolation: 'session',
        start: 'lazy',
      },
    ],
  })
})

after(async () => {
  for (const client of clients) await client.close()
  await gateway?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function connect(): Promise<Client> {
  const client = new Client({ name: 'subscriptions-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  clients.push(client)
  return client
}

interface BackendState {
  pid: number
  subscribed: string[]
  level: string | null
}

async function backendState(client: Client): Promise<BackendState> {
  const result = await client.callTool({ name: 'sub__state', arguments: {} })
  return result.structuredContent as unknown as BackendState
}

/**
 * Subscribes `client` to the backend's `memo://a`: its URI as clients see it, the updates that
 * reach the client from now on, and the backend process's state once subscribed.
 */
async function subscribedToA(client: Client) {
  const updates: string[] = []
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri)
  })
  const uri = await exposedUri(client, 'memo://a')
  await client.subscribeResource({ uri })
  return { uri, updates, first: await backendState(client) }
}

async function exposedUri(client: Client, local: string): Promise<string> {
  const { resources } = await client.listResources()
  const found = resources.find((r) => r.name === local)
  assert.ok(found, `no resource ${local} in ${JSON.stringify(resources)}`)
  return found.uri
}

describe('gateway resource subscriptions on a stdio backend', () => {
  it('subscribes a restarted shared process again to what its clients subscribed to', async () => {
    const client = await connect()
    const { uri, updates, first } = await subscribedToA(client)
    assert.deepEqual(first.subscribed, ['memo://a'])
    process.kill(first.pid, 'SIGKILL')
    const second = await until(
      async () => {
        const state = await backendState(client).catch(() => undefined)
        return state !== undefined && state.pid !== first.pid ? state : undefined
      },
      15_000,
      'the restarted backend to answer',
    )
    const again = await until(
      async () => {
        const state = await backendState(client)
        return state.subscribed.length > 0 ? state : undefined
      },
      5000,
      `the restarted process (${second.pid}) to be subscribed again`,
    )
    assert.deepEqual(again.subscribed, ['memo://a'])
    await client.callTool({ name: 'sub__touch', arguments: {} })
    await until(() => updates.includes(uri), 5000, `an update of ${uri} after the restart`)
    await client.unsubscribeResource({ uri })
    assert.deepEqual((await backendState(client)).subscribed, [])
  })

  it('does not count a subscription the backend refused: the next session is refused too', async () => {
    const a = await connect()
    const b = await connect()
    const uri = await exposedUri(a, 'memo://refused')
    await assert.rejects(a.subscribeResource({ uri }), /cannot subscribe to memo:\/\/refused/)
    await assert.rejects(b.subscribeResource({ uri }), /cannot subscribe to memo:\/\/refused/)
    // Two sessions at once: the second shares the first's refusal, it is not told "done".
    const both = await Promise.allSettled([
      a.subscribeResource({ uri }),
      b.subscribeResource({ uri }),
    ])
    assert.deepEqual(
      both.map((r) => r.status),
      ['rejected', 'rejected'],
    )
    // And a session that subscribes after a refusal is subscribed for real.
    const other = await exposedUri(a, 'memo://b')
    await b.subscribeResource({ uri: other })
    assert.deepEqual((await backendState(b)).subscribed, ['memo://b'])
    await b.unsubscribeResource({ uri: other })
    assert.deepEqual((await backendState(b)).subscribed, [])
  })

  it("a listen stream and a session asking for one resource share the backend's refusal", async () => {
    const a = await connect()
    const b = await connect()
    const uri = await exposedUri(a, 'memo://refused')
    // The session's subscribe is on its way (the fixture refuses it after 300 ms) when a
    // listen stream asks for the same resource.
    const first = a.subscribeResource({ uri }).then(
      () => 'subscribed',
      (error: Error) => error.message,
    )
    await sleep(50)
    const stream = await openListenStream(gateway.url, 'race', { resourceSubscriptions: [uri] })
    try {
      assert.match(await first, /cannot subscribe to memo:\/\/refused/)
      const [ack] = await stream.until((all) => all.length > 0, 'the stream acknowledged')
      const honoured = (ack?.params as { notifications?: { resourceSubscriptions?: string[] } })
        ?.notifications?.resourceSubscriptions
      // Before: acknowledged as subscribed, and counted so: the next session was answered
      // "done" without the backend being asked, and no update ever came.
      assert.ok(!honoured?.includes(uri), JSON.stringify(ack))
      await assert.rejects(b.subscribeResource({ uri }), /cannot subscribe to memo:\/\/refused/)
    } finally {
      stream.close()
    }
  })

  it('an unsubscribe waits for the subscribe still on its way, and the backend ends unsubscribed', async () => {
    const client = await connect()
    // Not listed (other tests count the listed resources): named as the listed ones are.
    const uri = (await exposedUri(client, 'memo://b')).replace(/b$/, 'slow')
    const subscribing = client.subscribeResource({ uri })
    await sleep(50)
    await client.unsubscribeResource({ uri })
    await subscribing
    // Before: the unsubscribe overtook the subscribe, and the backend stayed subscribed for
    // nobody.
    assert.deepEqual((await backendState(client)).subscribed, [])
  })

  it('keeps a resource subscribed while any of the listen streams that asked at once is open', async () => {
    const client = await connect()
    const uri = await exposedUri(client, 'memo://b')
    const [one, two] = await Promise.all(
      ['one', 'two'].map((id) =>
        openListenStream(gateway.url, id, { resourceSubscriptions: [uri] }),
      ),
    )
    assert.ok(one && two)
    try {
      await one.until((all) => all.length > 0, 'the first stream acknowledged')
      await two.until((all) => all.length > 0, 'the second stream acknowledged')
      one.close()
      // Nothing to wait for: the stream's end is what could (wrongly) unsubscribe the other.
      await sleep(500)
      assert.deepEqual((await backendState(client)).subscribed, ['memo://b'])
      await client.callTool({ name: 'sub__touch', arguments: {} })
      const events = await two.until(
        (all) => all.some((m) => m.method === 'notifications/resources/updated'),
        'the update on the stream left open',
      )
      const update = events.find((m) => m.method === 'notifications/resources/updated')
      assert.deepEqual(update?.params, {
        uri,
        _meta: { 'io.modelcontextprotocol/subscriptionId': 'two' },
      })
    } finally {
      one.close()
      two.close()
    }
    await until(
      async () => ((await backendState(client)).subscribed.length === 0 ? true : undefined),
      5000,
      'the resource unsubscribed once both streams ended',
    )
  })
})

describe('a stdio backend with a process per session that crashes at start', () => {
  it('waits out a growing backoff instead of starting a process for every call', async () => {
    const client = await connect()
    // Lists by this file's other sessions may have started (and failed) some already.
    const startsSoFar = () =>
      readFileSync(starts, { encoding: 'utf8', flag: 'a+' }).split('\n').filter(Boolean).length
    const startsBefore = startsSoFar()
    const errors: string[] = []
    for (let i = 0; i < 8; i++) {
      const result = await client
        .callTool({ name: 'crashy__anything', arguments: {} })
        .catch((error: Error) => ({ isError: true, content: [{ text: error.message }] }))
      assert.equal(result.isError, true)
      errors.push(JSON.stringify(result.content))
    }
    const started = startsSoFar() - startsBefore
    // The first failure restarts at once (as a crash after a healthy run does); from the
    // second on, each waits 250 ms, doubling: eight quick calls start at most three.
    assert.ok(started <= 3, `${started} processes started for 8 calls`)
    assert.ok(
      errors.some((e) => /crashy is restarting/.test(e)),
      errors.join('\n'),
    )
  })
})

describe('a shared stdio backend replaced by the admin API (as by a reload)', () => {
  it("keeps its clients' subscriptions and log level: the new process is told them, its updates arrive", async () => {
    const stdio = { transport: 'stdio' as const, command: process.execPath }
    const replaced = await startPortico({
      admin: { enabled: true },
      proxy: { admin_tools: false },
      backends: [{ name: 'sub', ...stdio, args: [fixture('subscribable-stdio')] }],
    })
    const client = new Client({ name: 'subscriptions-test', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(replaced.url)))
      const { uri, updates, first } = await subscribedToA(client)
      await client.setLoggingLevel('debug')
      // Another config for it (any key): a new backend, and a new process.
      const put = await fetch(`${replaced.origin}/admin/backends/sub`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...stdio, args: [fixture('subscribable-stdio')], env: { V: '2' } }),
      })
      assert.equal(put.status, 200, await put.text())
      // Before, the new process was never subscribed, and the client heard nothing more.
      const again = await until(
        async () => {
          const state = await backendState(client).catch(() => undefined)
          return state !== undefined && state.pid !== first.pid && state.subscribed.length > 0
            ? state
            : undefined
        },
        10_000,
        'the new process, subscribed again',
      )
      assert.deepEqual(again.subscribed, ['memo://a'])
      // Before, the new process kept its own default level, as a restarted one no longer does.
      const told = await until(
        async () => ((await backendState(client)).level === 'debug' ? true : undefined),
        5000,
        'the new process told the log level',
      )
      assert.ok(told)
      await client.callTool({ name: 'sub__touch', arguments: {} })
      await until(() => updates.includes(uri), 5000, `an update of ${uri} from the new process`)
    } finally {
      await client.close()
      await replaced.close()
    }
  })
})

describe('a stdio backend with a process per session whose process crashes', () => {
  it("starts the session's process again, subscribed and at its log level, and its updates arrive", async () => {
    // The other suites' gateway runs this fixture too: its processes are not this session's.
    const others = new Set(fixtureProcesses())
    const own = await startPortico({
      proxy: { admin_tools: false },
      backends: [{ ...SUBSCRIBABLE, isolation: 'session' }],
    })
    const client = new Client({ name: 'subscriptions-test', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(own.url)))
      const { uri, updates, first } = await subscribedToA(client)
      await client.setLoggingLevel('debug')
      assert.equal((await backendState(client)).level, 'debug')
      await client.callTool({ name: 'sub__crash', arguments: {} })
      // Started again without a call of the session's (it waits for updates, not to call):
      // the process that crashed at once waits out the backoff (250 ms) first. Before, no
      // process ran until the session's next call, and that one knew neither.
      await until(
        () =>
          fixtureProcesses().some((pid) => pid !== first.pid && !others.has(pid))
            ? true
            : undefined,
        10_000,
        "the session's new process, started without a call",
      )
      const again = await backendState(client)
      assert.notEqual(again.pid, first.pid)
      assert.deepEqual(again.subscribed, ['memo://a'])
      assert.equal(again.level, 'debug')
      await client.callTool({ name: 'sub__touch', arguments: {} })
      await until(() => updates.includes(uri), 5000, `an update of ${uri} from the new process`)
    } finally {
      await client.close()
      await own.close()
    }
  })
})

/** The fixture's processes this test process runs (its children, read from /proc). */
function fixtureProcesses(): number[] {
  const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
  return children
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('subscribable-stdio')
      } catch {
        return false // it exited meanwhile
      }
    })
}

describe('a backend announcing resource updates by the thousand', () => {
  it('reaches a session, a listen stream and the store about once a second per resource', async () => {
    const flooded = await startPortico({
      proxy: { admin_tools: false },
      backends: [SUBSCRIBABLE],
    })
    const client = new Client({ name: 'subscriptions-test', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(flooded.url)))
      const { uri: a, updates } = await subscribedToA(client)
      const b = await exposedUri(client, 'memo://b')
      const listen = await openListenStream(flooded.url, 'flood', { resourceSubscriptions: [b] })
      try {
        await listen.until((all) => all.length > 0, 'the listen stream acknowledged')
        const updatesOf = (all: Array<{ method?: string }>) =>
          all.filter((m) => m.method === 'notifications/resources/updated').length
        await client.callTool({ name: 'sub__touch', arguments: { times: 2000 } })
        await until(() => updates.includes(a), 5000, `the first update of ${a}`)
        await listen.until((all) => updatesOf(all) >= 1, `the first update of ${b}`)
        // Past the window: what the rest of the flood came to.
        await sleep(1500)
        const streamed = await listen.until(() => true, 'what came since')
        // Before: each of the 2,000 announcements of each URI, written and recorded.
        assert.ok(updates.length <= 2, `${updates.length} updates reached the session`)
        assert.ok(updatesOf(streamed) <= 2, `${updatesOf(streamed)} reached the listen stream`)
        const recorded = flooded.sink.events.filter(
          (e) => e.type === 'notification' && e.method === 'notifications/resources/updated',
        )
        // A row each for the session's update of a, and b's receipt and its listen delivery,
        // once or twice (the first, then the rest of the window folded into one).
        const rows = JSON.stringify(recorded.map((e) => [e.sessionId, e.params]))
        assert.ok(recorded.length >= 3 && recorded.length <= 6, rows)
      } finally {
        listen.close()
      }
    } finally {
      await client.close()
      await flooded.close()
    }
  })
})

describe('a cached resource its backend says changed', () => {
  it('is read again from the backend after notifications/resources/updated', async () => {
    // Before: the cached read outlived the update, and a subscriber re-reading got the old
    // contents for up to resource_ttl_seconds.
    const cached = await startPortico({
      proxy: { admin_tools: false },
      cache: { resource_ttl_seconds: 300 },
      backends: [{ ...SUBSCRIBABLE, env: { SUB_READS_SAY_TOUCHES: '1' } }],
    })
    const client = new Client({ name: 'cache-updates', version: '1.0.0' })
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(cached.url)))
      const { uri, updates } = await subscribedToA(client)
      const text = async () => {
        const { contents } = await client.readResource({ uri })
        return (contents[0] as { text?: string }).text
      }
      assert.equal(await text(), 'memo 0')
      assert.equal(await text(), 'memo 0', 'kept')
      await client.callTool({ name: 'sub__touch', arguments: {} })
      await until(() => updates.includes(uri) || undefined, 5000, 'the update')
      assert.equal(await text(), 'memo 1')
    } finally {
      await client.close()
      await cached.close()
    }
  })
})
