/**
 * The dashboard's live tail (`api/live`) checks its parameters as every other dashboard API
 * does: a malformed `since` is a 400 and a proxy the store does not know a 404, each with a
 * one-sentence JSON error, before any stream starts (it used to answer 200 and stream every
 * proxy's calls). A good `since` first sends the window's calls recorded before, then new ones.
 * `portico dashboard` as a child process over a store written by the real store sink.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ExchangeEvent } from '../../src/observe/event.ts'
import { exchangeEvent } from '../helpers/events.ts'
import { openTail } from '../helpers/live-tail.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { type StoreDashboard, storeDashboard } from '../helpers/store-dashboard.ts'
import { until } from '../helpers/wait.ts'

describe('api/live parameters', () => {
  const dir = scratchDir('portico-live-')
  let dashboard: StoreDashboard
  let base: string
  const record = (events: ExchangeEvent[]) => dashboard.record(events)
  const tails: Array<{ close(): void }> = []

  before(async () => {
    dashboard = await storeDashboard(dir, 'alpha', [
      exchangeEvent({
        proxy: 'alpha',
        method: 'tools/call',
        name: 'old',
        ts: Date.now() - 7_200_000,
      }),
      exchangeEvent({ proxy: 'alpha', method: 'tools/call', name: 'recent-1' }),
      exchangeEvent({ proxy: 'beta', method: 'tools/call', name: 'other-proxy' }),
      exchangeEvent({ proxy: 'alpha', method: 'tools/call', name: 'recent-2' }),
    ])
    base = dashboard.base
  })

  after(async () => {
    for (const tail of tails) tail.close()
    await dashboard?.close()
  })

  it('a malformed since is a 400 with a JSON error, before any stream', async () => {
    for (const since of ['banana', '0s', '400d']) {
      const response = await fetch(`${base}api/live?since=${since}`)
      assert.equal(response.status, 400, since)
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
      assert.deepEqual(await response.json(), {
        error: `since: expected a duration like 15m, 1h or 7d (at most 366d), got "${since}"`,
      })
    }
  })

  it('an unknown proxy is a 404 with a JSON error', async () => {
    const response = await fetch(`${base}api/live?proxy=nosuch`)
    assert.equal(response.status, 404)
    assert.deepEqual(await response.json(), {
      error: 'proxy: the store has no records of "nosuch"',
    })
  })

  it("a good since sends the window's earlier calls of the proxy first, then new ones", async () => {
    const tail = await openTail(`${base}api/live?proxy=alpha&since=1h`)
    tails.push(tail)
    assert.equal(tail.status, 200)
    await until(() => tail.text().includes('event: calls') || undefined, 5000, 'the first calls')
    const first = /event: calls\ndata: (.*)\n/.exec(tail.text())?.[1] ?? '[]'
    assert.deepEqual(
      (JSON.parse(first) as Array<{ name: string }>).map((row) => row.name),
      ['recent-1', 'recent-2'],
    )
    await record([exchangeEvent({ proxy: 'alpha', method: 'tools/call', name: 'new-call' })])
    await until(() => tail.text().includes('"new-call"') || undefined, 5000, 'the new call')
    assert.equal(tail.text().includes('other-proxy'), false)
    assert.equal(tail.text().includes('"old"'), false)
  })

  it('without since, only calls recorded from now on', async () => {
    const tail = await openTail(`${base}api/live`)
    tails.push(tail)
    assert.equal(tail.status, 200)
    await until(() => tail.text().includes('event: ready') || undefined, 5000, 'the stream')
    await record([exchangeEvent({ proxy: 'beta', method: 'tools/call', name: 'later' })])
    await until(() => tail.text().includes('"later"') || undefined, 5000, 'the later call')
    assert.equal(tail.text().includes('recent-1'), false)
  })

  it('after = the last id a page saw: the calls recorded while it was away come first', async () => {
    const first = await openTail(`${base}api/live`)
    tails.push(first)
    await until(() => first.text().includes('event: ready') || undefined, 5000, 'the stream')
    const seen = (
      JSON.parse(/event: ready\ndata: (.*)\n/.exec(first.text())?.[1] ?? '{}') as {
        after: number
      }
    ).after
    first.close()
    // Recorded while no tail was open (the page's stream ended: each hour, or a restart).
    await record([exchangeEvent({ proxy: 'alpha', method: 'tools/call', name: 'while-away' })])
    // With since too (a reconnect's link): the window's rows went out already, not again.
    const again = await openTail(`${base}api/live?since=1h&after=${seen}`)
    tails.push(again)
    assert.equal(again.status, 200)
    // Before: the new stream started at the store's last id, and while-away was never shown.
    await until(() => again.text().includes('"while-away"') || undefined, 5000, 'the missed call')
    assert.equal(again.text().includes('recent-1'), false, again.text())
    for (const bad of ['-1', 'x', '1.5']) {
      const response = await fetch(`${base}api/live?after=${bad}`)
      assert.equal(response.status, 400, bad)
      await response.arrayBuffer()
    }
  })
})
