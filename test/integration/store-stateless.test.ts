/**
 * Stateless requests (2026-07-28 style: no session id, client info in `_meta`) are grouped
 * into Portico sessions per client, and `logs --follow` picks up rows written after it started.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { CLI, cliEnv, cliJson } from '../helpers/cli.ts'
import { modernCall } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { stopChild } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

type Row = Record<string, unknown>

describe('stateless sessions and follow mode', () => {
  let dir: string
  let db: string
  let upstream: StoreUpstream
  let portico: RunningPortico
  let sink: StoreSink

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-stateless-'))
    db = join(dir, 'store.db')
    upstream = await startStoreUpstream({ stateless: true })
    sink = storeSink({ path: db, proxy: 'stateless', flushMs: 30 })
    portico = await startPortico({ upstream: upstream.url, name: 'stateless' }, { sinks: [sink] })
    const cursor = { name: 'cursor', version: '0.48.0' }
    const vscode = { name: 'Visual Studio Code', version: '1.99.0' }
    for (const tool of ['fast', 'fast', 'echo']) await modernCall(portico.url, tool, cursor)
    for (const tool of ['fast', 'fails']) await modernCall(portico.url, tool, vscode)
    await until(() => sink.stats().written >= 5, 5000, 'rows written')
  })

  after(async () => {
    await portico?.close()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('groups stateless requests into one Portico session per client', async () => {
    const sessions = await cliJson<Row>(['sessions', '--db', db])
    assert.equal(sessions.length, 2)
    const byClient = new Map(sessions.map((s) => [s.client_name, s]))
    const cursor = byClient.get('cursor')
    const vscode = byClient.get('Visual Studio Code')
    assert.equal(cursor?.calls, 3)
    assert.equal(cursor?.platform, 'cursor')
    assert.equal(cursor?.era, 'modern')
    assert.equal(cursor?.grouped, true)
    assert.match(String(cursor?.session_id), /^~[0-9a-f]{12}$/)
    assert.equal(vscode?.calls, 2)
    assert.equal(vscode?.errors, 1)
    assert.equal(vscode?.platform, 'vscode')
    const clients = await cliJson<Row>(['clients', '--db', db])
    assert.deepEqual(clients.map((c) => c.platform).sort(), ['cursor', 'vscode'])
    const flow = await cliJson<Row>(['logs', '--db', db, '--session', String(vscode?.session_id)])
    assert.deepEqual(
      flow.map((r) => r.name),
      ['fast', 'fails'],
    )
  })

  it('two proxies share one store, and --proxy tells them apart', async () => {
    const second = storeSink({ path: db, proxy: 'second', flushMs: 30 })
    const other = await startPortico(
      { upstream: upstream.url, name: 'second' },
      { sinks: [second] },
    )
    try {
      for (let i = 0; i < 4; i++)
        await modernCall(other.url, 'fast', { name: 'goose', version: '1' })
      await until(() => second.stats().written >= 4, 5000, 'the second proxy rows')
    } finally {
      await other.close()
    }
    const [mine] = await cliJson<Row>(['status', '--db', db, '--proxy', 'second'])
    assert.equal(mine?.total_requests, 4)
    const [first] = await cliJson<Row>(['status', '--db', db, '--proxy', 'stateless'])
    assert.ok((first?.total_requests as number) >= 5)
    const sessions = await cliJson<Row>(['sessions', '--db', db, '--proxy', 'second'])
    assert.deepEqual(
      sessions.map((s) => s.platform),
      ['goose'],
    )
  })

  it('logs --follow prints rows written after it started', async () => {
    const child = spawn(process.execPath, [CLI, 'logs', '--follow', '--json', '--db', db], {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let out = ''
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => {
        out += chunk
      })
      await until(() => out.split('\n').length > 5, 5000, 'the first screen of rows')
      assert.ok(!out.includes('follow-probe'))
      await modernCall(portico.url, 'echo', { name: 'follow-probe', version: '1' })
      await until(() => out.includes('"client_name":"follow-probe"'), 8000, 'the new row')
      const rows = out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Row)
      assert.equal(rows.at(-1)?.client_name, 'follow-probe')
    } finally {
      await stopChild(child)
    }
  })
})
