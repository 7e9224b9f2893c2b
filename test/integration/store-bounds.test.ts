/**
 * What a client (or a server) can make the store record is bounded, and recording never takes
 * the proxy down: a real `portico run` process in front of a raw upstream that answers with a
 * result nested thousands of levels deep, clients sending deep params, megabyte-long names and
 * made-up session ids. The proxy must stay up, every row must be stored within bounds, and
 * made-up session ids must not create sessions.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { MAX_TEXT } from '../../src/store/bound.ts'
import { openStore } from '../../src/store/open.ts'
import { type Served, serveMcp } from '../fixtures/serve.ts'
import { cliJson, startCli } from '../helpers/cli.ts'
import type { Spawned } from '../helpers/processes.ts'
import { until } from '../helpers/wait.ts'

const LEVELS = 5000
const SESSION = 'real-session-1'

/** `{"a":{"a":…{}…}}`, built as text: JSON.stringify itself cannot nest this deep. */
function deepJson(levels: number): string {
  return `${'{"a":'.repeat(levels)}{}${'}'.repeat(levels)}`
}

/** A raw upstream: one known session; a tools/list answer nested LEVELS deep. */
async function rawUpstream(): Promise<Served> {
  return serveMcp(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const session = req.headers['mcp-session-id']
    const message = JSON.parse(Buffer.concat(chunks).toString()) as { id?: number; method: string }
    if (message.method !== 'initialize' && session !== SESSION) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}')
      return
    }
    if (message.id === undefined) {
      res.writeHead(202).end()
      return
    }
    const result =
      message.method === 'initialize'
        ? '{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"raw","version":"1"}}'
        : message.method === 'tools/list'
          ? `{"tools":[{"name":"deep","inputSchema":${deepJson(LEVELS)}}]}`
          : '{"content":[]}'
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': SESSION })
    res.end(`{"jsonrpc":"2.0","id":${message.id},"result":${result}}`)
  })
}

describe('store bounds through a real proxy process', () => {
  let dir: string
  let db: string
  let upstream: Served
  let portico: Spawned & { url: string }

  const post = (body: string, session?: string) =>
    fetch(portico.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(session ? { 'mcp-session-id': session } : {}),
      },
      body,
    })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-bounds-'))
    db = join(dir, 'store.db')
    upstream = await rawUpstream()
    portico = await startCli([
      'run',
      '--upstream',
      upstream.url,
      '--port',
      '0',
      '--db',
      db,
      '--name',
      'bounds',
    ])
  })
  after(async () => {
    await portico?.stop()
    await upstream?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('records deep params and a deep result without dying, and says the schema was not captured', async () => {
    const init = await post(
      `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","clientInfo":{"name":"deep-client","version":"1"},"capabilities":${deepJson(LEVELS)}}}`,
    )
    assert.equal(init.status, 200)
    await init.text()
    const list = await post('{"jsonrpc":"2.0","id":2,"method":"tools/list"}', SESSION)
    assert.equal(list.status, 200)
    await list.text()
    const rows = await until(
      async () => {
        const logs = await cliJson(['logs', '--db', db])
        return logs.some((row) => row.method === 'tools/list') ? logs : undefined
      },
      10_000,
      'the tools/list row',
    )
    assert.ok(rows.some((row) => row.method === 'initialize' && row.client_name === 'deep-client'))
    assert.equal(portico.child.exitCode, null, `the proxy exited:\n${portico.output()}`)
    const health = await fetch(new URL('/healthz', portico.url))
    assert.equal(health.status, 200)
    const changes = await cliJson(['schema', '--changes', '--db', db])
    const notCaptured = changes.find((c) => c.method === 'tools/list')
    assert.equal(notCaptured?.change, 'not_captured')
    assert.match(String(notCaptured?.detail), /nested deeper than 64 levels/)
  })

  it('cuts megabyte names and session ids to a prefix and a hash', async () => {
    const name = `tool-${'n'.repeat(1024 * 1024)}`
    const response = await post(
      JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name } }),
      SESSION,
    )
    assert.equal(response.status, 200)
    await response.text()
    const row = await until(
      async () => (await cliJson(['logs', '--db', db, '--method', 'tools/call']))[0],
      10_000,
      'the tools/call row',
    )
    const stored = String(row.name)
    assert.ok(stored.length <= MAX_TEXT, `name of ${stored.length} characters stored`)
    assert.match(stored, /^tool-n+…[0-9a-f]{12}$/)
    const reader = openStore(db)
    try {
      const longest = reader.prepare('SELECT max(length(value)) FROM strings').pluck().get()
      assert.ok(Number(longest) <= MAX_TEXT, `a string of ${longest} characters interned`)
    } finally {
      reader.close()
    }
  })

  it('creates no session for made-up session ids', async () => {
    for (let i = 0; i < 20; i++) {
      const response = await post(
        `{"jsonrpc":"2.0","id":${10 + i},"method":"tools/call","params":{"name":"x"}}`,
        `made-up-${randomUUID()}${'-'.repeat(i * 100)}`,
      )
      assert.equal(response.status, 404)
      await response.text()
    }
    await until(
      async () => {
        const logs = await cliJson(['logs', '--db', db, '--status', 'error', '--tail', '100'])
        return logs.filter((row) => String(row.session_id).startsWith('made-up-')).length >= 20
      },
      10_000,
      'the refused calls',
    )
    const sessions = await cliJson(['sessions', '--db', db])
    assert.deepEqual(
      sessions.map((s) => s.session_id),
      [SESSION],
    )
  })

  it('keeps the failure log lines short whatever the client sends', async () => {
    const name = 'n'.repeat(1024 * 1024)
    const response = await post(
      JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name } }),
      'made-up-for-the-log',
    )
    assert.equal(response.status, 404)
    await response.text()
    await until(() => portico.output().includes('sess=made-up-'), 10_000, 'the failure logged')
    const longest = Math.max(
      ...portico
        .output()
        .split('\n')
        .map((line) => line.length),
    )
    assert.ok(longest < 2000, `a log line of ${longest} characters`)
  })
})
