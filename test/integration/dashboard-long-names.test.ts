/**
 * Names of any length never widen the dashboard: a server whose tool, resource URI and prompt
 * names are thousands of characters long, behind a real Portico with its store and
 * `[dashboard] enabled`, and the Schema and Studio pages measured in headless Chromium (the
 * document's scroll width against the viewport's, on a desktop and a phone). Such a name is cut
 * with an ellipsis and kept whole in the element's title. A 3000-character tool name used to
 * make both pages over 20,000 px wide.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, chromium, type Page } from 'playwright-core'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { type Served, serveMcp } from '../fixtures/serve.ts'
import { requireChromium, skipWithoutChromium } from '../helpers/chromium.ts'
import { initializeBody, MCP_ACCEPT } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { until } from '../helpers/wait.ts'

const WAIT = { timeout: 15_000 }
const LONG_TOOL = `tool_${'x'.repeat(3000)}`
const LONG_URI = `ui://widget/${'y'.repeat(3000)}.html`
const LONG_PROMPT = `prompt_${'z'.repeat(3000)}`
/** What the second page's tool was called with. */
const lateArguments: unknown[] = []
/** The second page's tool: a form with a text and a boolean field. */
const LATE = {
  type: 'object',
  properties: { query: { type: 'string' }, exact: { type: 'boolean' } },
}

/** A minimal MCP server (stateless, JSON answers) listing the long names. */
function longNamesServer(): Promise<Served> {
  const answer = (method: string, params: Record<string, unknown>) => {
    switch (method) {
      case 'initialize':
        return {
          protocolVersion: '2025-11-25',
          capabilities: { tools: {}, resources: {}, prompts: {} },
          // Its own name as long: the Schema page's heading names it.
          serverInfo: { name: `long-names-${'s'.repeat(3000)}`, version: '1.0.0' },
        }
      case 'tools/list':
        // Two pages: the studio must read the second (it showed the first only).
        return params.cursor === 'page-2'
          ? { tools: [{ name: 'late', description: 'On the second page', inputSchema: LATE }] }
          : {
              tools: [
                { name: 'echo', description: 'Echoes', inputSchema: { type: 'object' } },
                { name: LONG_TOOL, description: 'A long name', inputSchema: { type: 'object' } },
              ],
              nextCursor: 'page-2',
            }
      case 'tools/call':
        if (params.name === 'late') {
          lateArguments.push(params.arguments)
          return { content: [{ type: 'text', text: 'late answered' }] }
        }
        return { content: [{ type: 'text', text: `called ${String(params.name).length} chars` }] }
      case 'resources/list':
        return { resources: [{ uri: LONG_URI, name: 'long', mimeType: 'text/html' }] }
      case 'prompts/list':
        return { prompts: [{ name: LONG_PROMPT, description: 'A long prompt' }] }
      default:
        return {}
    }
  }
  return serveMcp(async (req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    for await (const chunk of req) body += chunk
    if (req.method !== 'POST') {
      res.writeHead(405).end()
      return
    }
    const message = JSON.parse(body) as {
      id?: number | string
      method: string
      params?: Record<string, unknown>
    }
    if (message.id === undefined) {
      res.writeHead(202).end()
      return
    }
    const result = answer(message.method, message.params ?? {})
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }))
  })
}

