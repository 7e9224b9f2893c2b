/**
 * The dashboard and studio in headless Chromium over a store filled by real traffic: SDK clients
 * → a real Portico (store on, `[dashboard] enabled`) → the store fixture server. Every page is
 * opened in the browser and its numbers are compared with `portico status|clients --json` on
 * the same store; a session timeline lists the session's calls in order; the studio calls a
 * tool through its generated form; a widget preview (through a second Portico rewriting the
 * CSP) blocks a fetch outside its CSP and lists the violation; axe-core finds no serious
 * accessibility problem; the pages fit a phone. `portico dashboard --db` and the admin token
 * are checked over plain HTTP.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type Browser, chromium, type Page } from 'playwright-core'
import { parseConfig } from '../../src/config/schema.ts'
import { openStore } from '../../src/store/open.ts'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { type StoreUpstream, startStoreUpstream } from '../fixtures/store-upstream.ts'
import { requireChromium, skipWithoutChromium } from '../helpers/chromium.ts'
import { CLI, cliEnv, cliJson } from '../helpers/cli.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { listenOnZero } from '../helpers/ports.ts'
import { spawnReady } from '../helpers/processes.ts'
import { rawGet } from '../helpers/rpc.ts'
import { until } from '../helpers/wait.ts'

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const WAIT = { timeout: 15_000 }

type Row = Record<string, unknown>

/** The calls the first client makes, in order (tools/call names). */
const CALLS = ['fast', 'fast', 'fast', 'fast', 'slow', 'slow', 'fails', 'fails', 'echo', 'big']

const count = (n: number) => n.toLocaleString('en-US')
const pct = (n: number) => `${n.toFixed(1)}%`

async function apiServer(): Promise<{ server: Server; origin: string; hits: () => number }> {
  let hits = 0
  const server = createServer((_req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' })
    res.end('ok')
  })
  const port = await listenOnZero(server)
  return { server, origin: `http://127.0.0.1:${port}`, hits: () => hits }
}

/** A widget that fetches both origins as soon as it runs. */
function probeHtml(allowed: string, blocked: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>probe</title></head><body><p>probe</p>
<script>fetch(${JSON.stringify(allowed)}).catch(() => {}); fetch(${JSON.stringify(blocked)}).catch(() => {})</script>
</body></html>`
}

async function connectClient(url: string, name: string, version: string) {
  const client = new Client({ name, version })
  const transport = new StreamableHTTPClientTransport(new URL(url))
  await client.connect(transport)
  return { client, sessionId: transport.sessionId ?? '' }
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).allInnerTexts()
}

/** The cells of the table row whose first cell is `name`. */
async function rowOf(page: Page, tableId: string, name: string): Promise<string[]> {
  const row = page.locator(`#${tableId} tbody tr`).filter({
    has: page.locator('td:first-child', { hasText: new RegExp(`^${name}$`) }),
  })
  await row.first().waitFor(WAIT)
  return row.first().locator('td').allInnerTexts()
}

