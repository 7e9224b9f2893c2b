/**
 * A real MCP Apps server from npm (`@modelcontextprotocol/server-basic-vanillajs`, SSE answers,
 * no CSP of its own) behind Portico, read with the official v2 SDK client: its widget gets
 * exactly the configured policy in both shapes, and everything else passes through untouched.
 */
import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { type Spawned, spawnOnZero } from '../helpers/processes.ts'

const WIDGET = 'ui://get-time/mcp-app.html'
const PUBLIC = 'https://apps.example.com'

// The package exports only its server module; its CLI (`bin`) sits beside it.
const serverScript = join(
  dirname(fileURLToPath(import.meta.resolve('@modelcontextprotocol/server-basic-vanillajs'))),
  'index.js',
)

const EXPECTED = {
  ui: {
    csp: {
      connectDomains: [PUBLIC, 'https://api.example.com'],
      resourceDomains: [PUBLIC, 'https://cdn.example.com'],
      frameDomains: [],
      baseUriDomains: [],
    },
  },
  'openai/widgetCSP': {
    connect_domains: [PUBLIC, 'https://api.example.com'],
    resource_domains: [PUBLIC, 'https://cdn.example.com'],
    frame_domains: [],
    redirect_domains: [],
  },
}

describe('CSP in front of @modelcontextprotocol/server-basic-vanillajs', () => {
  let app: Spawned & { port: number }
  let portico: RunningPortico
  let client: Client
  let upstream: string

  before(async () => {
    app = await spawnOnZero(serverScript, [], { env: { NODE_ENV: 'production' } })
    upstream = `http://127.0.0.1:${app.port}/mcp`
    portico = await startPortico({
      upstream,
      public_url: PUBLIC,
      csp: {
        connectDomains: { domains: ['https://api.example.com'] },
        resourceDomains: { domains: ['https://cdn.example.com'] },
      },
    })
    client = new Client({ name: 'csp-npm-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
  })
  after(async () => {
    await client?.close()
    await portico?.close()
    await app?.stop()
  })

  it('resources/list: the ui:// entry gets both shapes, created from config', async () => {
    const { resources } = await client.listResources()
    const widget = resources.find((r) => r.uri === WIDGET)
    assert.ok(widget, 'the widget resource is listed')
    assert.deepEqual(widget._meta, EXPECTED)
  })

  it('resources/read: the HTML content item gets both shapes; the HTML is untouched', async () => {
    const { contents } = await client.readResource({ uri: WIDGET })
    const [item] = contents
    assert.deepEqual(item?._meta, EXPECTED)
    assert.ok(item && 'text' in item && item.text.includes('<html'), 'widget HTML kept')
  })

  it('tools/list: a tool that only points at its widget is left as the server wrote it', async () => {
    const { tools } = await client.listTools()
    assert.deepEqual(tools.find((t) => t.name === 'get-time')?._meta, {
      ui: { resourceUri: WIDGET },
      'ui/resourceUri': WIDGET,
    })
  })

  it('an answer with nothing to change is the upstream SSE stream byte for byte', async () => {
    const init = {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
    }
    const direct = await fetch(upstream, init)
    const proxied = await fetch(portico.url, init)
    assert.match(proxied.headers.get('content-type') ?? '', /text\/event-stream/)
    assert.equal(await proxied.text(), await direct.text())
  })
})
