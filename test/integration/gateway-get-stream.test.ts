/**
 * The standalone GET stream the gateway keeps to a 2025 HTTP backend (list changes and resource
 * updates arrive there), against a real node:http backend that polls as SEP-1699 allows: each
 * GET gets an event stream holding an event id and `retry:`, then ends. The gateway comes back
 * at the backend's pace and from where it was. Before, every session opened it again each
 * 0.5 s for ever, without `Last-Event-ID`.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { openSession } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

/** What the backend's GETs carried, in order (their `Last-Event-ID`, or null). */
const gets: Array<string | null> = []
const RETRY_MS = 1500
const backend = createServer(async (req, res) => {
  if (req.method === 'GET') {
    gets.push((req.headers['last-event-id'] as string | undefined) ?? null)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(`id: e${gets.length}\nretry: ${RETRY_MS}\ndata: \n\n`)
    return
  }
  await answerPost(req, res, 'polling-1')
})

/** The backend's POST and DELETE answers: a session `sessionId`, one tool, nothing else. */
async function answerPost(req: IncomingMessage, res: ServerResponse, sessionId: string) {
  if (req.method === 'DELETE') return void res.writeHead(200).end()
  const message = JSON.parse(await textOf(req)) as { id?: number; method: string }
  if (message.id === undefined) return void res.writeHead(202).end()
  const result =
    message.method === 'initialize'
      ? {
          protocolVersion: '2025-11-25',
          capabilities: { tools: { listChanged: true } },
          serverInfo: { name: 'polling', version: '1' },
        }
      : message.method === 'tools/list'
        ? { tools: [{ name: 'ping', inputSchema: { type: 'object' } }] }
        : {}
  res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': sessionId })
  res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }))
}

async function textOf(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += chunk
  return text
}

let portico: RunningPortico
before(async () => {
  backend.listen(0, '127.0.0.1')
  await new Promise((resolve) => backend.once('listening', resolve))
  const { port } = backend.address() as AddressInfo
  portico = await startPortico({
    proxy: { admin_tools: false },
    backends: [{ name: 'b', transport: 'http', url: `http://127.0.0.1:${port}/mcp` }],
  })
})
after(async () => {
  await portico?.close()
  backend.closeAllConnections()
  backend.close()
})

it("opens an ended GET stream again after the backend's retry, from its last event id", async () => {
  await openSession(portico.url)
  await until(() => gets.length >= 1, 5000, 'the first GET stream')
  const first = gets.length
  await sleep(2 * RETRY_MS + 500)
  // At the backend's pace: two or three more in the window (before: one every 0.5 s, 6 or more).
  const more = gets.length - first
  assert.ok(more >= 1 && more <= 4, `${more} GETs in ${2 * RETRY_MS + 500} ms`)
  // From where the last one ended.
  const resumed = gets.slice(1).filter((id) => id !== null)
  assert.ok(resumed.length >= 1, JSON.stringify(gets))
  assert.match(resumed[0] as string, /^e\d+$/)
})

it('opens the GET stream again after the backend refused it with a 5xx (a 405 is its no)', async () => {
  let refusals = 1
  let served = 0
  const refusing = createServer(async (req, res) => {
    if (req.method === 'GET') {
      // Refused while it starts, then served (and held open).
      if (refusals-- > 0) return void res.writeHead(503, { 'retry-after': '1' }).end()
      served++
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(': open\n\n')
      return
    }
    await answerPost(req, res, 'refusing-1')
  })
  refusing.listen(0, '127.0.0.1')
  await new Promise((resolve) => refusing.once('listening', resolve))
  const { port } = refusing.address() as AddressInfo
  const gateway = await startPortico({
    proxy: { admin_tools: false },
    backends: [{ name: 'r', transport: 'http', url: `http://127.0.0.1:${port}/mcp` }],
  })
  try {
    // Before: one refusal, and the session never had its stream again.
    await until(() => served >= 1, 5000, 'the GET stream opened after the refusal')
  } finally {
    await gateway.close()
    refusing.closeAllConnections()
    refusing.close()
  }
})
