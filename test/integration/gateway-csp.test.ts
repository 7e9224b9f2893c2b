/**
 * The CSP ResponseRewriter in gateway mode: an MCP App backend that declares localhost CSP,
 * read through the gateway under its namespaced `ui://` URI, comes back with the configured
 * policy (the rewriter sees the client-facing response, namespaced URIs included).
 */
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { PAYMENT_URI, type RunningApp, startCspApp } from '../fixtures/csp-app.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

let app: RunningApp
let gateway: RunningPortico

before(async () => {
  app = await startCspApp({ json: true })
  gateway = await startPortico({
    public_url: 'https://mcp.example.com',
    csp: { connectDomains: { domains: ['https://api.example.com'] } },
    backends: [{ name: 'app', transport: 'http', url: app.url }],
  })
})

after(async () => {
  await gateway?.close()
  await app?.close()
})

it('rewrites widget CSP on resources read through the gateway', async () => {
  const client = new Client({ name: 'gateway-csp', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)))
  try {
    const uri = PAYMENT_URI.replace('ui://', 'ui://app__')
    const listed = (await client.listResources()).resources.find((r) => r.uri === uri)
    assert.ok(listed, 'the widget is listed under its namespaced URI')
    const read = await client.readResource({ uri })
    const item = read.contents[0]
    assert.equal(item?.uri, uri)
    const csp = (item?._meta as { ui?: { csp?: { connectDomains?: string[] } } } | undefined)?.ui
      ?.csp
    assert.ok(csp?.connectDomains?.includes('https://api.example.com'), JSON.stringify(item?._meta))
    assert.ok(!csp?.connectDomains?.some((d) => d.includes('localhost')), JSON.stringify(csp))
  } finally {
    await client.close()
  }
})

it("counts a backend added over the admin API as one of the widgets' own servers", async () => {
  // The widget names the private address of a backend added at run time: before, only the
  // file's backends counted, and that address reached every client.
  const added = 'http://widgets-svc:9000'
  const declaring = await startCspApp({ json: true, connect: [`${added}/api`] })
  const portico = await startPortico({
    public_url: 'https://mcp.example.com',
    admin: { enabled: true },
    proxy: { admin_tools: false },
    backends: [{ name: 'app', transport: 'http', url: declaring.url }],
  })
  const client = new Client({ name: 'gateway-csp-added', version: '1.0.0' })
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(portico.url)))
    const connectOf = async () => {
      const read = await client.readResource({ uri: PAYMENT_URI.replace('ui://', 'ui://app__') })
      const meta = read.contents[0]?._meta as { ui?: { csp?: { connectDomains?: string[] } } }
      return meta.ui?.csp?.connectDomains ?? []
    }
    assert.ok((await connectOf()).includes(`${added}/api`), 'not a self before it is added')
    const add = await fetch(`${portico.origin}/admin/backends/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'svc', transport: 'http', url: `${added}/mcp` }),
    })
    assert.equal(add.status, 201, await add.text())
    const after = await connectOf()
    assert.ok(!after.some((source) => source.includes('widgets-svc')), JSON.stringify(after))
    assert.ok(after.includes('https://mcp.example.com'), JSON.stringify(after))
  } finally {
    await client.close()
    await portico.close()
    await declaring.close()
  }
})
