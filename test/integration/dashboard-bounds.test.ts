/**
 * What a fuzz of the dashboard found, against `portico dashboard` as a child process over a
 * store written by the real store sink: a request path starting with `//` ended the process (a
 * page anywhere could do it with an <img>); the targets page answered every name ever called
 * (200,000 made-up names: 89 MB, half a second of the proxy's thread); live tails had no bound
 * in number (400 that never read held 1 GB); a whole session id that begins others was a 404;
 * a widget frame whose CSP no header can carry was accepted, then a 500.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { exchangeEvent } from '../helpers/events.ts'
import { openTail } from '../helpers/live-tail.ts'
import { rawGet } from '../helpers/rpc.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { type StoreDashboard, storeDashboard } from '../helpers/store-dashboard.ts'
import { until } from '../helpers/wait.ts'

/** A tool name past the store's 256 characters (recorded as a prefix and a hash). */
const LONG_NAME = `long_${'x'.repeat(295)}`

describe('dashboard bounds', () => {
  const dir = scratchDir('portico-dashboard-bounds-')
  let dashboard: StoreDashboard
  let base: string
  const tails: Array<{ close(): void }> = []

  before(async () => {
    dashboard = await storeDashboard(dir, 'p', [
      ...Array.from({ length: 600 }, (_, i) =>
        exchangeEvent({ method: 'tools/call', targetKind: 'tool', name: `made-up-${i}` }),
      ),
      exchangeEvent({ method: 'tools/call', targetKind: 'tool', name: LONG_NAME }),
      // Any client may name itself anything: 520 made-up names.
      ...Array.from({ length: 520 }, (_, i) =>
        exchangeEvent({
          method: 'initialize',
          sessionId: `named-${i}`,
          client: { name: `client-${i}`, version: '1' },
        }),
      ),
      ...['1', '10', '11', '12', '13', '14', '15'].map((sessionId, i) =>
        exchangeEvent({ method: 'initialize', sessionId, ts: Date.now() - 1000 + i * 100 }),
      ),
      // 250 kinds of failure, and a session of 2,100 calls.
      ...Array.from({ length: 250 }, (_, i) =>
        exchangeEvent({
          method: 'tools/call',
          targetKind: 'tool',
          name: 'failing',
          outcome: 'error',
          errorCode: -32000,
          errorMessage: `failure ${i}`,
        }),
      ),
      ...Array.from({ length: 2100 }, (_, i) =>
        exchangeEvent({
          method: 'tools/call',
          targetKind: 'tool',
          name: 'step',
          sessionId: 'long',
          // Told apart by their duration (one tool name: the targets page counts names).
          durationUs: i + 1,
          ts: Date.now() - 5000 + i,
        }),
      ),
    ])
    base = dashboard.base
  })

  after(async () => {
    for (const tail of tails) tail.close()
    await dashboard?.close()
  })

  it('a path starting with // is answered, and the dashboard keeps serving', async () => {
    for (const path of ['///', '//', '//[', '//%zz', '//a:99999']) {
      const answer = await rawGet(base, path)
      assert.ok(answer.status >= 400 && answer.status < 500, `${path}: ${answer.status}`)
    }
    assert.equal(dashboard.cli.child.exitCode, null, 'still running')
    assert.equal((await fetch(`${base}api/overview`)).status, 200)
  })

  it('the targets page sends the 500 most called of each kind, and how many there are', async () => {
    const response = await fetch(`${base}api/targets?since=1h`)
    assert.equal(response.status, 200)
    const body = (await response.json()) as { tools: unknown[]; counts: { tools: number } }
    assert.equal(body.tools.length, 500)
    // 600 made-up names, one long one, and the failing tool and the long session's step.
    assert.equal(body.counts.tools, 603)
  })

  it('the clients page sends the 500 most active, how many there are, and every platform', async () => {
    const response = await fetch(`${base}api/clients?since=24h`)
    assert.equal(response.status, 200)
    const body = (await response.json()) as {
      clients: unknown[]
      count: number
      platforms: Array<{ sessions: number }>
    }
    assert.equal(body.clients.length, 500)
    assert.ok(body.count >= 520, String(body.count))
    // The platforms' totals are of every client, not only of those sent.
    const sessions = body.platforms.reduce((sum, p) => sum + p.sessions, 0)
    assert.ok(sessions >= 520, String(sessions))
  })

  it('finds the calls of a tool whose name is longer than the store keeps, by that name', async () => {
    const response = await fetch(`${base}api/logs?since=1h&tool=${LONG_NAME}`)
    assert.equal(response.status, 200, await response.clone().text())
    const body = (await response.json()) as { calls: Array<{ name: string }> }
    assert.equal(body.calls.length, 1)
  })

  it('a HEAD of the live tail is answered at once, holding no tail', async () => {
    const head = await fetch(`${base}api/live`, {
      method: 'HEAD',
      signal: AbortSignal.timeout(5000),
    })
    assert.equal(head.status, 200)
    assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/)
    // The status a GET would get: its parameters are checked first.
    for (const [query, status] of [
      ['proxy=nope', 404],
      ['since=banana', 400],
    ] as const) {
      const refused = await fetch(`${base}api/live?${query}`, { method: 'HEAD' })
      assert.equal(refused.status, status, query)
    }
  })

  it('the sessions page says when the window holds more sessions than it sends', async () => {
    const capped = (await (await fetch(`${base}api/sessions?since=1h`)).json()) as {
      sessions: unknown[]
      more: boolean
    }
    // Over 500 sessions: the 200 newest, and word of the rest (they were left out in silence).
    assert.deepEqual([capped.sessions.length, capped.more], [200, true])
    const all = (await (await fetch(`${base}api/sessions?since=1h&limit=1000`)).json()) as {
      sessions: unknown[]
      more: boolean
    }
    assert.ok(all.sessions.length > 500, String(all.sessions.length))
    assert.equal(all.more, false)
  })

  it('the errors and session pages say when they send less than the window holds', async () => {
    const errors = (await (await fetch(`${base}api/errors?since=1h`)).json()) as {
      groups: unknown[]
      more: boolean
    }
    assert.deepEqual([errors.groups.length, errors.more], [200, true])
    const session = (await (await fetch(`${base}api/session?id=long`)).json()) as {
      calls: Array<{ latency_us: number }>
      more: boolean
    }
    // Its latest 2,000, oldest first, and word of the rest.
    assert.deepEqual([session.calls.length, session.more], [2000, true])
    assert.equal(session.calls.at(-1)?.latency_us, 2100)
    assert.equal(session.calls[0]?.latency_us, 101)
  })

  it('a whole session id is that session, however many others it begins', async () => {
    const response = await fetch(`${base}api/session?id=1`)
    assert.equal(response.status, 200, await response.clone().text())
    const body = (await response.json()) as { session: { session_id: string } }
    assert.equal(body.session.session_id, '1')
  })

  it('live tails: 32 at once, the next is a 503, and a closed one frees its place', async () => {
    for (let i = 0; i < 32; i++) {
      const tail = await openTail(`${base}api/live`)
      tails.push(tail)
      assert.equal(tail.status, 200, `tail ${i + 1}`)
    }
    const refused = await fetch(`${base}api/live`)
    assert.equal(refused.status, 503)
    assert.match(((await refused.json()) as { error: string }).error, /32 live tails are open/)
    tails.shift()?.close()
    await until(
      async () => {
        const tail = await openTail(`${base}api/live`)
        tails.push(tail)
        return tail.status === 200 || undefined
      },
      5000,
      'a place once one tail closed',
    )
  })

  it('a widget frame whose CSP no header can carry is a 400, not a 500 later', async () => {
    for (const csp of ["default-src 'self'\u0000", "img-src 'self'\u2028", 'a\u007f']) {
      const response = await fetch(`${base}api/studio/frame`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ html: '<p>hi</p>', csp }),
      })
      assert.equal(response.status, 400, JSON.stringify(csp))
    }
  })
})
