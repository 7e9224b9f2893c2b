/**
 * CSP rewriting end to end: an SDK-written MCP App that declares localhost CSP, behind Portico,
 * read with the official SDK client, in JSON and in SSE answers. The metadata the client gets
 * must be exactly what the config asks for, in both shapes.
 */
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { ConfigInput } from '../../src/config/schema.ts'
import {
  MCP_APP_MIME,
  PAYMENT_URI,
  type RunningApp,
  startCspApp,
  startLegacyCspApp,
} from '../fixtures/csp-app.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { startRawUpstream } from '../helpers/raw-upstream.ts'

const PUBLIC = 'https://mcp.example.com'

const CSP: ConfigInput['csp'] = {
  widgetDomain: 'https://widgets.example.com',
  connectDomains: { domains: ['https://api.example.com'] },
  resourceDomains: { domains: ['https://cdn.example.com'] },
  frameDomains: { domains: ['https://js.stripe.com'] },
  widget: [
    {
      match: 'ui://widget/pay*',
      connectDomains: ['https://api.stripe.com'],
      redirectDomains: ['https://checkout.stripe.com'],
      redirectDomainsMode: 'replace',
    },
  ],
}

interface Lists {
  connect: string[]
  resource: string[]
  frame: string[]
  baseUri: string[]
  redirect: string[]
}

/** Both shapes of one merged policy, as a host reads them. */
function shapes(lists: Lists, widgetDomain = true) {
  return {
    ui: {
      csp: {
        connectDomains: lists.connect,
        resourceDomains: lists.resource,
        frameDomains: lists.frame,
        baseUriDomains: lists.baseUri,
      },
    },
    'openai/widgetCSP': {
      connect_domains: lists.connect,
      resource_domains: lists.resource,
      frame_domains: lists.frame,
      redirect_domains: lists.redirect,
    },
    ...(widgetDomain ? { 'openai/widgetDomain': 'https://widgets.example.com' } : {}),
  }
}

/** The payment widget's read content item: its own OpenAI declaration merged, both shapes. */
function paymentReadMeta() {
  const both = shapes({
    connect: PAYMENT_CONNECT,
    resource: [PUBLIC, 'https://cdn.partner.com', 'https://cdn.example.com'],
    frame: ['https://js.stripe.com'],
    baseUri: [],
    redirect: ['https://checkout.stripe.com'],
  })
  return { ...both, ui: { prefersBorder: true, ...both.ui } }
}

/** The app behind a Portico configured with CSP, and an SDK client connected through it. */
async function proxiedApp(
  start: () => Promise<RunningApp>,
  transport: (portico: RunningPortico) => Transport,
): Promise<{ app: RunningApp; portico: RunningPortico; client: Client }> {
  const app = await start()
  const portico = await startPortico({ upstream: app.url, public_url: `${PUBLIC}/mcp`, csp: CSP })
  const client = new Client({ name: 'csp-test', version: '1.0.0' })
  await client.connect(transport(portico))
  return { app, portico, client }
}

async function closeAll(client?: Client, portico?: RunningPortico, app?: RunningApp) {
  await client?.close()
  await portico?.close()
  await app?.close()
}

const PAYMENT_CONNECT = [
  PUBLIC,
  'https://api.partner.com',
  'https://api.example.com',
  'https://api.stripe.com',
]

