/**
 * What `portico run` writes and records, as users see it: `json_logs` makes every stderr line
 * JSON, `access_log` adds one line per exchange (JSON or text) or none, and `[store] enabled =
 * false` records nothing while the default records to the store it names.
 */
import assert from 'node:assert/strict'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { openStore } from '../../src/store/open.ts'
import { startCli } from '../helpers/cli.ts'
import { exitOf, type Spawned } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

describe('portico run: logs and recording', () => {
  let demo: DemoServer
  let dir: string

  before(async () => {
    demo = await startDemoServer()
    dir = scratchDir('portico-cli-output-')
  })
  after(async () => {
    await demo?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /**
   * Runs `portico run` with `config` (TOML) and PORTICO_DB=`db`, makes one `tools/call add`
   * through it, stops it with SIGTERM and returns the process once it exited 0.
   */
  async function runOnce(name: string, config: string, db: string): Promise<Spawned> {
    const file = join(dir, `${name}.toml`)
    writeFileSync(file, `upstream = "${demo.url}"\nport = 0\nname = "${name}"\n${config}`)
    const portico = await startCli(['run', '--config', file], { PORTICO_DB: db })
    try {
      const client = new Client({ name: 'log-reader', version: '2.0.0' })
      await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
      const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } })
      assert.deepEqual(result.structuredContent, { sum: 2 })
      await client.close()
    } catch (error) {
      await portico.stop()
      throw error
    }
    portico.child.kill('SIGTERM')
    const { code } = await exitOf(portico.child, 15_000, `portico run (${name}) after SIGTERM`)
    assert.equal(code, 0, portico.output())
    return portico
  }

  const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '')

  it('json_logs + access_log: every stderr line is JSON, one per exchange; store off', async () => {
    const db = join(dir, 'disabled.db')
    const portico = await runOnce(
      'json',
      'json_logs = true\naccess_log = true\nlog_level = "info"\n[store]\nenabled = false\n',
      db,
    )
    const records = lines(portico.stderr()).map((line) => {
      assert.ok(line.startsWith('{') && line.endsWith('}'), `not a JSON line on stderr: ${line}`)
      return JSON.parse(line) as Record<string, unknown>
    })
    const call = records.find((r) => r.method === 'tools/call')
    assert.ok(call, portico.stderr())
    assert.equal(call.name, 'add')
    assert.equal(call.outcome, 'ok')
    assert.equal(call.httpStatus, 200)
    assert.equal(call.proxy, 'json')
    const init = records.find((r) => r.method === 'initialize')
    assert.deepEqual(init?.client, { name: 'log-reader', version: '2.0.0' })
    assert.equal(init?.sessionId, call.sessionId)
    assert.ok(
      records.some((r) => typeof r.msg === 'string' && r.msg.includes('received SIGTERM')),
      'operational log lines are JSON too',
    )
    // [store] enabled = false: no store, even with PORTICO_DB naming one.
    assert.doesNotMatch(portico.stdout(), /Recording to/)
    assert.equal(existsSync(db), false, 'no store file was created')
  })

  it('access_log in text: one human line per exchange; the store records by default', async () => {
    const db = join(dir, 'recorded.db')
    const portico = await runOnce('text', 'access_log = true\n', db)
    const stamp = '\\d\\d:\\d\\d:\\d\\d\\.\\d{3}'
    assert.match(
      portico.stderr(),
      new RegExp(
        `^${stamp} initialize ok 200 \\S+ \\S+→\\S+ sess=[\\w-]{8} log-reader/2\\.0\\.0$`,
        'm',
      ),
    )
    assert.match(
      portico.stderr(),
      new RegExp(`^${stamp} tools/call add ok 200 \\S+ \\S+→\\S+ sess=[\\w-]{8}$`, 'm'),
    )
    assert.ok(
      lines(portico.stderr()).every((line) => !line.startsWith('{')),
      'no JSON without json_logs',
    )
    assert.match(portico.stdout(), new RegExp(`Recording to ${db.replace(/[.]/g, '\\.')}`))
    const store = openStore(db)
    try {
      const rows = store
        .prepare("SELECT count(*) FROM exchanges WHERE proxy = 'text' AND name = 'add'")
        .pluck()
        .get()
      assert.equal(rows, 1)
    } finally {
      store.close()
    }
  })

  it('access_log = false: no exchange lines, only the operational log', async () => {
    const portico = await runOnce('quiet', 'access_log = false\n', join(dir, 'quiet.db'))
    assert.doesNotMatch(portico.stderr(), /tools\/call/)
    assert.match(portico.stderr(), /received SIGTERM/)
  })

  it('json_logs without access_log, stderr not a TTY (a container): one JSON line per exchange', async () => {
    const portico = await runOnce('container', 'json_logs = true\n', join(dir, 'container.db'))
    const records = lines(portico.stderr()).map(
      (line) => JSON.parse(line) as Record<string, unknown>,
    )
    const calls = records.filter((r) => r.method === 'tools/call')
    assert.deepEqual(
      calls.map((r) => [r.name, r.outcome, r.httpStatus, r.proxy]),
      [['add', 'ok', 200, 'container']],
    )
    assert.equal(records.filter((r) => r.method === 'initialize').length, 1)
  })

  it('neither json_logs nor access_log, stderr not a TTY: no line for a successful exchange', async () => {
    const portico = await runOnce('plain', '', join(dir, 'plain.db'))
    assert.doesNotMatch(portico.stderr(), /tools\/call|initialize/)
    assert.match(portico.stderr(), /received SIGTERM/)
  })
})