describe('long names in the dashboard (Chromium)', {
  timeout: 110_000,
  skip: skipWithoutChromium,
}, () => {
  const dir = scratchDir('portico-long-names-')
  let upstream: Served
  let sink: StoreSink
  let portico: RunningPortico
  let browser: Browser
  let base: string

  before(async () => {
    const chromiumPath = requireChromium()
    upstream = await longNamesServer()
    const db = join(dir, 'store.db')
    sink = storeSink({ path: db, proxy: 'long', flushMs: 30 })
    portico = await startPortico(
      { upstream: upstream.url, name: 'long', store: { path: db }, dashboard: { enabled: true } },
      { sinks: [sink] },
    )
    base = `${portico.origin}/_portico/`
    // A client lists the tools: the schema page shows what the store captured.
    for (const body of [
      initializeBody({ id: 1 }),
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { cursor: 'page-2' } }),
    ]) {
      const response = await fetch(portico.url, {
        method: 'POST',
        headers: { ...MCP_ACCEPT, 'mcp-protocol-version': '2025-11-25' },
        body,
      })
      assert.equal(response.status, 200)
      await response.text()
    }
    await until(
      async () => {
        const schema = (await (await fetch(`${base}api/schema`)).json()) as {
          proxies: Array<{ tools: Array<{ name: string }> }>
        }
        return schema.proxies[0]?.tools.some((t) => t.name === LONG_TOOL) || undefined
      },
      10_000,
      'the long tool in the captured schema',
    )
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  })

  after(async () => {
    await browser?.close()
    await portico?.close()
    await sink?.close()
    await upstream?.close()
  })

  /** The document's width against the viewport's; `what` names the state in the message. */
  async function fits(page: Page, what: string): Promise<void> {
    const { scroll, width } = (await page.evaluate(
      '({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })',
    )) as { scroll: number; width: number }
    assert.ok(scroll <= width, `${what}: the page is ${scroll}px wide in a ${width}px viewport`)
  }

  async function titleOf(page: Page, selector: string): Promise<string | null> {
    const element = page.locator(selector).first()
    await element.waitFor(WAIT)
    return element.getAttribute('title')
  }

  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    it(`schema and studio fit a ${viewport.width}px viewport; the names are whole in titles`, async () => {
      const page = await browser.newPage({ viewport })
      try {
        await page.goto(`${base}#/schema`, WAIT)
        await page.locator('#tools-long summary').nth(1).waitFor(WAIT)
        await fits(page, 'schema')
        assert.equal(await titleOf(page, '#tools-long summary .name[title^="tool_x"]'), LONG_TOOL)
        await page.locator('#tools-long summary').nth(1).click()
        await fits(page, 'schema with the long tool open')
        assert.equal(await titleOf(page, `#usage-long td[title^="tool_x"]`), LONG_TOOL)

        await page.goto(`${base}#/studio`, WAIT)
        await page.locator('#connect').click()
        const button = page.locator('#studio-tools button[title^="tool_x"]')
        await button.waitFor(WAIT)
        assert.equal(await button.getAttribute('title'), LONG_TOOL)
        assert.equal(await titleOf(page, '#studio-resources .name'), LONG_URI)
        assert.equal(await titleOf(page, '#studio-prompts .name'), LONG_PROMPT)
        await fits(page, 'studio connected')
        await button.click()
        await page.locator('#call-tool').waitFor(WAIT)
        assert.equal(await page.locator('#call-tool').getAttribute('title'), `Call ${LONG_TOOL}`)
        await fits(page, 'studio with the long tool open')
        await page.locator('#call-tool').click()
        await page.locator('#tool-result', { hasText: 'called 3005 chars' }).waitFor(WAIT)
        await fits(page, 'studio after the call')
        // The work area stays beside the lists on a desktop, in view.
        const box = await page.locator('#call-tool').boundingBox()
        assert.ok(box !== null && box.x + box.width <= viewport.width, JSON.stringify(box))

        // The long tool's detail on the Tools page: its heading and captions wrap.
        await until(
          async () =>
            (await (await fetch(`${base}api/targets`)).text()).includes('tool_x') || undefined,
          10_000,
          "the long tool's call in the store",
        )
        await page.goto(`${base}#/targets`, WAIT)
        await page.locator('tr', { hasText: 'tool_x' }).first().click()
        await page.locator('#slowest').waitFor(WAIT)
        await fits(page, "the long tool's detail")
      } finally {
        await page.close()
      }
    })
  }

  it('the studio lists every page of tools, and a form field keeps what the raw JSON says', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    try {
      await page.goto(`${base}#/studio`, WAIT)
      await page.locator('#connect').click()
      const late = page.locator('#studio-tools button', { hasText: 'late' })
      await late.waitFor(WAIT)
      await late.click()
      await page.locator('#raw-args').fill('{"query":"portico","limit":5}')
      await page.locator('#arg-exact').check()
      assert.deepEqual(JSON.parse(await page.locator('#raw-args').inputValue()), {
        query: 'portico',
        limit: 5,
        exact: true,
      })
      await page.locator('#call-tool').click()
      await page.locator('#tool-result', { hasText: 'late answered' }).waitFor(WAIT)
      assert.deepEqual(lateArguments, [{ query: 'portico', limit: 5, exact: true }])
    } finally {
      await page.close()
    }
  })

  it('the studio reads an answer framed with CRLF whose CR and LF come in two chunks', async () => {
    // Another server, reached directly (the studio takes any MCP URL): sse-starlette, the
    // Python SDK's, ends lines with CRLF, and a chunk may end between the two.
    const crlf = await serveMcp(async (req: IncomingMessage, res: ServerResponse) => {
      let body = ''
      for await (const chunk of req) body += chunk
      if (req.method !== 'POST') {
        res.writeHead(405).end()
        return
      }
      const message = JSON.parse(body) as { id?: number; method: string }
      if (message.id === undefined) {
        res.writeHead(202).end()
        return
      }
      const result =
        message.method === 'initialize'
          ? {
              protocolVersion: '2025-06-18',
              capabilities: { tools: {} },
              serverInfo: { name: 'crlf', version: '1' },
            }
          : message.method === 'tools/list'
            ? { tools: [{ name: 'crlf', inputSchema: { type: 'object' } }] }
            : { content: [{ type: 'text', text: 'crlf answered' }] }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(
        `event: message\r\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result })}\r\n\r`,
      )
      await new Promise((resolve) => setTimeout(resolve, 200))
      res.end('\n')
    })
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    try {
      await page.goto(`${base}#/studio`, WAIT)
      await page.locator('#mcp-url').fill(crlf.url)
      await page.locator('#connect').click()
      await page.locator('#studio-tools button[title="crlf"]').click()
      await page.locator('#call-tool').click()
      await page.locator('#tool-result', { hasText: 'crlf answered' }).waitFor(WAIT)
    } finally {
      await page.close()
      await crlf.close()
    }
  })

  it('a page that answers after the user moved on does not replace the page moved to', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    try {
      await page.goto(`${base}#/sessions`, WAIT)
      await page.locator('#main h1', { hasText: 'Sessions' }).waitFor(WAIT)
      // The overview's data comes late (a slow 24 h query); the user opens Sessions meanwhile.
      let delayed = 0
      await page.route('**/api/overview*', async (route) => {
        delayed++
        await new Promise((resolve) => setTimeout(resolve, 1500))
        await route.continue()
      })
      await page.locator('#nav a', { hasText: 'Overview' }).click()
      await until(() => delayed > 0 || undefined, 5000, 'the overview to ask for its data')
      await page.locator('#nav a', { hasText: 'Sessions' }).click()
      await page.locator('#main h1', { hasText: 'Sessions' }).waitFor(WAIT)
      await new Promise((resolve) => setTimeout(resolve, 2000))
      assert.equal(await page.locator('#main h1').first().textContent(), 'Sessions')
    } finally {
      await page.close()
    }
  })
})
