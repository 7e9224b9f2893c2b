/**
 * The dashboard follows its store file: moved aside while a proxy records, the store is started
 * again at the same path by the writer (store-reopen.test.ts), and the dashboard must show that
 * one. It used to keep the old file open and show its rows for ever, in its pages and its live
 * tail. Real SQLite (the store sink's writer thread), `portico dashboard` as a child process,
 * and the dashboard mounted on a running proxy (whose pages run in a worker thread); then
 * `FollowedStore` itself, while no store is at the path.
 */
import assert from 'node:assert/strict'
import { existsSync, renameSync } from 'node:fs'
import { get, type IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { FollowedStore } from '../../src/store/followed.ts'
import { openStore } from '../../src/store/open.ts'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { CLI, cliEnv } from '../helpers/cli.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { startPortico } from '../helpers/portico.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'
import { spawnReady } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const PROXY = 'follow'

/** Writes `n` calls of tool `name` and waits until the writer committed them. */
async function record(sink: StoreSink, name: string, n: number): Promise<void> {
  const before = sink.stats().written
  sink.write(
    Array.from({ length: n }, () => exchangeEvent({ proxy: PROXY, method: 'tools/call', name })),
  )
  await until(() => sink.stats().written >= before + n || undefined, 5000, `${n} rows of ${name}`)
}

/** Moves the store and its journal files aside, as a clean-up job or a backup would. */
function moveAside(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(`${path}${suffix}`)) renameSync(`${path}${suffix}`, `${path}.old${suffix}`)
  }
}

/** The live tail's text so far (at most 1 MB kept: the test reads a few events). */
function liveTail(url: string, headers: Record<string, string> = {}) {
  let text = ''
  let response: IncomingMessage | undefined
  const request = get(url, { headers }, (res) => {
    response = res
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      if (text.length < 1024 * 1024) text += chunk
    })
  })
  request.on('error', () => {})
  return {
    text: () => text,
    close: () => {
      response?.destroy()
      request.destroy()
    },
  }
}

describe('the dashboard follows a store file moved aside and started again', () => {
  const dir = scratchDir('portico-dashboard-follow-')
  const closers: Array<() => Promise<void> | void> = []
  after(async () => {
    for (const close of closers.reverse()) await close()
  })

  async function overview(base: string, headers: Record<string, string> = {}): Promise<number> {
    const response = await fetch(`${base}api/overview?since=1h`, { headers })
    assert.equal(response.status, 200)
    return ((await response.json()) as { total_requests: number }).total_requests
  }

  /**
   * The dashboard at `base` shows the 3 calls recorded before; once the store is moved aside
   * and the writer starts a new one at `path`, its pages and live tail show the new calls only.
   */
  async function showsTheNewStore(base: string, sink: StoreSink, path: string): Promise<void> {
    assert.equal(await overview(base), 3)
    const live = liveTail(`${base}api/live`)
    closers.push(live.close)
    await until(() => live.text().includes('event: ready') || undefined, 5000, 'the live tail')

    moveAside(path)
    await record(sink, 'after', 2)
    assert.ok(existsSync(path), 'the writer started a new store at the path')
    await until(async () => (await overview(base)) === 2 || undefined, 5000, 'the new store')
    await until(
      () => live.text().includes('"name":"after"') || undefined,
      5000,
      'the new calls in the live tail',
    )
    assert.equal(live.text().includes('"name":"before"'), false)
  }

  it('portico dashboard: its pages and live tail show the new store', async () => {
    const path = join(dir, 'standalone.db')
    const sink = storeSink({ path, proxy: PROXY, flushMs: 20 })
    closers.push(() => sink.close())
    await record(sink, 'before', 3)
    const cli = await spawnReady(
      process.execPath,
      [CLI, 'dashboard', '--db', path, '--port', '0'],
      {
        env: cliEnv(),
        ready: /Portico dashboard on (http:\/\/\S+)/,
      },
    )
    closers.push(() => cli.stop())
    const base = /Portico dashboard on (http:\/\/\S+)/.exec(cli.output())?.[1] ?? ''
    await showsTheNewStore(base, sink, path)
  })

  it('the dashboard mounted on a proxy: its pages (a worker thread) and live tail too', async () => {
    const path = join(dir, 'mounted.db')
    const sink = storeSink({ path, proxy: PROXY, flushMs: 20 })
    closers.push(() => sink.close())
    await record(sink, 'before', 3)
    const portico = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      store: { path },
      dashboard: { enabled: true },
    })
    closers.push(() => portico.close())
    await showsTheNewStore(`${portico.origin}/_portico/`, sink, path)
  })
})

describe('FollowedStore', () => {
  const dir = scratchDir('portico-followed-')

  it('keeps the old connection while no store is at the path, and opens the next one there', () => {
    const path = join(dir, 'store.db')
    const first = openStore(path, { create: true })
    first.prepare("INSERT INTO meta (key, value) VALUES ('which', 'first')").run()
    const store = new FollowedStore(path, (at) => openStore(at), first)
    const which = () =>
      store.get().prepare("SELECT value FROM meta WHERE key = 'which'").pluck().get()
    try {
      assert.equal(which(), 'first')
      moveAside(path)
      // Nothing at the path: the old connection answers (no error, no empty store created).
      assert.equal(which(), 'first')
      assert.equal(existsSync(path), false)
      const second = openStore(path, { create: true })
      second.prepare("INSERT INTO meta (key, value) VALUES ('which', 'second')").run()
      second.close()
      assert.equal(which(), 'second')
      assert.equal(first.open, false, 'the old connection is closed')
    } finally {
      store.close()
    }
  })
})