for (const json of [true, false]) {
  describe(`CSP through Portico (${json ? 'JSON' : 'SSE'} answers)`, () => {
    let app: RunningApp
    let portico: RunningPortico
    let client: Client

    before(async () => {
      ;({ app, portico, client } = await proxiedApp(
        () => startCspApp({ json }),
        (p) => new StreamableHTTPClientTransport(new URL(p.url)),
      ))
    })
    after(() => closeAll(client, portico, app))

    it('resources/list: the widget entry gets the merged policy; other entries are untouched', async () => {
      const { resources } = await client.listResources()
      const payment = resources.find((r) => r.uri === PAYMENT_URI)
      assert.deepEqual(payment?._meta, {
        ...shapes({
          connect: PAYMENT_CONNECT,
          resource: [PUBLIC, 'https://cdn.example.com'],
          frame: ['https://js.stripe.com'],
          baseUri: [],
          redirect: ['https://checkout.stripe.com'],
        }),
      })
      const readme = resources.find((r) => r.uri === 'file:///readme.txt')
      assert.equal(readme?._meta, undefined)
    })

    it('resources/read: the content item is rewritten from its own declaration', async () => {
      const { contents } = await client.readResource({ uri: PAYMENT_URI })
      const [item] = contents
      assert.equal(item?.mimeType, MCP_APP_MIME)
      assert.deepEqual(item?._meta, paymentReadMeta())
    })

    it('resources/templates/list: templates are matched on uriTemplate', async () => {
      const { resourceTemplates } = await client.listResourceTemplates()
      const [report] = resourceTemplates
      assert.deepEqual(report?._meta, {
        ...shapes({
          connect: [PUBLIC, 'https://api.example.com'],
          resource: [PUBLIC, 'https://cdn.example.com'],
          frame: ['https://js.stripe.com'],
          baseUri: [],
          redirect: [],
        }),
      })
    })

    it('tools/list: a tool CSP is kept consistent with the resource policy', async () => {
      const { tools } = await client.listTools()
      const pay = tools.find((t) => t.name === 'pay')
      assert.deepEqual(pay?._meta, {
        ...shapes({
          connect: [PUBLIC, 'https://api.example.com', 'https://api.stripe.com'],
          resource: [PUBLIC, 'https://cdn.example.com'],
          frame: ['https://js.stripe.com'],
          baseUri: [],
          redirect: ['https://checkout.stripe.com'],
        }),
        ui: {
          resourceUri: PAYMENT_URI,
          csp: {
            connectDomains: [PUBLIC, 'https://api.example.com', 'https://api.stripe.com'],
            resourceDomains: [PUBLIC, 'https://cdn.example.com'],
            frameDomains: ['https://js.stripe.com'],
            baseUriDomains: [],
          },
        },
        'openai/outputTemplate': PAYMENT_URI,
      })
      assert.equal(tools.find((t) => t.name === 'echo')?._meta, undefined)
    })

    it('tools/call: result _meta and embedded widget resources are rewritten', async () => {
      const result = await client.callTool({ name: 'pay', arguments: {} })
      const global = {
        connect: [PUBLIC, 'https://api.example.com'],
        resource: [PUBLIC, 'https://cdn.example.com'],
        frame: ['https://js.stripe.com'],
        baseUri: [],
        redirect: [],
      }
      assert.deepEqual(result._meta, shapes(global))
      const content = result.content as Array<{ type: string; resource?: { _meta?: unknown } }>
      assert.deepEqual(
        content[1]?.resource?._meta,
        shapes({
          ...global,
          connect: [PUBLIC, 'https://api.example.com', 'https://api.stripe.com'],
          redirect: ['https://checkout.stripe.com'],
        }),
      )
    })

    function readRequest(uri: string): RequestInit {
      return {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }),
      }
    }

    it(`the rewritten answer is still ${json ? 'a JSON body' : 'an SSE event'}`, async () => {
      const response = await fetch(portico.url, readRequest(PAYMENT_URI))
      const type = response.headers.get('content-type') ?? ''
      const text = await response.text()
      assert.match(type, json ? /application\/json/ : /text\/event-stream/)
      const data = json ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '')
      const message = JSON.parse(data)
      assert.equal(message.id, 1)
      assert.deepEqual(
        message.result.contents[0]._meta['openai/widgetCSP'].connect_domains,
        PAYMENT_CONNECT,
      )
    })

    it('a response with nothing to rewrite is forwarded byte for byte', async () => {
      const init = readRequest('file:///readme.txt')
      const direct = await (await fetch(app.url, init)).text()
      const proxied = await (await fetch(portico.url, init)).text()
      assert.match(direct, /not a widget/)
      assert.equal(proxied, direct)
    })
  })
}

