/**
 * The rewritten CSP in a real browser: a widget read through Portico is loaded in headless
 * Chromium under the policy a host builds from its metadata (each shape in turn). A fetch to the
 * configured domain is allowed and one to another domain is blocked by CSP; under the upstream's
 * own (localhost) metadata the configured domain would have been blocked too.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type BrowserContext, chromium } from 'playwright-core'
import { PAYMENT_URI, type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { requireChromium, skipWithoutChromium } from '../helpers/chromium.ts'
import { buildHostCsp, fromOpenAiMeta, fromUiMeta, type HostCspInput } from '../helpers/host-csp.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { listenOnZero } from '../helpers/ports.ts'
import { until } from '../helpers/wait.ts'

interface Probe {
  ok: boolean
  body?: string
  error?: string
}

interface Violation {
  directive: string
  blocked: string
}

interface Results {
  allowed: Probe
  blocked: Probe
  violations: Violation[]
}

/** An API "domain": a loopback server on its own port that counts the requests it gets. */
async function apiServer(
  name: string,
): Promise<{ server: Server; origin: string; hits: () => number }> {
  let hits = 0
  const server = createServer((_req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' })
    res.end(`hello from ${name}`)
  })
  const port = await listenOnZero(server)
  return { server, origin: `http://127.0.0.1:${port}`, hits: () => hits }
}

/**
 * The widget: fetches both APIs and publishes the outcomes (`__probes`) and every CSP violation
 * event (`__violations`, reported asynchronously, possibly after the fetch failed).
 */
function probeHtml(allowed: string, blocked: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>probe</title></head><body>
<script>
window.__violations = []
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI })
})
async function probe(url) {
  try { const r = await fetch(url); return { ok: true, body: await r.text() } }
  catch (e) { return { ok: false, error: String(e) } }
}
Promise.all([probe(${JSON.stringify(allowed)}), probe(${JSON.stringify(blocked)})]).then(
  ([allowed, blocked]) => { window.__probes = { allowed, blocked } })
</script></body></html>`
}

/** The connect-src violation that names `origin`, if the browser reported one. */
function violationFor(violations: Violation[], origin: string): Violation | undefined {
  return violations.find((v) => v.directive === 'connect-src' && v.blocked.startsWith(origin))
}

describe('rewritten CSP enforced by Chromium', { skip: skipWithoutChromium }, () => {
  const userDataDir = mkdtempSync(join(tmpdir(), 'portico-chromium-'))
  let allowedApi: Awaited<ReturnType<typeof apiServer>>
  let otherApi: Awaited<ReturnType<typeof apiServer>>
  let app: RunningApp
  let portico: RunningPortico
  let host: Server
  let hostOrigin: string
  let browser: BrowserContext
  /** What the host serves next: the widget HTML and the CSP it built. */
  let page: { html: string; csp: string } = { html: '', csp: "default-src 'none'" }

  async function readWidget(url: string): Promise<{ html: string; meta: unknown }> {
    const client = new Client({ name: 'csp-browser-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url)))
    try {
      const { contents } = await client.readResource({ uri: PAYMENT_URI })
      const item = contents[0]
      assert.ok(item && 'text' in item)
      return { html: item.text, meta: item._meta }
    } finally {
      await client.close()
    }
  }

  /**
   * Loads the widget under `csp` and waits until both probes finished and, for each probe that
   * failed, the browser reported the violation naming its URL (or the deadline passes).
   */
  async function render(html: string, csp: HostCspInput): Promise<Results> {
    page = { html, csp: buildHostCsp(csp) }
    const tab = await browser.newPage()
    try {
      await tab.goto(`${hostOrigin}/widget`, { timeout: 15_000 })
      // Polled from here: Playwright's in-page polling evaluates strings, which the very CSP
      // under test forbids ('unsafe-eval'); evaluate() goes through the DevTools protocol.
      return await until(
        async () => {
          const state = (await tab.evaluate(
            '({ probes: window.__probes, violations: window.__violations })',
          )) as { probes?: { allowed: Probe; blocked: Probe }; violations: Violation[] }
          if (!state.probes) return undefined
          const results = { ...state.probes, violations: state.violations }
          const reported = [
            [results.allowed, allowedApi.origin],
            [results.blocked, otherApi.origin],
          ] as const
          const complete = reported.every(
            ([probe, origin]) => probe.ok || violationFor(results.violations, origin),
          )
          return complete ? results : undefined
        },
        15_000,
        'the probe results and a CSP violation for each failed probe',
      )
    } finally {
      await tab.close()
    }
  }

  before(async () => {
    const chromiumPath = requireChromium()
    allowedApi = await apiServer('allowed')
    otherApi = await apiServer('other')
    app = await startCspApp({ json: false, html: probeHtml(allowedApi.origin, otherApi.origin) })
    portico = await startPortico({
      upstream: app.url,
      public_url: 'https://mcp.example.com',
      csp: { connectDomains: { domains: [allowedApi.origin] } },
    })
    host = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': page.csp })
      res.end(page.html)
    })
    hostOrigin = `http://localhost:${await listenOnZero(host)}`
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      timeout: 30_000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  })

  after(async () => {
    await browser?.close()
    await portico?.close()
    await app?.close()
    for (const server of [host, allowedApi?.server, otherApi?.server]) {
      if (!server) continue
      server.closeAllConnections()
      server.close()
    }
    rmSync(userDataDir, { recursive: true, force: true })
  })

  for (const [shape, read] of [
    ['_meta.ui.csp', fromUiMeta],
    ['openai/widgetCSP', fromOpenAiMeta],
  ] as const) {
    it(`${shape}: the configured domain is reachable, another domain is blocked by CSP`, async () => {
      const { html, meta } = await readWidget(portico.url)
      const csp = read(meta)
      assert.deepEqual(csp.connect, [
        'https://mcp.example.com',
        'https://api.partner.com',
        allowedApi.origin,
      ])
      const before = otherApi.hits()
      const results = await render(html, csp)
      assert.deepEqual(results.allowed, { ok: true, body: 'hello from allowed' })
      assert.equal(results.blocked.ok, false)
      assert.equal(otherApi.hits(), before, 'the blocked request never left the browser')
      assert.ok(
        violationFor(results.violations, otherApi.origin),
        `a connect-src violation names ${otherApi.origin}: ${JSON.stringify(results.violations)}`,
      )
      assert.equal(violationFor(results.violations, allowedApi.origin), undefined)
    })
  }

  it('without Portico, the upstream localhost policy would have blocked the configured domain', async () => {
    const { html, meta } = await readWidget(app.url)
    const csp = fromOpenAiMeta(meta)
    assert.deepEqual(csp.connect, ['http://localhost:8787', 'https://api.partner.com'])
    const before = allowedApi.hits()
    const results = await render(html, csp)
    assert.equal(results.allowed.ok, false)
    assert.equal(results.blocked.ok, false)
    // Blocked by the policy, not by a network failure.
    assert.ok(violationFor(results.violations, allowedApi.origin), JSON.stringify(results))
    assert.equal(allowedApi.hits(), before, 'the blocked request never left the browser')
  })
})
