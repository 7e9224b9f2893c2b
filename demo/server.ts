/**
 * The bundled demo MCP server (official SDK, Streamable HTTP with sessions): a few tools
 * (one slow with progress, one that fails), a resource, a prompt and one MCP App widget, so a
 * new user sees every kind of exchange through Portico without writing a server.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'

export const WIDGET_URI = 'ui://widget/weather.html'
const WIDGET_MIME = 'text/html;profile=mcp-app'

const WIDGET_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Weather</title></head>
<body><h1 id="city">Weather</h1><p id="forecast">Waiting for the tool result…</p>
<script>
window.addEventListener('message', (event) => {
  const data = event.data && event.data.params && event.data.params.structuredContent
  if (data) { document.getElementById('city').textContent = data.city
    document.getElementById('forecast').textContent = data.forecast }
})
</script></body></html>`

function buildServer(): McpServer {
  const server = new McpServer(
    { name: 'portico-demo', version: '1.0.0' },
    { capabilities: { logging: {} } },
  )
  server.registerTool(
    'echo',
    { description: 'Echoes the text back', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  )
  server.registerTool(
    'add',
    { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({
      content: [{ type: 'text', text: String(a + b) }],
      structuredContent: { sum: a + b },
    }),
  )
  server.registerTool(
    'slow_task',
    {
      description: 'Works for a while and reports progress (default 5 steps of 400 ms)',
      inputSchema: {
        steps: z.number().int().min(1).max(50).optional(),
        step_ms: z.number().int().min(0).max(5000).optional(),
      },
    },
    async ({ steps = 5, step_ms = 400 }, extra) => {
      const token = extra._meta?.progressToken
      for (let i = 1; i <= steps; i++) {
        await new Promise((resolve) => setTimeout(resolve, step_ms))
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: {
              progressToken: token,
              progress: i,
              total: steps,
              message: `step ${i} of ${steps}`,
            },
          })
        }
      }
      return { content: [{ type: 'text', text: `done after ${steps} steps` }] }
    },
  )
  server.registerTool(
    'flaky',
    { description: 'Always fails, to show tool errors in the reports', inputSchema: {} },
    async () => ({
      isError: true,
      content: [{ type: 'text', text: 'the flaky tool failed, as it always does' }],
    }),
  )
  server.registerTool(
    'show_weather',
    {
      description: 'Shows a weather widget (an MCP App)',
      inputSchema: { city: z.string() },
      _meta: { ui: { resourceUri: WIDGET_URI }, 'openai/outputTemplate': WIDGET_URI },
    },
    async ({ city }) => ({
      content: [{ type: 'text', text: `Sunny in ${city}` }],
      structuredContent: { city, forecast: 'Sunny, 22°C' },
    }),
  )
  server.registerResource(
    'readme',
    'demo://readme',
    { description: 'What this demo server offers', mimeType: 'text/markdown' },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'text/markdown',
          text: '# Portico demo\nTools: echo, add, slow_task, flaky, show_weather.',
        },
      ],
    }),
  )
  server.registerResource(
    'weather-widget',
    WIDGET_URI,
    { description: 'The weather widget', mimeType: WIDGET_MIME },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: WIDGET_MIME,
          text: WIDGET_HTML,
          _meta: {
            ui: {
              csp: {
                connectDomains: ['http://localhost:4444'],
                resourceDomains: ['http://localhost:4444'],
              },
            },
          },
        },
      ],
    }),
  )
  server.registerPrompt(
    'summarize',
    { description: 'Asks the model to summarize a text', argsSchema: { text: z.string() } },
    ({ text }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Summarize:\n\n${text}` } }],
    }),
  )
  return server
}

export interface DemoServer {
  url: string
  close(): Promise<void>
}

/** Starts the demo server on `host:port` (0 = a free port); the MCP endpoint is `/mcp`. */
export async function startDemoServer(
  options: { host?: string; port?: number } = {},
): Promise<DemoServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>()
  const http = createServer((req, res) => {
    void handle(req, res, transports).catch(() => {
      if (!res.headersSent) res.writeHead(500).end()
    })
  })
  http.listen(options.port ?? 0, options.host ?? '127.0.0.1')
  await once(http, 'listening')
  const { port } = http.address() as AddressInfo
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/mcp`,
    async close() {
      await Promise.allSettled([...transports.values()].map((t) => t.close()))
      http.closeAllConnections()
      http.close()
    },
  }
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  transports: Map<string, StreamableHTTPServerTransport>,
): Promise<void> {
  if (!req.url?.startsWith('/mcp')) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
    return
  }
  const sessionId = req.headers['mcp-session-id']
  const existing = typeof sessionId === 'string' ? transports.get(sessionId) : undefined
  if (existing) return existing.handleRequest(req, res)
  if (req.method !== 'POST') {
    res.writeHead(sessionId ? 404 : 400, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        jsonrpc: '2.0',
        error: { code: -32000, message: sessionId ? 'Session not found' : 'Missing session' },
      }),
    )
    return
  }
  const body = await readJson(req)
  if (sessionId !== undefined || !isInitializeRequest(body)) {
    res.writeHead(sessionId ? 404 : 400, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        jsonrpc: '2.0',
        error: {
          code: -32000,
          message: sessionId ? 'Session not found' : 'Bad Request: no session',
        },
      }),
    )
    return
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => void transports.set(id, transport),
  })
  transport.onclose = () => {
    if (transport.sessionId) transports.delete(transport.sessionId)
  }
  await buildServer().connect(transport)
  await transport.handleRequest(req, res, body)
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    return undefined
  }
}