describe('CSP through Portico (legacy HTTP+SSE transport)', () => {
  let app: RunningApp
  let portico: RunningPortico
  let client: Client

  before(async () => {
    ;({ app, portico, client } = await proxiedApp(
      () => startLegacyCspApp(),
      (p) => new SSEClientTransport(new URL('/sse', p.origin)),
    ))
  })
  after(() => closeAll(client, portico, app))

  it('responses arriving on the stream are rewritten like any other', async () => {
    const { resources } = await client.listResources()
    const listed = resources.find((r) => r.uri === PAYMENT_URI)?._meta
    assert.deepEqual(
      (listed?.['openai/widgetCSP'] as { connect_domains?: unknown } | undefined)?.connect_domains,
      PAYMENT_CONNECT,
    )
    const { contents } = await client.readResource({ uri: PAYMENT_URI })
    assert.deepEqual(contents[0]?._meta, paymentReadMeta())
    const { tools } = await client.listTools()
    assert.equal(tools.find((t) => t.name === 'echo')?._meta, undefined)
  })
})

describe('CSP through Portico: a legacy SSE server that writes ids its own way', () => {
  it('an answer whose id is "1" for request 1 is still rewritten', async () => {
    const streams = new Map<string, ServerResponse>()
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      if (req.method === 'GET' && url.pathname === '/sse') {
        const sid = `s${streams.size}`
        streams.set(sid, res)
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write(`event: endpoint\ndata: /messages?sessionId=${sid}\n\n`)
        return
      }
      let body = ''
      req.on('data', (chunk) => {
        body += chunk
      })
      req.on('end', () => {
        const stream = streams.get(url.searchParams.get('sessionId') ?? '')
        if (stream === undefined) return void res.writeHead(404).end()
        res.writeHead(202).end()
        const message = JSON.parse(body) as {
          id?: number
          method: string
          params?: { protocolVersion?: string }
        }
        if (message.id === undefined) return
        const send = (id: unknown, result: object) =>
          stream.write(
            `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, result })}\n\n`,
          )
        if (message.method === 'initialize') {
          send(message.id, {
            protocolVersion: message.params?.protocolVersion,
            capabilities: { resources: {} },
            serverInfo: { name: 'loose-ids', version: '1' },
          })
          return
        }
        const contents = [
          {
            uri: 'ui://widget/loose.html',
            mimeType: MCP_APP_MIME,
            text: '<p>x</p>',
            _meta: { ui: { csp: { connectDomains: ['https://evil.example'] } } },
          },
        ]
        // The answer under the id as a string, which the SDK client takes for its own.
        send(String(message.id), { contents })
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const portico = await startPortico({
      upstream: `http://127.0.0.1:${port}/sse`,
      public_url: `${PUBLIC}/mcp`,
      csp: { connectDomains: { mode: 'replace', domains: ['https://api.example.com'] } },
    })
    const client = new Client({ name: 'csp-test', version: '1.0.0' })
    const errors: string[] = []
    client.onerror = (error) => errors.push(error.message)
    try {
      await client.connect(new SSEClientTransport(new URL('/sse', portico.origin)))
      const { contents } = await client.readResource({ uri: 'ui://widget/loose.html' })
      const csp = (contents[0]?._meta?.ui as { csp?: { connectDomains?: unknown } } | undefined)
        ?.csp
      assert.deepEqual(csp?.connectDomains, [PUBLIC, 'https://api.example.com'])
      assert.deepEqual(errors, [])
    } finally {
      await client.close()
      await portico.close()
      server.closeAllConnections()
      server.close()
    }
  })
})

/** `resources/read` of `ui://w/a.html`, POSTed as a stateless 2025-06-18 client does. */
function readWidget(url: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'resources/read',
      params: { uri: 'ui://w/a.html' },
    }),
  })
}

