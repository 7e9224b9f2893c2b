/**
 * Tools whose names run to hundreds or thousands of characters, through a real Portico into a
 * real store, then the schema reports: a name over 256 characters is recorded bounded (its
 * start and a hash), and `schema --usage` / `--unused` found its calls under the full name it
 * was listed by, so a tool called three times was "unused"; `schema` and its tables printed
 * names whole, padding every row of a list to a 5,000-character name. From the store and CLI
 * fuzzer's third round (Q4); both failed before.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openStore } from '../../src/store/open.ts'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { cliJson, runCli } from '../helpers/cli.ts'
import { openSession, sessionHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.ts'
import { request, rpc } from '../helpers/rpc.ts'
import { until } from '../helpers/wait.ts'

const LONG = `long_tool_${'x'.repeat(290)}`
const HUGE = `huge_tool_${'y'.repeat(5000)}`

describe('tools with very long names in the schema reports', () => {
  let dir: string
  let db: string
  let upstream: RawUpstream
  let sink: StoreSink
  let portico: RunningPortico

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-long-names-'))
    db = join(dir, 'store.db')
    upstream = await startRawUpstream('long-names', (res, message) => {
      const tools = [LONG, HUGE, 'short'].map((name) => ({
        name,
        description: 'd',
        inputSchema: { type: 'object' },
      }))
      const result =
        message.method === 'tools/list' ? { tools } : { content: [{ type: 'text', text: 'done' }] }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }))
    })
    sink = storeSink({ path: db, proxy: 'long', flushMs: 30 })
    portico = await startPortico({ upstream: upstream.url, name: 'long' }, { sinks: [sink] })
    const headers = sessionHeaders(await openSession(portico.url))
    assert.equal((await rpc(portico.url, request(1, 'tools/list'), headers)).status, 200)
    for (let i = 0; i < 3; i++) {
      const call = request(10 + i, 'tools/call', { name: LONG, arguments: {} })
      assert.equal((await rpc(portico.url, call, headers)).status, 200)
    }
    const reader = openStore(db)
    try {
      await until(
        () =>
          (reader
            .prepare("SELECT count(*) FROM exchanges WHERE method = 'tools/call'")
            .pluck()
            .get() as number) === 3
            ? true
            : undefined,
        5000,
        'the three calls in the store',
      )
    } finally {
      reader.close()
    }
  })
  after(async () => {
    await portico?.close()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('counts the calls of a tool whose name is over 256 characters', async () => {
    const usage = await cliJson<{ tool: string; calls: number; status: string }>([
      'schema',
      '--usage',
      '--db',
      db,
    ])
    const long = usage.find((u) => u.tool === LONG)
    assert.deepEqual([long?.calls, long?.status], [3, 'ok'])
    const unused = await cliJson<{ tool: string }>(['schema', '--unused', '--db', db])
    assert.deepEqual(unused.map((u) => u.tool.slice(0, 10)).sort(), ['huge_tool_', 'short'])
  })

  it('cuts names to their column in schema, --usage, --unused and --changes', async () => {
    for (const args of [[], ['--usage'], ['--unused'], ['--changes']]) {
      const printed = await runCli(['schema', ...args, '--db', db])
      assert.equal(printed.code, 0, printed.stderr)
      const widest = Math.max(...printed.stdout.split('\n').map((line) => line.length))
      assert.ok(widest <= 200, `schema ${args.join(' ')}: a line of ${widest} characters`)
      if (args[0] !== '--changes') assert.match(printed.stdout, /huge_tool_y+…y+/)
    }
  })
})