describe('dashboard and studio in Chromium over real traffic', {
  skip: skipWithoutChromium,
}, () => {
  let dir: string
  let db: string
  let upstream: StoreUpstream
  let sink: StoreSink
  let portico: RunningPortico
  let base: string
  let allowedApi: Awaited<ReturnType<typeof apiServer>>
  let otherApi: Awaited<ReturnType<typeof apiServer>>
  let app: RunningApp
  let apps: RunningPortico
  let first: Awaited<ReturnType<typeof connectClient>>
  let browser: Browser
  let page: Page

  async function open(hash: string, ready: string): Promise<void> {
    await page.goto(`${base}#/${hash}`, WAIT)
    await page.locator(ready).first().waitFor(WAIT)
  }

  before(async () => {
    const chromiumPath = requireChromium()
    dir = mkdtempSync(join(tmpdir(), 'portico-dashboard-'))
    db = join(dir, 'store.db')
    upstream = await startStoreUpstream()
    sink = storeSink({ path: db, proxy: 'fixture', flushMs: 30 })
    portico = await startPortico(
      {
        upstream: upstream.url,
        name: 'fixture',
        store: { path: db },
        dashboard: { enabled: true },
      },
      { sinks: [sink] },
    )
    base = `${portico.origin}/_portico/`
    allowedApi = await apiServer()
    otherApi = await apiServer()
    app = await startCspApp({ json: false, html: probeHtml(allowedApi.origin, otherApi.origin) })
    apps = await startPortico({
      upstream: app.url,
      name: 'apps',
      public_url: 'https://mcp.example.com',
      csp: { connectDomains: { domains: [allowedApi.origin] } },
    })

    first = await connectClient(portico.url, 'claude-code', '1.2.3')
    await first.client.listTools()
    for (const name of CALLS) {
      await first.client.callTool({
        name,
        ...(name === 'echo' ? { arguments: { text: 'hi' } } : {}),
      })
    }
    const second = await connectClient(portico.url, 'cursor', '0.9.0')
    for (let i = 0; i < 2; i++) await second.client.callTool({ name: 'fast' })
    await second.client.close()

    const reader = openStore(db)
    try {
      await until(
        () =>
          (reader
            .prepare("SELECT count(*) FROM exchanges WHERE method = 'tools/call'")
            .pluck()
            .get() as number) >=
            CALLS.length + 2 &&
          (reader
            .prepare("SELECT count(*) FROM schema_snapshots WHERE method = 'tools/list'")
            .pluck()
            .get() as number) === 1 &&
          // The second client's standing GET stream is recorded when its close ends it, after
          // its calls: without it the store still grows while the pages are compared.
          (reader
            .prepare("SELECT count(*) FROM exchanges WHERE method = 'GET' AND session_id = ?")
            .pluck()
            .get(second.sessionId) as number) === 1,
        10_000,
        'every call, the tools/list snapshot and the closed GET stream in the store',
      )
    } finally {
      reader.close()
    }
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    })
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  })

  after(async () => {
    await browser?.close()
    await first?.client.close()
    await portico?.close()
    await apps?.close()
    await app?.close()
    await sink?.close()
    await upstream?.close()
    for (const server of [allowedApi?.server, otherApi?.server]) {
      server?.closeAllConnections()
      server?.close()
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('overview: requests, error rate and sessions match portico status --json', async () => {
    const [status] = await cliJson<Row>(['status', '--db', db, '--since', '1h'])
    assert.ok(status)
    const sessions = status.sessions as { total: number; active: number }
    await open('overview?since=1h', '#stat-requests')
    assert.equal(
      await page.locator('#stat-requests').textContent(),
      count(status.total_requests as number),
    )
    assert.equal(await page.locator('#stat-errors').textContent(), count(status.errors as number))
    assert.equal(
      await page.locator('#stat-error-rate').textContent(),
      pct(status.error_pct as number),
    )
    assert.equal(await page.locator('#stat-sessions').textContent(), count(sessions.total))
    assert.equal(await page.locator('#stat-active').textContent(), count(sessions.active))
    // Both charts drew (uPlot canvases), with the window's points.
    await page.locator('.chart .uplot').nth(1).waitFor(WAIT)
    assert.equal(await page.locator('.chart .uplot').count(), 2)
    assert.equal(status.errors, 2)
  })

  it('an unknown page name shows the overview, names every object inherits included', async () => {
    // Before: #/constructor found Object's constructor in the page table and failed the page.
    for (const name of ['nosuchpage', 'constructor', '__proto__', 'toString']) {
      await open(`${name}?since=1h`, '#stat-requests')
      assert.doesNotMatch((await page.locator('#main').textContent()) ?? '', /Could not load/)
    }
  })

  it('tools: the health table matches status, and a row opens its chart, slowest and failed calls', async () => {
    const [status] = await cliJson<Row>(['status', '--db', db, '--since', '1h'])
    const tools = (status?.tools ?? []) as Row[]
    await open('targets?since=1h', '#health')
    for (const tool of tools) {
      const cells = await rowOf(page, 'health', tool.name as string)
      assert.equal(cells[1], count(tool.calls as number), `calls of ${tool.name}`)
      assert.equal(cells[2], `${count(tool.errors as number)} (${pct(tool.error_pct as number)})`)
    }
    // Sorted by calls, most first; a click on the header reverses it.
    const names = await texts(page, '#health tbody tr td:first-child')
    assert.equal(names[0], 'fast')
    await page.getByRole('button', { name: 'Calls' }).click()
    assert.equal(await page.locator('#health th[aria-sort]').getAttribute('aria-sort'), 'ascending')
    await page.locator('#health tbody tr', { hasText: 'fails' }).first().click()
    await page.locator('#failed tbody tr').nth(1).waitFor(WAIT)
    assert.equal(await page.locator('#failed tbody tr').count(), 2)
    assert.equal(await page.locator('#slowest tbody tr').count(), 2)
    assert.match(page.url(), /#\/targets\?.*name=fails/)
    await page
      .locator('figure.chart', { hasText: 'Latency of fails' })
      .locator('.uplot')
      .waitFor(WAIT)
    // The chosen sort outlives an auto-refresh (it went back to the default at each one).
    await open('targets?since=1h&refresh=1s', '#health')
    const sortOfCalls = () =>
      page.locator('#health th', { hasText: 'Calls' }).getAttribute('aria-sort')
    assert.equal(await sortOfCalls(), 'ascending')
    const before = await page.locator('#health').elementHandle()
    await page.waitForFunction((old) => !old?.isConnected, before, WAIT) // drawn again
    assert.equal(await sortOfCalls(), 'ascending')
    await open('targets?since=1h', '#health')
  })

  it('errors: grouped by tool and message, with counts', async () => {
    await open('errors?since=1h', '#error-groups')
    const cells = await rowOf(page, 'error-groups', 'fails')
    assert.equal(cells[1], 'tool')
    assert.equal(cells[4], '2')
    // One group for the tool (the same message each time); other groups are other failures.
    const all = await texts(page, '#error-groups tbody tr')
    assert.equal(all.filter((row) => row.startsWith('fails\t')).length, 1, all.join('\n'))
  })

  it("sessions: the list, and a session's timeline shows its calls in order", async () => {
    await open('sessions?since=1h', '#sessions')
    assert.equal(await page.locator('#sessions tbody tr').count(), 2)
    await page.locator('#sessions tbody tr', { hasText: 'claude-code' }).click()
    await page.locator('#timeline li').first().waitFor(WAIT)
    const rows = await page.locator('#timeline li').evaluateAll((items) =>
      items.map((li) => ({
        method: li.getAttribute('data-method'),
        name: li.getAttribute('data-name'),
        status: li.getAttribute('data-status'),
      })),
    )
    assert.equal(rows[0]?.method, 'initialize')
    const calls = rows.filter((r) => r.method === 'tools/call')
    assert.deepEqual(
      calls.map((r) => r.name),
      CALLS,
    )
    assert.deepEqual(
      calls.map((r) => r.status),
      CALLS.map((name) => (name === 'fails' ? 'error' : 'ok')),
    )
    assert.ok(page.url().includes(`id=${encodeURIComponent(first.sessionId)}`))
    // The session's proxy is its own parameter: the page-wide filter is left as it was (it
    // became proxy=fixture, and the Sessions page then listed one proxy's sessions only).
    assert.ok(page.url().includes('of=fixture'), page.url())
    assert.ok(!page.url().includes('proxy='), page.url())
  })

  it('clients: the breakdown matches portico clients --json', async () => {
    const clients = await cliJson<Row>(['clients', '--db', db, '--since', '24h'])
    const list = clients.flatMap((c) => (Array.isArray(c) ? (c as Row[]) : [c]))
    await open('clients?since=24h', '#clients')
    for (const client of list) {
      const cells = await rowOf(page, 'clients', client.client_name as string)
      assert.equal(cells[3], String(client.sessions))
      assert.equal(cells[4], count(client.calls as number))
    }
    assert.equal(await page.locator('#clients tbody tr').count(), list.length)
    assert.equal((await page.locator('#platforms tbody tr').count()) >= 1, true)
  })

  it("times read in the viewer's own zone, date and clock; the controls show the URL's range", async () => {
    // UTC+14: the date was UTC's beside the local clock, a day off for half of every day.
    const zone = 'Pacific/Kiritimati'
    const context = await browser.newContext({ timezoneId: zone })
    const local = await context.newPage()
    try {
      const [session] = await cliJson<Row>([
        'sessions',
        '--db',
        db,
        '--since',
        '1h',
        '--limit',
        '1',
      ])
      const at = session?.started_at
      const started = typeof at === 'number' ? at : Date.parse(String(at))
      const inZone = new Intl.DateTimeFormat('sv-SE', {
        timeZone: zone,
        dateStyle: 'short',
        timeStyle: 'medium',
      }).format(started)
      await local.goto(`${base}#/sessions?since=1h`, WAIT)
      await local.locator('#sessions tbody tr').first().waitFor(WAIT)
      assert.ok(((await local.locator('#sessions').textContent()) ?? '').includes(inZone), inZone)
      // A range and a refresh the lists lack are what applies, and what the controls show.
      await local.goto(`${base}#/overview?since=2h&refresh=5s`, WAIT)
      await local.locator('#stat-requests').waitFor(WAIT)
      assert.equal(await local.locator('#range').inputValue(), '2h')
      assert.equal(await local.locator('#refresh').inputValue(), '5s')
    } finally {
      await context.close()
    }
  })

  it('schema: the tools with their schemas, and the unused ones', async () => {
    await open('schema?since=1h', '#tools-fixture')
    const tools = await texts(page, '#tools-fixture > li summary code')
    assert.deepEqual([...tools].sort(), ['big', 'echo', 'fails', 'fast', 'never_called', 'slow'])
    const unused = await rowOf(page, 'usage-fixture', 'never_called')
    assert.equal(unused[4], 'unused')
  })

  it('live: a call made now appears in the tail', async () => {
    await open('live', '#live-status')
    await page.getByText('Connected').waitFor(WAIT)
    await first.client.callTool({ name: 'echo', arguments: { text: 'live' } })
    await page.locator('#live-rows tr', { hasText: 'echo' }).first().waitFor(WAIT)
  })

  it('studio: connects to the proxy, calls a tool through the generated form, shows the result', async () => {
    await open('studio', '#mcp-url')
    assert.equal(await page.locator('#mcp-url').inputValue(), portico.url)
    await page.locator('#connect').click()
    await page.locator('#studio-tools button', { hasText: 'echo' }).click(WAIT)
    await page.locator('#arg-text').fill('hello studio')
    assert.deepEqual(JSON.parse(await page.locator('#raw-args').inputValue()), {
      text: 'hello studio',
    })
    await page.locator('#call-tool').click()
    await page.locator('#tool-result', { hasText: 'hello studio' }).waitFor(WAIT)
    const result = JSON.parse((await page.locator('#tool-result').textContent()) ?? '')
    assert.deepEqual(result.content, [{ type: 'text', text: 'hello studio' }])
    // The call as the store recorded it: through the proxy, by the studio.
    await page.locator('#recorded', { hasText: 'tools/call echo · ok' }).waitFor(WAIT)
    assert.match(
      (await page.locator('#recorded').textContent()) ?? '',
      /proxy fixture · session \S+/,
    )
  })

  it('studio: a widget preview blocks a fetch outside its CSP and lists the violation', async () => {
    await open('studio', '#mcp-url')
    await page.locator('#mcp-url').fill(apps.url)
    await page.locator('#connect').click()
    await page.locator('#studio-resources button').first().click(WAIT)
    for (const shape of ['chatgpt', 'claude']) {
      const violation = page.locator(`#violations-${shape} li`, { hasText: otherApi.origin })
      await violation.first().waitFor(WAIT)
      assert.match(
        (await violation.first().textContent()) ?? '',
        /^connect-src blocked http:\/\/127\.0\.0\.1:/,
      )
      const all = await texts(page, `#violations-${shape} li`)
      assert.ok(!all.some((v) => v.includes(allowedApi.origin)), `${shape}: ${all.join('; ')}`)
      // Portico's computed policy: its public origin, the app's own domain, the configured one.
      const csp = (await page.locator(`#csp-${shape}`).textContent()) ?? ''
      const connect = csp.split('\n').find((line) => line.startsWith('connect-src'))
      assert.equal(
        connect,
        `connect-src https://mcp.example.com https://api.partner.com ${allowedApi.origin};`,
      )
    }
    await until(() => allowedApi.hits() >= 2, 10_000, 'both previews fetched the allowed origin')
    assert.equal(otherApi.hits(), 0)
  })

  it('axe-core: no serious or critical accessibility violations on any page', async () => {
    const pages: Array<[string, string]> = [
      ['overview', '#stat-requests'],
      ['targets?name=fast', '#slowest'],
      ['errors', '#error-groups'],
      ['sessions', '#sessions'],
      [`session?id=${encodeURIComponent(first.sessionId)}`, '#timeline'],
      ['clients', '#clients'],
      ['schema', '#tools-fixture'],
      ['gateway', '#backends'],
      ['live', '#live-status'],
      ['studio', '#mcp-url'],
    ]
    for (const [hash, ready] of pages) {
      await open(hash, ready)
      await page.evaluate(AXE)
      const violations = (await page.evaluate(
        `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`,
      )) as Array<{ id: string; impact: string; nodes: number }>
      const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      assert.deepEqual(serious, [], `${hash}: ${JSON.stringify(serious)}`)
    }
  })

  it('a phone viewport: every page fits the width, navigation and controls stay usable', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true })
    try {
      for (const [hash, ready] of [
        ['overview', '#stat-requests'],
        ['targets?name=fast', '#slowest'],
        [`session?id=${encodeURIComponent(first.sessionId)}`, '#timeline'],
        ['studio', '#mcp-url'],
      ] as const) {
        await phone.goto(`${base}#/${hash}`, WAIT)
        await phone.locator(ready).first().waitFor(WAIT)
        const { scroll, width } = (await phone.evaluate(
          '({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })',
        )) as { scroll: number; width: number }
        assert.ok(scroll <= width + 1, `${hash}: page is ${scroll}px wide on a ${width}px screen`)
        assert.ok(await phone.getByRole('link', { name: 'Sessions' }).isVisible())
        assert.ok(await phone.locator('#range').isVisible())
      }
    } finally {
      await phone.close()
    }
  })

  it('portico dashboard --db serves the same store on loopback; bad input is a clear error', async () => {
    const cli = await spawnReady(process.execPath, [CLI, 'dashboard', '--db', db, '--port', '0'], {
      env: cliEnv(),
      ready: /Portico dashboard on (http:\/\/\S+)/,
    })
    try {
      const url = /Portico dashboard on (http:\/\/\S+)/.exec(cli.output())?.[1] ?? ''
      const [status] = await cliJson<Row>(['status', '--db', db, '--since', '1h'])
      const overview = (await (await fetch(`${url}api/overview?since=1h`)).json()) as Row
      assert.equal(overview.total_requests, status?.total_requests)
      const bad = await fetch(`${url}api/overview?since=banana`)
      assert.equal(bad.status, 400)
      assert.deepEqual(await bad.json(), {
        error: 'since: expected a duration like 15m, 1h or 7d (at most 366d), got "banana"',
      })
      const unknown = await fetch(`${url}api/overview?proxy=nope`)
      assert.equal(unknown.status, 404)
      const shell = await fetch(url)
      assert.equal(shell.status, 200)
      assert.match(shell.headers.get('content-security-policy') ?? '', /default-src 'self'/)
      // A SIGHUP is said and ignored (it exited 1).
      cli.child.kill('SIGHUP')
      await until(
        () => /received SIGHUP: the dashboard reloads nothing/.test(cli.output()) || undefined,
        5000,
        'the SIGHUP said',
      )
      assert.equal((await fetch(url)).status, 200)
    } finally {
      await cli.stop()
    }
  })
})