describe('CSP through Portico: an answer that names a key twice', () => {
  it('is written again from what was checked, never passed on for a first-key reader (JSON and SSE)', async () => {
    // The policy Portico writes for this widget, written last: JSON.parse (last key wins) sees
    // nothing to change; a reader keeping the first key saw the app's `*` and its frame.
    const ok =
      '{"connectDomains":["https://mcp.example.com"],"resourceDomains":["https://mcp.example.com"],"frameDomains":[],"baseUriDomains":[]}'
    const okOpenAi =
      '{"connect_domains":["https://mcp.example.com"],"resource_domains":["https://mcp.example.com"],"frame_domains":[],"redirect_domains":[]}'
    const meta = `{"ui":{"csp":{"frameDomains":["https://evil-frame.example"],"connectDomains":["*"]},"csp":${ok}},"openai/widgetCSP":{"frame_domains":["*"]},"openai/widgetCSP":${okOpenAi}}`
    const upstream = await startRawUpstream('twice', (res, request) => {
      const answer = `{"jsonrpc":"2.0","id":${JSON.stringify(request.id)},"result":{"contents":[{"uri":"ui://w/a.html","mimeType":"${MCP_APP_MIME}","text":"x","_meta":${meta}}]}}`
      if (request.path.includes('sse')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.end(`event: message\ndata: ${answer}\n\n`)
      } else {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(answer)
      }
    })
    const portico = await startPortico({
      upstream: upstream.url,
      public_url: `${PUBLIC}/mcp`,
      csp: { frameDomains: { mode: 'replace', domains: [] } },
    })
    try {
      for (const search of ['', '?sse']) {
        const response = await readWidget(`${portico.url}${search}`)
        const text = await response.text()
        assert.equal(response.status, 200, text)
        const type = response.headers.get('content-type') ?? ''
        assert.ok(type.startsWith(search ? 'text/event-stream' : 'application/json'), type)
        assert.doesNotMatch(text, /evil-frame|\["\*"\]/, search)
        assert.match(text, /"frameDomains":\[\]/, search)
      }
    } finally {
      await portico.close()
      await upstream.close()
    }
  })
})

describe('CSP through Portico: widget URIs an upstream makes up', () => {
  it('a megabyte URI against `match = "ui://*/*.html"` is matched without freezing Portico', async () => {
    // `ui://` and a megabyte of slashes: each split tried by a backtracking `.*/.*\.html`
    // (quadratic: 15 s at 120,000 slashes, minutes at this size, every client waiting).
    const slashes = `ui://${'/'.repeat(1_000_000)}`
    const uris = [slashes, `${slashes}x.html`]
    const upstream = await startRawUpstream('made-up-uris', (res, request) => {
      const contents = uris.map((uri) => ({
        uri,
        mimeType: MCP_APP_MIME,
        text: '<p>hi</p>',
        _meta: { ui: { csp: { connectDomains: ['https://up.example.com'] } } },
      }))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: { contents } }))
    })
    const portico = await startPortico({
      upstream: upstream.url,
      csp: {
        widget: [{ match: 'ui://*/*.html', connectDomains: ['https://api.example.com'] }],
      },
    })
    try {
      const start = performance.now()
      const response = await readWidget(portico.url)
      const { result } = (await response.json()) as {
        result: {
          contents: Array<{ uri: string; _meta: { ui: { csp: Record<string, string[]> } } }>
        }
      }
      const ms = performance.now() - start
      // Generous: it takes well under a second.
      assert.ok(ms < 10_000, `took ${Math.round(ms)} ms`)
      const connect = result.contents.map((item) => item._meta.ui.csp.connectDomains)
      assert.deepEqual(connect, [
        ['https://up.example.com'],
        ['https://up.example.com', 'https://api.example.com'],
      ])
      assert.deepEqual(
        result.contents.map((item) => item.uri),
        uris,
      )
    } finally {
      await portico.close()
      await upstream.close()
    }
  })
})
