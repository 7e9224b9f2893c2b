/**
 * `workers = 2` with a real `portico run` (node:cluster) in front of a real MCP server: each
 * request below goes on a connection of its own, so the primary hands them to both workers
 * (each answer names its worker in `portico-worker`); every exchange lands once in the one
 * store the primary writes; a scrape, whichever worker serves it, counts every worker's calls;
 * a worker killed with SIGKILL is started again while traffic goes on; SIGTERM drains the
 * call in flight and exits 0. And what cannot run on several workers fails closed at start.
 */
import assert from 'node:assert/strict'
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { openStore } from '../../src/store/open.ts'
import { CLI, cliEnv, runCli, startCli } from '../helpers/cli.ts'
import { openSession, sessionHeaders, toolCallBody } from '../helpers/mcp-http.ts'
import { listenOnZero } from '../helpers/ports.ts'
import { exitOf, type Spawned, spawnCollecting, stopChild } from '../helpers/processes.ts'
import { Scrape } from '../helpers/prometheus.ts'
import { findRedisServer, skipWithoutRedis, startRedis } from '../helpers/redis.ts'
import { until } from '../helpers/wait.ts'

interface Answer {
  status: number
  worker: string | undefined
  body: string
}

/** One HTTP exchange on a connection of its own (no keep-alive agent). */
function exchange(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => {
          const worker = res.headers['portico-worker']
          resolve({ status: res.statusCode ?? 0, worker: worker as string | undefined, body })
        })
        // A connection cut mid-answer: say so rather than wait for an end that never comes.
        res.on('close', () => {
          if (!res.complete) reject(new Error(`answer cut after ${body.length} chars: ${body}`))
        })
      },
    )
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from ${url} in 15 s`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

/** `tools/call` of the demo's tool `name` with this JSON-RPC id, on its own connection. */
function toolCall(url: string, session: string, id: string, name: string, args: object) {
  return exchange(url, {
    method: 'POST',
    headers: sessionHeaders(session),
    body: toolCallBody(id, name, args),
  })
}

function echo(url: string, session: string, id: string): Promise<Answer> {
  return toolCall(url, session, id, 'echo', { text: `text of ${id}` })
}

/** Three steps of `stepMs` each. */
function slowTask(url: string, session: string, id: string, stepMs: number): Promise<Answer> {
  return toolCall(url, session, id, 'slow_task', { steps: 3, step_ms: stepMs })
}

/** What a raw connection to `url`'s host gets for `request`, until the server closes it. */
function rawAnswer(url: URL, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')))
    socket.write(request)
  })
}

const WORKER_PIDS = /Workers: 2 \(pids (\d+), (\d+)\)/

describe('workers = 2', () => {
  let demo: DemoServer
  let dir: string
  let db: string
  let file: string
  let portico: Spawned & { url: string }
  let session: string
  let pids: number[]

  before(async () => {
    demo = await startDemoServer()
    dir = mkdtempSync(join(tmpdir(), 'portico-workers-'))
    db = join(dir, 'store.db')
    file = join(dir, 'portico.toml')
    writeFileSync(
      file,
      [
        `upstream = "${demo.url}"`,
        'port = 0',
        'workers = 2',
        'name = "workers"',
        'drain_timeout = "20s"',
        'admin_bind = "127.0.0.1:0"',
        '[observability.metrics]',
        'enabled = true',
        '',
      ].join('\n'),
    )
    portico = await startCli(['run', '--config', file, '--db', db])
    await until(() => WORKER_PIDS.test(portico.stdout()), 5000, 'the workers line')
    const [, first, second] = WORKER_PIDS.exec(portico.stdout()) ?? []
    pids = [Number(first), Number(second)]
    session = await openSession(portico.url)
  })

  after(async () => {
    await portico?.stop()
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Rows of `echo` calls in the store, by JSON-RPC id. */
  function storedEchoIds(): string[] {
    const store = openStore(db)
    try {
      return store
        .prepare(
          "SELECT jsonrpc_id FROM exchanges WHERE proxy = 'workers' AND method = 'tools/call' AND name = 'echo'",
        )
        .pluck()
        .all() as string[]
    } finally {
      store.close()
    }
  }

  it('prints its URL once, and spreads connections over both workers', async () => {
    assert.equal(portico.stdout().match(/Portico listening on/g)?.length, 1, portico.output())
    assert.match(portico.stdout(), /\(upstream \S+, 2 workers\)/)
    assert.notEqual(pids[0], pids[1])
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => echo(portico.url, session, `spread-${i}`)),
    )
    for (const answer of answers) {
      assert.equal(answer.status, 200, answer.body)
      assert.match(answer.body, /text of spread-\d+/)
    }
    const workers = new Set(answers.map((a) => a.worker))
    assert.deepEqual([...workers].sort(), ['1', '2'], 'both workers answered')
  })

  it('names its worker on the admin listener and on a request the HTTP parser refused', async () => {
    // Before: neither did, and an operator could not tell whose breakers and caches the
    // admin API showed (or cleared).
    const admin = /Admin API on (\S+)/.exec(portico.stdout())?.[1]
    assert.ok(admin, portico.output())
    const health = await exchange(`${admin}/health`)
    assert.equal(health.status, 200, health.body)
    assert.match(health.worker ?? '', /^[12]$/)
    for (const url of [portico.url, `${admin}/health`]) {
      const tooLarge = await exchange(url, { headers: { 'x-big': 'b'.repeat(20_000) } })
      assert.equal(tooLarge.status, 431, url)
      assert.match(tooLarge.worker ?? '', /^[12]$/, url)
      assert.match(tooLarge.body, /"code":-32600/, url)
      const odd = await exchange(url, { headers: { expect: 'weird' } })
      assert.equal(odd.status, 417, url)
      assert.match(odd.worker ?? '', /^[12]$/, url)
      assert.match(odd.body, /Expectation Failed: Expect \\"weird\\"/, url)
      const connect = await rawAnswer(new URL(url), 'CONNECT a:1 HTTP/1.1\r\nhost: a:1\r\n\r\n')
      assert.match(connect, /^HTTP\/1\.1 405 /, url)
      assert.match(connect, /\r\nportico-worker: [12]\r\n/i, url)
    }
  })

  it('records every exchange exactly once, in the one store the primary writes', async () => {
    const sent = Array.from({ length: 30 }, (_, i) => `once-${i}`)
    const answers = await Promise.all(sent.map((id) => echo(portico.url, session, id)))
    assert.deepEqual([...new Set(answers.map((a) => a.worker))].sort(), ['1', '2'])
    const mine = () => storedEchoIds().filter((id) => id.startsWith('once-'))
    await until(() => mine().length >= sent.length || undefined, 10_000, 'the rows to be stored')
    // Two more commit periods: a row written twice would show up by now.
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.deepEqual(mine().sort(), [...sent].sort(), 'each call stored once, none missing')
  })

  it('answers /metrics with every worker counted, whichever worker serves the scrape', async () => {
    const metricsUrl = new URL('/metrics', portico.url).href
    const scrapes = new Map<string, Scrape>()
    await until(
      async () => {
        const answer = await exchange(metricsUrl)
        assert.equal(answer.status, 200, answer.body)
        if (answer.worker !== undefined) scrapes.set(answer.worker, new Scrape(answer.body))
        return scrapes.size === 2 || undefined
      },
      10_000,
      'a scrape served by each worker',
    )
    const stored = storedEchoIds().length
    for (const [worker, scrape] of scrapes) {
      const echoes = scrape.sum('portico_requests_total', { method: 'tools/call', target: 'echo' })
      assert.equal(echoes, stored, `worker ${worker}'s scrape counts both workers' calls`)
      assert.equal(scrape.sum('portico_info'), 1, 'one portico_info, not one per process')
      // The store writer's counters come from the primary.
      assert.ok(scrape.sum('portico_sink_writes_total', { sink: 'store' }) > 0)
      assert.ok(scrape.sum('portico_sink_sent_total', { sink: 'store' }) >= stored)
    }
  })

  it('starts a worker killed with SIGKILL again, with the config the cluster started with', async () => {
    // The file edited since start: a worker reading it would serve another upstream, alone.
    writeFileSync(file, 'upstream = "http://127.0.0.1:1/mcp"\nport = 0\nworkers = 1\n')
    const victim = pids[1] as number
    process.kill(victim, 'SIGKILL')
    const killed = new RegExp(`worker 2 \\(pid ${victim}\\) killed by SIGKILL; starting it again`)
    await until(() => killed.test(portico.stderr()) || undefined, 5000, 'the restart notice')
    // The primary knows the worker is gone: every new connection goes to a live worker.
    for (let i = 0; i < 10; i++) {
      const answer = await echo(portico.url, session, `during-${i}`)
      assert.equal(answer.status, 200, answer.body)
    }
    const again = /worker 2 started again \(pid (\d+)\)/
    await until(() => again.test(portico.stderr()) || undefined, 15_000, 'worker 2 to listen again')
    const restarted = Number(again.exec(portico.stderr())?.[1])
    assert.notEqual(restarted, victim)
    const seen = new Set<string>()
    await until(
      async () => {
        const answer = await echo(portico.url, session, `after-${seen.size}-${Math.random()}`)
        assert.equal(answer.status, 200, answer.body)
        if (answer.worker !== undefined) seen.add(answer.worker)
        return seen.size === 2 || undefined
      },
      10_000,
      'both workers to answer again',
    )
  })

  it('keeps counting what a worker killed with SIGKILL counted: /metrics counters never go back', async () => {
    const metricsUrl = new URL('/metrics', portico.url).href
    // Each on a connection of its own: one kept alive to the killed worker would be cut.
    const scrape = async () => {
      const answer = await exchange(metricsUrl)
      assert.equal(answer.status, 200, answer.body)
      return new Scrape(answer.body)
    }
    /** Counters and histograms only grow: a decrease is a reset to Prometheus (phantom traffic). */
    const atLeast = (after: Scrape, before: Scrape, when: string) => {
      const now = after.counts()
      for (const [series, value] of before.counts()) {
        const later = now.get(series)
        assert.ok(later !== undefined && later >= value, `${series} ${when}: ${later} < ${value}`)
      }
    }
    const before = await scrape()
    // Worker 1 has served half the calls above (worker 2 was killed in the test before).
    assert.ok(before.sum('portico_requests_total', { method: 'tools/call', target: 'echo' }) > 0)
    assert.ok(before.histogramTotal('portico_request_duration_seconds', '_count') > 0)
    assert.ok(before.sum('process_cpu_seconds_total') > 0)
    assert.ok(before.counts().size > 20, 'the series compared below are there to compare')
    const victim = pids[0] as number
    process.kill(victim, 'SIGKILL')
    const killed = new RegExp(`worker 1 \\(pid ${victim}\\) killed by SIGKILL; starting it again`)
    await until(() => killed.test(portico.stderr()) || undefined, 5000, 'the restart notice')
    atLeast(await scrape(), before, 'once worker 1 is dead')
    const again = /worker 1 started again \(pid (\d+)\)/
    await until(() => again.test(portico.stderr()) || undefined, 15_000, 'worker 1 to listen again')
    // Whichever worker answers, the scrape sums the live workers' and the dead one's counts.
    for (let i = 0; i < 4; i++) atLeast(await scrape(), before, 'after the restart')
  })

  it('drains on SIGTERM: the call in flight finishes and is stored, every process exits 0', async () => {
    const call = slowTask(portico.url, session, 'in-flight', 500)
    // The call reached a worker once the demo server is working on it (its first step).
    await new Promise((resolve) => setTimeout(resolve, 500))
    const workerPids = [...new Set([...portico.stderr().matchAll(/pid (\d+)\)/g)].map((m) => m[1]))]
    portico.child.kill('SIGTERM')
    const answer = await call
    assert.equal(answer.status, 200, answer.body)
    assert.match(answer.body, /done after 3 steps/)
    const { code } = await exitOf(portico.child, 30_000, 'portico run after SIGTERM')
    assert.equal(code, 0, portico.output())
    for (const pid of [...pids, ...workerPids.map(Number)]) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker pid ${pid} is gone`)
    }
    const store = openStore(db)
    try {
      const rows = store
        .prepare("SELECT count(*) FROM exchanges WHERE jsonrpc_id = ? AND status = 'ok'")
        .pluck()
        .get('in-flight')
      assert.equal(rows, 1, 'the drained call was handed to the primary and committed')
    } finally {
      store.close()
    }
  })
})