describe('the dashboard mount and its guard', () => {
  const TOKEN = 'dashboard-admin-token-0123456789'
  let dir: string
  let upstream: StoreUpstream
  let portico: RunningPortico

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-dashboard-guard-'))
    const db = join(dir, 'store.db')
    openStore(db, { create: true }).close()
    upstream = await startStoreUpstream()
    portico = await startPortico({
      upstream: upstream.url,
      store: { path: db },
      dashboard: { enabled: true, path: '/ops/dash/' },
      admin: { token: TOKEN },
    })
  })

  after(async () => {
    await portico?.close()
    await upstream?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('serves the page shell to anyone local, and its data only with the admin token', async () => {
    const base = `${portico.origin}/ops/dash/`
    assert.equal((await fetch(base)).status, 200)
    const redirect = await fetch(`${portico.origin}/ops/dash`, { redirect: 'manual' })
    assert.equal(redirect.status, 308)
    assert.equal(redirect.headers.get('location'), '/ops/dash/')
    assert.equal((await fetch(`${base}api/overview`)).status, 401)
    const wrong = await fetch(`${base}api/overview`, { headers: { authorization: 'Bearer wrong' } })
    assert.equal(wrong.status, 401)
    const ok = await fetch(`${base}api/overview`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(ok.status, 200)
    assert.equal(((await ok.json()) as Row).total_requests, 0)
    const gateway = await fetch(`${base}api/gateway`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    const view = (await gateway.json()) as { mode: string; backends: Row[] }
    assert.equal(view.mode, 'transparent')
    assert.equal(view.backends.length, 1)
    const foreign = await fetch(`${base}api/overview`, {
      headers: { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' },
    })
    assert.equal(foreign.status, 403)
  })

  it('asks again for a token no header can carry, and says why, instead of failing every page', {
    skip: skipWithoutChromium,
  }, async () => {
    const browser = await chromium.launch({
      executablePath: requireChromium(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
    })
    try {
      const page = await browser.newPage()
      const base = `${portico.origin}/ops/dash/`
      await page.goto(base, WAIT)
      await page.locator('#token').fill(`${TOKEN}\u2019`)
      await page.locator('form.token button').click(WAIT)
      await page.locator('#token-problem', { hasText: 'other characters' }).waitFor(WAIT)
      // One left in the tab's storage (before: every fetch threw, and the form never came back).
      await page.evaluate("sessionStorage.setItem('portico-admin-token', 'bad\\u2019')")
      await page.reload(WAIT)
      await page.locator('#token').waitFor(WAIT)
      await page.locator('#token').fill(TOKEN)
      await page.locator('form.token button').click(WAIT)
      await page.locator('#token').waitFor({ state: 'detached', ...WAIT })
    } finally {
      await browser.close()
    }
  })

  it('refuses paths with dot segments or backslashes before any mount (no way around the token)', async () => {
    // Sent as written (fetch would resolve them): each one, resolved, is a guarded API route.
    for (const path of [
      '/ops/dash/x/%2e%2e/api/overview',
      '/ops/dash/x/%2E./api/logs',
      '/ops/dash/./api/overview',
      '/ops/dash\\api/overview',
    ]) {
      const answer = await rawGet(portico.origin, path)
      assert.equal(answer.status, 400, path)
      assert.doesNotMatch(answer.body, /total_requests/, path)
    }
  })

  it('answers its API to its own page only; the studio relay needs what only its script sends', async () => {
    const base = `${portico.origin}/ops/dash/`
    const auth = { authorization: `Bearer ${TOKEN}` }
    for (const site of ['cross-site', 'same-site']) {
      const answer = await fetch(`${base}api/overview`, {
        headers: { ...auth, 'sec-fetch-site': site },
      })
      assert.equal(answer.status, 403, site)
    }
    const own = await fetch(`${base}api/overview`, {
      headers: { ...auth, 'sec-fetch-site': 'same-origin' },
    })
    assert.equal(own.status, 200)
    // What an <img> or a form on another site could send: no MCP header, no JSON body.
    const relay = await fetch(`${base}api/studio/mcp?url=${encodeURIComponent(portico.url)}`, {
      headers: auth,
    })
    assert.equal(relay.status, 403)
    const frame = await fetch(`${base}api/studio/frame`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: '{"html":"<p>x</p>","csp":""}',
    })
    assert.equal(frame.status, 403)
  })

  it('refuses an address the rules refuse with 403 on its API too, with no token challenge', async () => {
    // Before: the API's admin guard ran before the address rules: 401 and the admin realm's
    // challenge (telling a refused address an API is there), recorded as unauthorized.
    const db = join(dir, 'fenced.db')
    openStore(db, { create: true }).close()
    const fenced = await startPortico({
      upstream: upstream.url,
      store: { path: db },
      dashboard: { enabled: true, path: '/ops/dash/' },
      admin: { token: TOKEN },
      security: { allow_ips: ['10.0.0.0/8'] },
    })
    try {
      const base = `${fenced.origin}/ops/dash/`
      for (const url of [base, `${base}api/overview`, `${base}api/live`]) {
        for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<
          string,
          string
        >[]) {
          const answer = await fetch(url, { headers })
          await answer.body?.cancel()
          assert.equal(answer.status, 403, url)
          assert.equal(answer.headers.get('www-authenticate'), null, url)
        }
      }
    } finally {
      await fenced.close()
    }
  })

  it('is off by default, and refused on a public listener without a token', () => {
    assert.equal(parseConfig({ upstream: 'http://127.0.0.1:1/mcp' }).dashboard.enabled, false)
    assert.throws(
      () =>
        parseConfig({
          upstream: 'http://127.0.0.1:1/mcp',
          host: '0.0.0.0',
          dashboard: { enabled: true },
        }),
      /the dashboard would be served on 0\.0\.0\.0, which is not a loopback address: set \[admin\] token/,
    )
    assert.equal(
      parseConfig({
        upstream: 'http://127.0.0.1:1/mcp',
        host: '0.0.0.0',
        dashboard: { enabled: true },
        admin: { token: TOKEN },
      }).dashboard.enabled,
      true,
    )
  })
})
