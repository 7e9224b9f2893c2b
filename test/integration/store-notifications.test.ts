/**
 * Resource updates reach the store: an SDK client subscribes to a resource of a real SDK
 * server, through Portico in transparent and in gateway mode, and the server's
 * `notifications/resources/updated` become rows of the client's session (named by the URI
 * the client saw) that `portico logs` and `portico session` show, and that count in no
 * request totals.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { ConfigInput } from '../../src/config/schema.ts'
import { openStore } from '../../src/store/open.ts'
import { storeSink } from '../../src/store/sink.ts'
import {
  type SubscribableServer,
  startSubscribableServer,
  UPDATES_PER_SUBSCRIBE,
} from '../fixtures/subscribable-server.ts'
import { cliJson, runCli } from '../helpers/cli.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

type Row = Record<string, unknown>
const UPDATED = 'notifications/resources/updated'

let dir: string
let upstream: SubscribableServer

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-notif-'))
  upstream = await startSubscribableServer()
})
after(async () => {
  await upstream.close()
  rmSync(dir, { recursive: true, force: true })
})

for (const mode of ['transparent', 'gateway'] as const) {
  describe(`resource updates are stored (${mode})`, () => {
    const db = () => join(dir, `${mode}.db`)
    let portico: RunningPortico
    let client: Client
    let sessionId: string
    let uri: string
    const updates: string[] = []

    before(async () => {
      const config: ConfigInput =
        mode === 'transparent'
          ? { upstream: upstream.url, name: mode }
          : { name: mode, backends: [{ name: 'memo', transport: 'http', url: upstream.url }] }
      const sink = storeSink({ path: db(), proxy: mode, flushMs: 30 })
      portico = await startPortico(config, { sinks: [sink] })
      client = new Client({ name: 'claude-code', version: '1.0.0' })
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updates.push(n.params.uri)
      })
      const transport = new StreamableHTTPClientTransport(new URL(portico.url))
      await client.connect(transport)
      sessionId = transport.sessionId ?? ''
      const { resources } = await client.listResources()
      uri = resources[0]?.uri ?? ''
      await client.subscribeResource({ uri })
      await until(() => updates.length >= UPDATES_PER_SUBSCRIBE, 5000, 'updates at the client')
      const reader = openStore(db())
      try {
        await until(
          () =>
            reader
              .prepare('SELECT count(*) FROM exchanges WHERE method = ?')
              .pluck()
              .get(UPDATED) === UPDATES_PER_SUBSCRIBE,
          5000,
          'update rows written',
        )
      } finally {
        reader.close()
      }
    })
    after(async () => {
      await client.close()
      await portico.close()
    })

    it('portico logs shows each update with its URI and session', async () => {
      assert.deepEqual(updates, Array(UPDATES_PER_SUBSCRIBE).fill(uri))
      const rows = await cliJson<Row>(['logs', '--method', UPDATED, '--db', db()])
      assert.equal(rows.length, UPDATES_PER_SUBSCRIBE)
      for (const row of rows) {
        assert.equal(row.kind, 'notification')
        assert.equal(row.name, uri)
        assert.equal(row.session_id, sessionId)
        assert.equal(row.status, 'ok')
        assert.equal(row.client_name, 'claude-code')
      }
      // The table shows no latency for them (nothing was waited for), not a made-up 0µs.
      const table = await runCli(['logs', '--method', UPDATED, '--db', db()])
      const lines = table.stdout.trim().split('\n').slice(1)
      assert.equal(lines.length, UPDATES_PER_SUBSCRIBE, table.stdout)
      for (const line of lines) assert.match(line, /updated\s+\S+\s+—\s+—\s+(—|\d+ B)\s+ok$/)
    })

    it('the session flow places the updates after the subscribe call', async () => {
      const [detail] = await cliJson<Row>(['session', sessionId.slice(0, 8), '--db', db()])
      const methods = ((detail?.exchanges ?? []) as Row[]).map((r) => r.method)
      const subscribe = methods.indexOf('resources/subscribe')
      assert.ok(subscribe >= 0, `flow: ${methods.join(', ')}`)
      assert.deepEqual(
        methods.slice(subscribe + 1).filter((m) => m === UPDATED),
        Array(UPDATES_PER_SUBSCRIBE).fill(UPDATED),
      )
      assert.ok(methods.lastIndexOf(UPDATED) > subscribe)
    })

    it('updates are not counted as requests', async () => {
      const [status] = await cliJson<Row>(['status', '--db', db()])
      const methods = ((status?.methods ?? []) as Row[]).map((m) => m.method)
      assert.ok(!methods.includes(UPDATED), `methods: ${methods.join(', ')}`)
      const [session] = await cliJson<Row>(['sessions', '--db', db()])
      // initialize, resources/list, resources/subscribe (notifications are not calls).
      assert.equal(session?.calls, 3)
    })
  })
}
