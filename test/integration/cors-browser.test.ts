/**
 * A browser-based MCP client (a page of a localhost origin, as the MCP Inspector's direct mode
 * is) calls Portico in headless Chromium, in both modes: its JSON POSTs need a preflight, and it
 * must read `Mcp-Session-Id` from the answer to go on. A foreign origin gets no CORS headers.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { type BrowserContext, chromium } from 'playwright-core'
import { type DemoServer, startDemoServer } from '../../demo/server.ts'
import { requireChromium, skipWithoutChromium } from '../helpers/chromium.ts'
import { initializeBody } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { listenOnZero } from '../helpers/ports.ts'
import { scratchDir } from '../helpers/scratch.ts'

interface BrowserSession {
  sessionId: string | null
  tools: string[]
}

/**
 * Runs in the page: initialize, initialized, tools/list, with the headers an SDK client sends
 * (each POST is preflighted: `application/json` and `Mcp-Session-Id` are not simple headers).
 */
async function mcpFromPage(args: { url: string; init: string }): Promise<BrowserSession> {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  }
  const read = async (response: Response) => {
    const text = await response.text()
    return JSON.parse(text.startsWith('{') ? text : text.replace(/^[\s\S]*?data: /, '')) as {
      result?: { tools?: Array<{ name: string }> }
    }
  }
  const init = await fetch(args.url, { method: 'POST', headers, body: args.init })
  await read(init)
  const sessionId = init.headers.get('mcp-session-id')
  const session = {
    ...headers,
    'mcp-session-id': sessionId ?? '',
    'mcp-protocol-version': '2025-11-25',
  }
  await fetch(args.url, {
    method: 'POST',
    headers: session,
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  })
  const list = await fetch(args.url, {
    method: 'POST',
    headers: session,
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
  })
  const tools = ((await read(list)).result?.tools ?? []).map((tool) => tool.name)
  return { sessionId, tools }
}

describe('browser-based MCP clients (CORS)', { skip: skipWithoutChromium }, () => {
  let demo: DemoServer
  let transparent: RunningPortico
  let gateway: RunningPortico
  let page: Server
  let pageOrigin: string
  let browser: BrowserContext

  before(async () => {
    const chromiumPath = requireChromium()
    demo = await startDemoServer()
    transparent = await startPortico({ upstream: demo.url })
    gateway = await startPortico({ backends: [{ name: 'demo', transport: 'http', url: demo.url }] })
    page = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<!doctype html><title>client</title>')
    })
    pageOrigin = `http://localhost:${await listenOnZero(page)}`
    browser = await chromium.launchPersistentContext(scratchDir('portico-cors-chromium-'), {
      executablePath: chromiumPath,
      headless: true,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    })
  })

  after(async () => {
    await browser?.close()
    await transparent?.close()
    await gateway?.close()
    await demo?.close()
    page?.closeAllConnections()
    page?.close()
  })

  for (const mode of ['transparent', 'gateway'] as const) {
    it(`${mode}: a page of a localhost origin initializes, reads its session id and lists tools`, async () => {
      const portico = mode === 'transparent' ? transparent : gateway
      const tab = await browser.newPage()
      try {
        await tab.goto(`${pageOrigin}/`, { timeout: 15_000 })
        // Portico listens on 127.0.0.1 and the page is on localhost: another origin.
        const session = await tab.evaluate(mcpFromPage, {
          url: portico.url,
          init: initializeBody({ id: 1, client: 'browser' }),
        })
        assert.ok(session.sessionId, 'Mcp-Session-Id was not readable by the page')
        assert.ok(session.tools.length > 0, JSON.stringify(session))
        if (mode === 'gateway') assert.ok(session.tools.some((name) => name.startsWith('demo__')))
      } finally {
        await tab.close()
      }
    })
  }

  it('a foreign origin gets no CORS headers: its preflight and requests are refused with 403', async () => {
    for (const portico of [transparent, gateway]) {
      const preflight = await fetch(portico.url, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      })
      assert.equal(preflight.status, 403)
      assert.equal(preflight.headers.get('access-control-allow-origin'), null)
      // A preflight asking for headers that are not a plain list gets the fixed list back.
      const odd = await fetch(portico.url, {
        method: 'OPTIONS',
        headers: {
          origin: pageOrigin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type; x=1',
        },
      })
      assert.equal(odd.status, 204)
      assert.equal(odd.headers.get('access-control-allow-origin'), pageOrigin)
      assert.match(odd.headers.get('access-control-allow-headers') ?? '', /^Authorization, /)
    }
  })
})
