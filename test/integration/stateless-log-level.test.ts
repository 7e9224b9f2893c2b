/**
 * 2026-07-28: a stateless request's `_meta` `io.modelcontextprotocol/logLevel` decides which of
 * the log lines a backend sends during its call the client gets: none without it, and only
 * lines at least as severe as the level named. A backend (SDK server over Streamable HTTP) logs
 * one `info` and one `error` line on the call's stream.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { type Served, serveMcp } from '../fixtures/serve.ts'
import { modernHeaders } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

function chattyServer(): McpServer {
  const server = new McpServer(
    { name: 'chatty', version: '1.0.0' },
    { capabilities: { logging: {} } },
  )
  server.registerTool('chatty', { description: 'Logs info and error' }, async (extra) => {
    for (const level of ['info', 'error'] as const) {
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level, data: `${level} line` },
      })
    }
    return { content: [{ type: 'text', text: 'done' }] }
  })
  return server
}

describe('gateway: log lines of a stateless request follow its _meta logLevel', () => {
  let backend: Served
  let gateway: RunningPortico

  before(async () => {
    backend = await serveMcp(async (req, res) => {
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
      await chattyServer().connect(transport)
      await transport.handleRequest(req, res)
    })
    gateway = await startPortico({
      proxy: { admin_tools: false },
      backends: [{ name: 'b', transport: 'http', url: backend.url }],
    })
  })
  after(async () => {
    await gateway?.close()
    await backend?.close()
  })

  /** The levels of the log lines a stateless call with `logLevel` (if any) was sent. */
  async function levelsFor(logLevel: string | undefined): Promise<string[]> {
    const meta: Record<string, unknown> = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    }
    if (logLevel !== undefined) meta['io.modelcontextprotocol/logLevel'] = logLevel
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...modernHeaders('tools/call', 'b__chatty'),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'b__chatty', arguments: {}, _meta: meta },
      }),
      signal: AbortSignal.timeout(10_000),
    })
    const text = await response.text()
    assert.match(text, /"done"/, text)
    const messages = text
      .split('\n')
      .filter((line) => line.startsWith('data: ') || line.startsWith('{'))
      .map((line) => JSON.parse(line.startsWith('data: ') ? line.slice(6) : line))
    return messages
      .filter((m) => m.method === 'notifications/message')
      .map((m) => String(m.params?.level))
  }

  it('relays every line at least as severe as the level asked for', async () => {
    assert.deepEqual(await levelsFor('debug'), ['info', 'error'])
  })

  it('relays no log line to a request without logLevel', async () => {
    assert.deepEqual(await levelsFor(undefined), [])
  })

  it('relays no info line to a request that asked for error', async () => {
    assert.deepEqual(await levelsFor('error'), ['error'])
  })
})
