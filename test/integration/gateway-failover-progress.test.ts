/**
 * Progress across a failover, with real node:http backends: the primary reports progress on a
 * read-only call and drops its connection; its failover takes the call and reports progress
 * from its own start. The client sees one call whose progress only increases (MCP requires it
 * of a token): the failover's lower values are not relayed. Before, each backend tried kept its
 * own floor, and the client saw 5, 6, 1, 2, 7.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, it } from 'node:test'
import { MCP_ACCEPT, openSession } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'

interface Message {
  id?: number
  method: string
  params?: { _meta?: { progressToken?: string } }
}

async function textOf(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += chunk
  return text
}

/**
 * A backend whose read-only tool `read` answers an SSE stream with `progress` values, then its
 * result, or drops the connection instead (`drops`); other methods are answered in JSON.
 */
function progressBackend(progress: number[], drops: boolean): Server {
  return createServer(async (req, res) => {
    const message = JSON.parse(await textOf(req)) as Message
    if (message.id === undefined) {
      res.writeHead(202).end()
      return
    }
    if (message.method === 'tools/call') {
      await streamProgress(res, message, progress, drops)
      return
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, ...answerTo(message.method) }))
  })
}

function answerTo(method: string): Record<string, unknown> {
  if (method === 'initialize') {
    return {
      result: {
        protocolVersion: '2025-11-25',
        capabilities: { tools: {} },
        serverInfo: { name: 'progress', version: '1' },
      },
    }
  }
  if (method === 'tools/list') {
    const read = {
      name: 'read',
      inputSchema: { type: 'object' },
      annotations: { readOnlyHint: true },
    }
    return { result: { tools: [read] } }
  }
  return { error: { code: -32601, message: 'Method not found' } }
}

async function streamProgress(
  res: ServerResponse,
  message: Message,
  progress: number[],
  drops: boolean,
): Promise<void> {
  const progressToken = message.params?._meta?.progressToken
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const value of progress) {
    const note = {
      jsonrpc: '2.0',
      method: 'notifications/progress',
      params: { progressToken, progress: value },
    }
    res.write(`data: ${JSON.stringify(note)}\n\n`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  if (drops) {
    res.socket?.destroy()
    return
  }
  const result = { content: [{ type: 'text', text: 'read' }] }
  res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result })}\n\n`)
}

async function listening(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`
}

const primary = progressBackend([5, 6], true)
const failover = progressBackend([1, 2, 7], false)
let portico: RunningPortico

before(async () => {
  portico = await startPortico({
    proxy: { admin_tools: false },
    backends: [
      { name: 'b', transport: 'http', url: await listening(primary) },
      { name: 'f', transport: 'http', url: await listening(failover), failover_for: 'b' },
    ],
  })
})
after(async () => {
  await portico?.close()
  for (const server of [primary, failover]) {
    server.closeAllConnections()
    server.close()
  }
})

it('relays only increasing progress when a call moves to its failover', async () => {
  const session = await openSession(portico.url)
  const headers = { ...MCP_ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }
  // The list says `read` is read-only: a call that may run twice may move on to the failover.
  const list = await fetch(portico.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
  })
  assert.match(await list.text(), /b__read/)
  const response = await fetch(portico.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'b__read', arguments: {}, _meta: { progressToken: 'p' } },
    }),
    signal: AbortSignal.timeout(10_000),
  })
  const messages = (await response.text())
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map(
      (line) =>
        JSON.parse(line.slice(6)) as {
          id?: number
          method?: string
          params?: { progress: number }
          result?: unknown
        },
    )
  const progress = messages
    .filter((m) => m.method === 'notifications/progress')
    .map((m) => m.params?.progress)
  assert.deepEqual(progress, [5, 6, 7], JSON.stringify(messages))
  const answer = messages.find((m) => m.id === 3)
  assert.ok(answer?.result, JSON.stringify(messages))
})
