#!/usr/bin/env node
// Takes the docs/ screenshots of the dashboard and studio (run after `npm run build`, with
// Chromium on the PATH): a store with six hours of synthetic traffic plus real calls through a
// running Portico, then each page at 1280×800 (and the overview on a phone). Not a test.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { chromium } from 'playwright-core'
import { syntheticEvent } from '../dist/bench/store.js'
import { Logger } from '../dist/src/observe/logger.js'
import { createPortico } from '../dist/src/portico.js'
import { Ingestor } from '../dist/src/store/ingest.js'
import { openStore } from '../dist/src/store/open.js'
import { storeSink } from '../dist/src/store/sink.js'
import { startCspApp } from '../dist/test/fixtures/csp-app.js'
import { startStoreUpstream } from '../dist/test/fixtures/store-upstream.js'

const OUT = join(import.meta.dirname, '..', 'docs')
const dir = mkdtempSync(join(tmpdir(), 'portico-shots-'))
const db = join(dir, 'store.db')
const HOURS = 6

const store = openStore(db, { create: true })
const ingestor = new Ingestor(store)
const now = Date.now()
const rows = 60_000
const batch = []
for (let i = 0; i < rows; i++) {
  const event = syntheticEvent(
    i,
    now - HOURS * 3_600_000 + Math.floor((i / rows) * HOURS * 3_600_000) - 120_000,
    i % 3 ? 'main' : 'search',
  )
  batch.push({
    ...event,
    sessionId: `s-${Math.floor(i / 40)}`,
    ...(i % 40 === 0
      ? { client: { name: ['claude-code', 'cursor', 'chatgpt'][(i / 40) % 3], version: '1.4.2' } }
      : {}),
  })
  if (batch.length === 5000) ingestor.write(batch.splice(0))
}
if (batch.length) ingestor.write(batch)
store.close()

const quiet = { logger: new Logger({ level: 'silent' }) }
const upstream = await startStoreUpstream()
const sink = storeSink({ path: db, proxy: 'main', flushMs: 30 })
const portico = createPortico(
  {
    upstream: upstream.url,
    name: 'main',
    host: '127.0.0.1',
    port: 0,
    access_log: false,
    store: { path: db },
    dashboard: { enabled: true },
  },
  { ...quiet, sinks: [sink] },
)
const { url } = await portico.listen()
const app = await startCspApp({
  json: false,
  html: `<!doctype html><html><head><title>payment</title></head><body><h1>Payment widget</h1><script>fetch('https://api.partner.com/ok').catch(()=>{});fetch('https://tracker.example.net/pixel').catch(()=>{})</script></body></html>`,
})
const apps = createPortico(
  {
    upstream: app.url,
    name: 'apps',
    host: '127.0.0.1',
    port: 0,
    access_log: false,
    store: { enabled: false },
    public_url: 'https://mcp.example.com',
  },
  quiet,
)
const appsUrl = (await apps.listen()).url

const client = new Client({ name: 'claude-code', version: '1.4.2' })
const transport = new StreamableHTTPClientTransport(new URL(url))
await client.connect(transport)
await client.listTools()
for (const name of ['fast', 'slow', 'fast', 'fails', 'big', 'fast', 'slow', 'fails', 'fast'])
  await client.callTool({ name })
await client.callTool({ name: 'echo', arguments: { text: 'hello' } })
await new Promise((r) => setTimeout(r, 500))

const base = `${new URL(url).origin}/_portico/`
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
})
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
async function shot(hash, ready, file, before) {
  await page.goto(`${base}#/${hash}`)
  await page.locator(ready).first().waitFor({ timeout: 15_000 })
  if (before) await before()
  await page.waitForTimeout(400)
  await page.screenshot({ path: join(OUT, file) })
  console.log('wrote', file)
}
await shot('overview?since=6h', '.chart .uplot', 'dashboard-overview.png')
await shot('targets?since=6h&name=run_query&kind=tool', '#slowest', 'dashboard-tools.png')
await shot('errors?since=6h', '#error-groups', 'dashboard-errors.png')
await shot('sessions?since=6h', '#sessions', 'dashboard-sessions.png')
await shot(
  `session?id=${encodeURIComponent(transport.sessionId)}`,
  '#timeline',
  'dashboard-session.png',
)
await shot('clients?since=24h', '#clients', 'dashboard-clients.png')
await shot('schema?since=6h&proxy=main', '#tools-main', 'dashboard-schema.png')
await shot('gateway', '#backends', 'dashboard-gateway.png')
await shot('live', '#live-status', 'dashboard-live.png', async () => {
  await page.getByText('Connected').waitFor()
  for (const name of ['fast', 'slow', 'fails', 'fast']) await client.callTool({ name })
  await page.locator('#live-rows tr').nth(3).waitFor()
})
await shot('studio', '#mcp-url', 'studio-tool.png', async () => {
  await page.locator('#connect').click()
  await page.locator('#studio-tools button', { hasText: 'echo' }).click()
  await page.locator('#arg-text').fill('hello from the studio')
  await page.locator('#call-tool').click()
  await page.locator('#tool-result', { hasText: 'hello from the studio' }).waitFor()
})
await shot('studio', '#mcp-url', 'studio-widget.png', async () => {
  await page.locator('#mcp-url').fill(appsUrl)
  await page.locator('#connect').click()
  await page.locator('#studio-resources button').first().click()
  await page.locator('#violations-claude li').first().waitFor()
  await page.locator('#violations-chatgpt li').first().waitFor()
  await page.locator('#studio-work').scrollIntoViewIfNeeded()
})
const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true })
await phone.goto(`${base}#/overview?since=6h`)
await phone.locator('.chart .uplot').first().waitFor()
await phone.waitForTimeout(400)
await phone.screenshot({ path: join(OUT, 'dashboard-phone.png') })
console.log('wrote dashboard-phone.png')

await browser.close()
await client.close()
await portico.close()
await apps.close()
await app.close()
await sink.close()
await upstream.close()
rmSync(dir, { recursive: true, force: true })
