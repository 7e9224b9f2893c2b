/**
 * A dashboard mounted on a running proxy queries the store off the proxy's thread: a week's
 * overview over a large store (hundreds of milliseconds of SQLite) no longer holds the calls
 * and health checks that arrive meanwhile. The answers are the ones the in-process pages give;
 * bad input is still a 400/404; a flood of page requests is bounded (503 past the queue).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PAGES } from '../../src/dashboard/pages.ts'
import { Params } from '../../src/dashboard/query.ts'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { Ingestor } from '../../src/store/ingest.ts'
import { openStore } from '../../src/store/open.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { REFUSED_ORIGIN } from '../helpers/ports.ts'

const ROWS = 200_000
const SAME_PAGE = { 'sec-fetch-site': 'same-origin' }

describe('the mounted dashboard and the proxy’s thread', () => {
  let dir: string
  let db: string
  let portico: RunningPortico

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-dashboard-offthread-'))
    db = join(dir, 'store.db')
    // Calls spread over six days, so a week's overview reads every one of them.
    const store = openStore(db, { create: true })
    const ingestor = new Ingestor(store)
    const now = Date.now()
    const batch: ExchangeEvent[] = []
    for (let i = 0; i < ROWS; i++) {
      batch.push(
        exchangeEvent({
          method: 'tools/call',
          name: `tool-${i % 20}`,
          targetKind: 'tool',
          sessionId: `s-${i % 50}`,
          ts: now - 6 * 86_400_000 + Math.floor((i / ROWS) * 6 * 86_400_000),
          durationUs: 1000 + (i % 997) * 37,
        }),
      )
      if (batch.length === 10_000) ingestor.write(batch.splice(0))
    }
    store.close()
    portico = await startPortico({
      upstream: `${REFUSED_ORIGIN}/mcp`,
      store: { path: db },
      dashboard: { enabled: true },
    })
  })

  after(async () => {
    await portico?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const page = (name: string) =>
    fetch(`${portico.origin}/_portico/api/${name}`, { headers: SAME_PAGE })

  it('answers a health check while a week’s overview is being queried', async () => {
    const order: string[] = []
    const overview = page('overview?since=7d').then(async (res) => {
      order.push('overview')
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    })
    // Sent after the overview: on the proxy's thread it would wait for the whole query.
    const health = fetch(`${portico.origin}/healthz`).then((res) => {
      order.push('health')
      return res.status
    })
    const [answered, healthy] = await Promise.all([overview, health])
    assert.equal(healthy, 200)
    assert.equal(answered.status, 200)
    assert.equal(answered.body.total_requests, ROWS)
    assert.deepEqual(order, ['health', 'overview'])
  })

  it('gives the answers the pages give in process, and the same refusals', async () => {
    const store = openStore(db)
    // A week holds every call (six days of them), so the two moments of `now` see the same.
    try {
      const now = Date.now()
      const inProcess = PAGES.targets?.(
        store,
        new Params(new URLSearchParams('since=7d')),
        now,
      ) as {
        tools: Array<{ name: string; requests: number }>
      }
      const res = await page('targets?since=7d')
      const viaWorker = (await res.json()) as typeof inProcess
      assert.deepEqual(
        viaWorker.tools.map((t) => [t.name, t.requests]),
        inProcess.tools.map((t) => [t.name, t.requests]),
      )
    } finally {
      store.close()
    }
    const unknown = await page('nope')
    assert.equal(unknown.status, 404)
    assert.deepEqual(await unknown.json(), { error: 'no dashboard API "nope"' })
    const bad = await page('overview?since=forever')
    assert.equal(bad.status, 400)
    assert.match(((await bad.json()) as { error: string }).error, /^since: /)
  })

  it('bounds the page queries waiting: a flood gets 503s, never a pile of work', async () => {
    const answers = await Promise.all(
      Array.from({ length: 48 }, () => page('overview?since=7d').then((res) => res.status)),
    )
    assert.ok(answers.includes(503), answers.join(','))
    assert.ok(
      answers.every((status) => status === 200 || status === 503),
      answers.join(','),
    )
    assert.equal((await page('overview?since=1h')).status, 200)
  })
})