/** One call an hour per worker (each worker keeps its own limiter): what a reload below applies. */
const ONE_CALL_AN_HOUR = '[rate_limit]\nrequests = 1\nperiod_seconds = 3600\n'

/** A call a rate limit refused (HTTP 429, or its JSON-RPC error). */
const refused = (answer: Answer) => answer.status === 429 || /rate limit/i.test(answer.body)

describe('workers = 2 reloaded', () => {
  let demo: DemoServer
  let dir: string

  before(async () => {
    demo = await startDemoServer()
    dir = mkdtempSync(join(tmpdir(), 'portico-workers-reload-'))
  })
  after(async () => {
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const head = (extra = '') =>
    [`upstream = "${demo.url}"`, 'port = 0', 'workers = 2', '[store]', 'enabled = false', extra]
      .filter(Boolean)
      .join('\n')

  /**
   * Echo calls, each on a connection of its own, until both workers answered twice or more (the
   * OS hands out the connections: not strictly in turn).
   */
  async function twoCallsEach(url: string, session: string, tag: string) {
    const byWorker = new Map<string, Answer[]>()
    for (let i = 0; i < 40 && [...byWorker.values()].filter((a) => a.length >= 2).length < 2; i++) {
      const answer = await echo(url, session, `${tag}-${i}`)
      const answers = byWorker.get(answer.worker ?? '?') ?? []
      answers.push(answer)
      byWorker.set(answer.worker ?? '?', answers)
    }
    return byWorker
  }

  /** Both workers answered, and every answer passes `ok` (an echo answered 200 by default). */
  async function bothServe(
    url: string,
    session: string,
    tag: string,
    ok = (a: Answer) => a.status === 200,
  ): Promise<void> {
    const byWorker = await twoCallsEach(url, session, tag)
    assert.deepEqual([...byWorker.keys()].sort(), ['1', '2'])
    for (const [worker, answers] of byWorker) {
      assert.ok(answers.every(ok), `worker ${worker}: ${answers.map((a) => a.status)}`)
    }
  }

  it('SIGHUP: every worker applies the file loaded again, and a worker started again gets it too', async () => {
    const file = join(dir, 'sighup.toml')
    writeFileSync(file, `${head()}\n`)
    const portico = await startCli(['run', '--config', file])
    try {
      await until(() => WORKER_PIDS.test(portico.stdout()), 5000, 'the workers line')
      const [, , second] = WORKER_PIDS.exec(portico.stdout()) ?? []
      const session = await openSession(portico.url)
      await bothServe(portico.url, session, 'before')
      writeFileSync(file, `${head(ONE_CALL_AN_HOUR)}\n`)
      portico.child.kill('SIGHUP')
      await until(
        () => /config reloaded in all 2 workers/.test(portico.stderr()) || undefined,
        10_000,
        'the primary to say every worker applied it',
      )
      const after = await twoCallsEach(portico.url, session, 'after')
      assert.deepEqual([...after.keys()].sort(), ['1', '2'])
      for (const [worker, answers] of after) {
        assert.equal(answers[0]?.status, 200, `worker ${worker}: its one call of the hour`)
        assert.ok(answers.slice(1).every(refused), `worker ${worker}: ${answers[1]?.body}`)
      }
      // Worker 2 killed: started again, it serves the reloaded config, not the one of the start.
      process.kill(Number(second), 'SIGKILL')
      const again = /worker 2 started again/
      await until(
        () => again.test(portico.stderr()) || undefined,
        15_000,
        'worker 2 to listen again',
      )
      const fresh: Answer[] = []
      for (let i = 0; i < 40 && fresh.length < 2; i++) {
        const answer = await echo(portico.url, session, `restarted-${i}`)
        if (answer.worker === '2') fresh.push(answer)
      }
      assert.equal(fresh[0]?.status, 200, 'a new limiter: one call')
      assert.ok(fresh[1] && refused(fresh[1]), `then refused: ${fresh[1]?.body}`)
    } finally {
      await portico.stop()
    }
  })

  it('a worker started again after a [shared] change keeps the Redis the others use', {
    skip: skipWithoutRedis(),
  }, async () => {
    const binary = findRedisServer() ?? 'redis-server'
    const first = await startRedis(binary)
    const second = await startRedis(binary)
    const inSecond = new Redis(second.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    const file = join(dir, 'shared.toml')
    const shared = (url: string) =>
      `${head('[rate_limit]\nrequests = 1000\n')}\n[shared]\nredis = "${url}"\nrate_limits = true\n`
    writeFileSync(file, shared(first.url))
    const portico = await startCli(['run', '--config', file])
    try {
      await until(() => WORKER_PIDS.test(portico.stdout()), 5000, 'the workers line')
      const [, , worker2] = WORKER_PIDS.exec(portico.stdout()) ?? []
      const session = await openSession(portico.url)
      await bothServe(portico.url, session, 'before')
      // [shared] waits for Portico's restart: the workers warn and keep theirs.
      writeFileSync(file, shared(second.url))
      portico.child.kill('SIGHUP')
      // Nothing else changed: the workers have nothing to apply, and warn.
      await until(
        () => /config reload accepted; nothing to change/.test(portico.stderr()) || undefined,
        10_000,
        'the reload',
      )
      process.kill(Number(worker2), 'SIGKILL')
      await until(
        () => /worker 2 started again/.test(portico.stderr()) || undefined,
        15_000,
        'worker 2 again',
      )
      let served = 0
      for (let i = 0; i < 40 && served < 2; i++) {
        if ((await echo(portico.url, session, `again-${i}`)).worker === '2') served++
      }
      assert.equal(served, 2, 'the worker started again served calls')
      // Before: it counted them in the second Redis, the other worker in the first.
      assert.deepEqual(await inSecond.keys('*'), [])
    } finally {
      inSecond.disconnect()
      await portico.stop()
      await first.stop()
      await second.stop()
    }
  })

  it('SIGHUP right after a worker is killed: the others apply it and the one started again gets it too', async () => {
    const file = join(dir, 'killed-then-sighup.toml')
    writeFileSync(file, `${head()}\n`)
    const portico = await startCli(['run', '--config', file])
    try {
      await until(() => WORKER_PIDS.test(portico.stdout()), 5000, 'the workers line')
      const [, first] = WORKER_PIDS.exec(portico.stdout()) ?? []
      const session = await openSession(portico.url)
      writeFileSync(file, `${head(ONE_CALL_AN_HOUR)}\n`)
      // Back to back: the primary is asked to reload before it has seen worker 1 die, so worker
      // 1 is asked too and never answers. Its death refused nothing: the reload must be adopted,
      // or worker 1, started again, serves the old config beside worker 2's new one for good.
      process.kill(Number(first), 'SIGKILL')
      portico.child.kill('SIGHUP')
      await until(
        () =>
          /config reloaded in (all 1 workers|worker\(s\) 2)/.test(portico.stderr()) || undefined,
        10_000,
        'the primary to say worker 2 applied it',
      )
      assert.doesNotMatch(portico.stderr(), /serve different configs/)
      await until(
        () => /worker 1 started again/.test(portico.stderr()) || undefined,
        15_000,
        'worker 1 to listen again',
      )
      for (const [worker, answers] of await twoCallsEach(portico.url, session, 'after')) {
        assert.equal(answers[0]?.status, 200, `worker ${worker}: its one call of the hour`)
        assert.ok(answers[1] && refused(answers[1]), `worker ${worker}: ${answers[1]?.body}`)
      }
    } finally {
      await portico.stop()
    }
  })

  it('a file that does not load, or a change only a restart applies, leaves every worker as it was', async () => {
    const file = join(dir, 'rejected.toml')
    writeFileSync(file, `${head()}\n`)
    const portico = await startCli(['run', '--config', file])
    try {
      const session = await openSession(portico.url)
      writeFileSync(file, `${head()}\nrequest_timeout = "soon"\n`)
      portico.child.kill('SIGHUP')
      await until(
        () =>
          /config reload rejected; the running config stays in force/.test(portico.stderr()) ||
          undefined,
        10_000,
        'the primary to refuse the file',
      )
      // Refused in the primary: said once, no worker was asked.
      assert.equal(portico.stderr().match(/config reload rejected/g)?.length, 1, portico.stderr())
      writeFileSync(file, `${head().replace(demo.url, 'http://127.0.0.1:1/mcp')}\n`)
      portico.child.kill('SIGHUP')
      await until(
        () =>
          /config reload rejected \(each worker logged why\)/.test(portico.stderr()) || undefined,
        10_000,
        'the workers to refuse the new upstream',
      )
      assert.equal(portico.stderr().match(/upstream cannot change while Portico runs/g)?.length, 2)
      // Every worker serves as before.
      await bothServe(portico.url, session, 'kept')
    } finally {
      await portico.stop()
    }
  })

  it('a reload while no worker serves is not applied, nor handed to the workers started again', async () => {
    const file = join(dir, 'none-serving.toml')
    writeFileSync(file, `${head()}\n`)
    const portico = await startCli(['run', '--config', file])
    try {
      // An upstream every worker would refuse to change to while it runs.
      writeFileSync(file, `${head().replace(demo.url, 'http://127.0.0.1:1/mcp')}\n`)
      const primary = portico.child.pid as number
      for (const pid of childrenOf(primary)) process.kill(pid, 'SIGKILL')
      // Both restart after 100 ms and take longer to listen: the reload finds none serving.
      await new Promise((resolve) => setTimeout(resolve, 30))
      portico.child.kill('SIGHUP')
      await until(
        () => /config reload not applied: no worker is serving/.test(portico.stderr()) || undefined,
        10_000,
        'the primary to say no worker could apply it',
      )
      await until(
        () => portico.stderr().match(/started again/g)?.length === 2 || undefined,
        15_000,
        'both workers to listen again',
      )
      // Every worker died at once, and the primary closed the listening socket they shared:
      // with `port = 0` in the file, the workers started again still listen where the URL said.
      assert.deepEqual(listeningPortsOf(primary), [Number(new URL(portico.url).port)])
      // Every worker serves the upstream it started with.
      const started = (a: Answer) => a.status === 200 && /text of down/.test(a.body)
      await bothServe(portico.url, await openSession(portico.url), 'down', started)
    } finally {
      await portico.stop()
    }
  })

  it('hot_reload = true: an edit of the file reaches every worker without a signal', async () => {
    const file = join(dir, 'watched.toml')
    const watched = '[proxy]\nhot_reload = true\n'
    writeFileSync(file, `${head()}\n${watched}`)
    const portico = await startCli(['run', '--config', file])
    try {
      const session = await openSession(portico.url)
      writeFileSync(file, `${head(ONE_CALL_AN_HOUR)}\n${watched}`)
      await until(
        () => /config reloaded in all 2 workers/.test(portico.stderr()) || undefined,
        10_000,
        'the edit to be applied',
      )
      for (const [worker, answers] of await twoCallsEach(portico.url, session, 'watched')) {
        assert.equal(answers[0]?.status, 200, `worker ${worker}`)
        assert.ok(answers[1] && refused(answers[1]), `worker ${worker}: ${answers[1]?.body}`)
      }
    } finally {
      await portico.stop()
    }
  })
})

describe('workers > 1 that cannot work fail closed at start', () => {
  let dir: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-workers-refused-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('refuses gateway mode, naming the key and its line', async () => {
    const file = join(dir, 'gateway.toml')
    writeFileSync(
      file,
      'port = 0\nworkers = 2\n\n[[backends]]\nname = "a"\ntransport = "http"\nurl = "http://127.0.0.1:1/mcp"\n',
    )
    const result = await runCli(['run', '--config', file])
    // A bad file: 1, as `portico check` exits for it (2 is for a bad flag value).
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stderr, new RegExp(`${file}:2: workers: must be 1 in gateway mode`))
    assert.match(result.stderr, /sessions/)
    assert.doesNotMatch(result.stdout, /listening/)
  })

  it('refuses --tunnel with --workers 2', async () => {
    const result = await runCli([
      ...['run', '--upstream', 'http://127.0.0.1:1/mcp', '--port', '0', '--workers', '2'],
      ...['--tunnel', 'http://127.0.0.1:1'],
    ])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /--tunnel needs workers = 1 \(it is 2\)/)
  })

  it('stops every worker with one message when the port is taken', async () => {
    const taken = createServer()
    const port = await listenOnZero(taken)
    try {
      const result = await runCli(
        ['run', '--upstream', 'http://127.0.0.1:1/mcp', '--port', String(port), '--workers', '2'],
        20_000,
      )
      assert.equal(result.code, 1, result.stderr)
      assert.equal(result.stderr.match(/already in use/g)?.length, 1, result.stderr)
      assert.doesNotMatch(result.stdout, /Portico listening/)
    } finally {
      taken.close()
    }
  })
})

describe('workers = 2 whose primary is killed', () => {
  let demo: DemoServer
  let dir: string
  let portico: Spawned & { url: string }

  before(async () => {
    demo = await startDemoServer()
    dir = mkdtempSync(join(tmpdir(), 'portico-workers-orphaned-'))
    portico = await startCli([
      ...['run', '--upstream', demo.url, '--port', '0', '--workers', '2'],
      ...['--db', join(dir, 'store.db')],
    ])
    await until(() => WORKER_PIDS.test(portico.stdout()), 5000, 'the workers line')
  })

  after(async () => {
    await portico?.stop()
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('drains: the call in flight is answered, then every worker exits', async () => {
    const session = await openSession(portico.url)
    const call = slowTask(portico.url, session, 'orphaned', 400)
    await new Promise((resolve) => setTimeout(resolve, 400))
    const workerPids = (WORKER_PIDS.exec(portico.stdout()) ?? []).slice(1).map(Number)
    portico.child.kill('SIGKILL')
    const answer = await call
    assert.equal(answer.status, 200, answer.body)
    assert.match(answer.body, /done after 3 steps/)
    for (const pid of workerPids) {
      await until(
        () => {
          try {
            process.kill(pid, 0)
            return undefined
          } catch {
            return true
          }
        },
        10_000,
        `worker pid ${pid} to exit`,
      )
    }
  })
})

/**
 * The TCP ports process `pid` listens on (Linux: its socket descriptors matched against
 * /proc/net/tcp). A cluster listening on port 0 gets a new port when every worker died at once.
 */
function listeningPortsOf(pid: number): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
      if (inode !== undefined) inodes.add(inode)
    } catch {
      // Closed meanwhile.
    }
  }
  const ports: number[] = []
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // local address, state 0A = LISTEN, inode
      if (fields[3] === '0A' && inodes.has(fields[9] ?? '')) {
        ports.push(Number.parseInt(fields[1]?.split(':')[1] ?? '', 16))
      }
    }
  }
  return ports
}

