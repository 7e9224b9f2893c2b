/**
 * The studio in Chromium against a real SDK server behind a real Portico (the dashboard's own
 * store): a server that pings its client during a call gets its answer (the studio answered
 * no server request, so such a call waited for the server's own timeout, 60 s for the SDK); the
 * "Recorded exchange" of a second call of one tool is that call's row (it was the first's, the
 * store writing in batches); and a failed connect leaves no tools of the last server listed
 * (their calls failed with "Session not found"). From the dashboard fuzzer's third round (K4);
 * each failed before.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js'
import { type Browser, chromium, type Page } from 'playwright-core'
import { z } from 'zod'
import { type StoreSink, storeSink } from '../../src/store/sink.ts'
import { type Served, serveSdkSessions } from '../fixtures/serve.ts'
import { requireChromium, skipWithoutChromium } from '../helpers/chromium.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

const WAIT = { timeout: 15_000 }

function pingingServer(): McpServer {
  const server = new McpServer({ name: 'pinging', version: '1.0.0' })
  server.registerTool('pings', { description: 'Pings its client, then answers' }, async (extra) => {
    await extra.sendRequest({ method: 'ping' }, EmptyResultSchema)
    return { content: [{ type: 'text', text: 'ponged' }] }
  })
  server.registerTool(
    'echo',
    { description: 'Echoes text', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  )
  return server
}

describe('the studio against a server that asks and a store that writes in batches', {
  skip: skipWithoutChromium,
}, () => {
  let dir: string
  let upstream: Served
  let portico: RunningPortico
  let sink: StoreSink
  let browser: Browser
  let page: Page

  before(async () => {
    const chromiumPath = requireChromium()
    dir = mkdtempSync(join(tmpdir(), 'portico-studio-'))
    upstream = await serveSdkSessions(pingingServer)
    const db = join(dir, 'store.db')
    // The store the dashboard reads, written in batches (every 500 ms by default).
    sink = storeSink({ path: db, proxy: 'studio' })
    portico = await startPortico(
      { upstream: upstream.url, name: 'studio', store: { path: db }, dashboard: { enabled: true } },
      { sinks: [sink] },
    )
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
    })
    page = await browser.newPage()
    await page.goto(`${portico.origin}/_portico/#/studio`, WAIT)
    await page.locator('#connect').click(WAIT)
    await page.locator('#studio-tools button', { hasText: 'pings' }).waitFor(WAIT)
  })
  after(async () => {
    await browser?.close()
    await portico?.close()
    await sink?.close()
    await upstream?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('answers the ping a server sends during a call', async () => {
    await page.locator('#studio-tools button', { hasText: 'pings' }).click(WAIT)
    await page.locator('#call-tool').click(WAIT)
    // Before: the ping went unanswered, and the call ended with the server's timeout (60 s).
    await page.locator('#tool-result', { hasText: 'ponged' }).waitFor(WAIT)
  })

  it("shows each call's own recorded exchange", async () => {
    await page.locator('#studio-tools button', { hasText: 'echo' }).click(WAIT)
    const recorded = page.locator('#recorded')
    for (const text of ['short', 'x'.repeat(2000)]) {
      await page.locator('#arg-text').fill(text)
      await page.locator('#call-tool').click(WAIT)
      await page.locator('#tool-result', { hasText: text.slice(0, 50) }).waitFor(WAIT)
      await recorded.filter({ hasText: 'tools/call echo · ok' }).waitFor(WAIT)
    }
    // The second call's request is over 2 KB: its row says so (the first one's is far smaller).
    const shown = (await recorded.textContent()) ?? ''
    const bytesIn = /· ([\d.]+) (B|KB) in/.exec(shown)
    assert.ok(bytesIn, shown)
    assert.equal(bytesIn[2], 'KB', `the second call's row: ${shown}`)
  })

  it('lists no tool of the last server after a connect that failed', async () => {
    await page.locator('#mcp-url').fill('http://127.0.0.1:9/mcp')
    await page.locator('#connect').click(WAIT)
    await page.locator('#studio-status', { hasText: 'Could not connect' }).waitFor(WAIT)
    assert.equal(await page.locator('#studio-tools button').count(), 0)
  })
})