/** The pids of a process's children (its live workers, for a cluster's primary). */
function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    return text === '' ? [] : text.split(/\s+/).map(Number)
  } catch {
    return []
  }
}

describe('workers = 2 signalled while workers start', () => {
  let demo: DemoServer

  before(async () => {
    demo = await startDemoServer()
  })
  after(async () => {
    await demo?.close()
  })

  /** `portico run` of a file with `workers = 2`, not waited for: the test signals it as it starts. */
  function spawnCluster(): Spawned {
    const file = join(mkdtempSync(join(tmpdir(), 'portico-workers-start-')), 'portico.toml')
    const lines = [
      `upstream = "${demo.url}"`,
      'port = 0',
      'workers = 2',
      '[store]',
      'enabled = false',
    ]
    writeFileSync(file, `${lines.join('\n')}\n`)
    return spawnCollecting(process.execPath, [CLI, 'run', '--config', file], { env: cliEnv() })
  }

  it('a SIGHUP before the workers listen is a reload once they do, not the end', async () => {
    const cluster = spawnCluster()
    try {
      const primary = cluster.child.pid as number
      await until(() => childrenOf(primary).length > 0 || undefined, 10_000, 'a worker forked')
      cluster.child.kill('SIGHUP')
      await until(() => WORKER_PIDS.test(cluster.stdout()) || undefined, 10_000, 'listening')
      await until(
        () => /config reload accepted; nothing to change/.test(cluster.stderr()) || undefined,
        5000,
        'the reload once listening',
      )
      assert.match(
        cluster.stderr(),
        /received SIGHUP while starting: reloading now that Portico listens/,
      )
      assert.equal(cluster.child.exitCode, null, 'still running')
    } finally {
      await stopChild(cluster.child)
    }
  })

  it('SIGTERM while a killed worker starts again: that worker drains too, no deadline kill', async () => {
    const cluster = spawnCluster()
    try {
      const primary = cluster.child.pid as number
      await until(() => WORKER_PIDS.test(cluster.stdout()) || undefined, 10_000, 'listening')
      const [victim] = childrenOf(primary)
      process.kill(victim as number, 'SIGKILL')
      // Its successor forked (after 100 ms), not listening yet: the drain finds it starting.
      await until(
        () => {
          const now = childrenOf(primary)
          return (now.length === 2 && !now.includes(victim as number)) || undefined
        },
        5000,
        'the killed worker forked again',
      )
      assert.doesNotMatch(cluster.stderr(), /started again/)
      cluster.child.kill('SIGTERM')
      // drain_timeout is 30 s: a worker that missed the drain would be SIGKILLed only after it
      // (and past this bound), without its own "stopped".
      const exit = await exitOf(cluster.child, 15_000, 'the primary')
      assert.equal(exit.code, 0, cluster.stderr())
      assert.equal(cluster.stderr().match(/ stopped$/gm)?.length, 3, 'both workers and the primary')
    } finally {
      await stopChild(cluster.child)
    }
  })
})
