/**
 * A client that stops reading while a backend streams: the gateway keeps a bounded amount of
 * that call's stream (the oldest progress is dropped), and the call's answer still arrives with
 * its id once the client reads again. Real sockets on both sides.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { after, before, it } from 'node:test'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const EVENTS = 3000
const PADDING = 'x'.repeat(50_000)
let backend: Server
let portico: RunningPortico
/** Bytes of progress events the backend wrote for the call, and whether it answered. */
let written = 0
let answered = false
/** Log messages the backend wrote on its GET stream. */
let logged = 0
const LOGS = 300

/** An MCP server over HTTP whose one tool streams 150 MB of progress, then answers. */
function startBackend(): Promise<number> {
  backend = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const message = body === '' ? {} : JSON.parse(body)
      const json = (value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(200, { 'content-type': 'application/json', ...headers })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: value }))
      }
      if (message.method === 'initialize') {
        json(
          {
            protocolVersion: '2025-11-25',
            capabilities: { tools: {} },
            serverInfo: { name: 'b', version: '1' },
          },
          { 'mcp-session-id': 'backend-session' },
        )
      } else if (req.method === 'GET') {
        streamLogs(res)
      } else if (req.method !== 'POST' || message.id === undefined) {
        res.writeHead(202).end()
      } else if (message.method === 'tools/list') {
        json({ tools: [{ name: 'flood', inputSchema: { type: 'object' } }] })
      } else {
        streamProgress(res, message.id, message.params?._meta?.progressToken)
      }
    })
  })
  return new Promise((resolve) =>
    backend.listen(0, '127.0.0.1', () => resolve((backend.address() as AddressInfo).port)),
  )
}

function streamProgress(
  res: import('node:http').ServerResponse,
  id: unknown,
  token: unknown,
): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  let sent = 0
  const pump = () => {
    while (sent < EVENTS) {
      sent++
      const event = `data: ${JSON.stringify({
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: token, progress: sent, total: EVENTS, message: PADDING },
      })}\n\n`
      written += event.length
      if (!res.write(event)) {
        res.once('drain', pump)
        return
      }
    }
    const answer = { content: [{ type: 'text', text: 'done' }] }
    res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: answer })}\n\n`)
    answered = true
  }
  pump()
}

/** Server messages no call asked for: the gateway holds them until the client listens. */
function streamLogs(res: import('node:http').ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (let i = 1; i <= LOGS; i++) {
    const params = { level: 'info', data: { step: i, padding: PADDING } }
    res.write(
      `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params })}\n\n`,
    )
    logged++
  }
}

before(async () => {
  const port = await startBackend()
  portico = await startPortico({
    backends: [{ name: 'b', transport: 'http', url: `http://127.0.0.1:${port}/mcp` }],
    store: { enabled: false },
  })
})

after(async () => {
  await portico?.close()
  backend?.closeAllConnections()
  backend?.close()
})

async function initialize(): Promise<string> {
  const response = await fetch(portico.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'c', version: '1' },
      },
    }),
  })
  await response.text()
  const session = response.headers.get('mcp-session-id')
  assert.ok(session, 'the gateway opened a session')
  return session
}

it('keeps a bounded part of a call stream the client does not read, and still answers it', async () => {
  const session = await initialize()
  const { port } = new URL(portico.url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 'slow-1',
    method: 'tools/call',
    params: { name: 'b__flood', arguments: {}, _meta: { progressToken: 'tok' } },
  })
  socket.write(
    `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
      'accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n' +
      `mcp-session-id: ${session}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  // The client reads nothing until the backend has streamed everything and answered.
  socket.pause()
  await until(() => (answered ? true : undefined), 60_000, 'the backend to finish streaming')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.resume()
  await new Promise((resolve) => socket.once('close', resolve))
  const text = Buffer.concat(chunks).toString('utf8')
  const received = Buffer.concat(chunks).length

  assert.match(text, /^HTTP\/1\.1 200/)
  const messages = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))
  const answer = messages.at(-1)
  assert.equal(answer.id, 'slow-1', 'the answer arrives last, with the request id')
  assert.deepEqual(answer.result.content, [{ type: 'text', text: 'done' }])
  const progress = messages.filter((m) => m.method === 'notifications/progress')
  assert.ok(progress.length > 0, 'some progress reached the client')
  assert.ok(progress.length < EVENTS, `older progress was dropped (${progress.length} kept)`)
  const steps = progress.map((m) => m.params.progress as number)
  assert.deepEqual(
    steps,
    [...steps].sort((a, b) => a - b),
    'what is kept stays in order',
  )
  // What reached the client: the bounded queue plus what the sockets held, not the 150 MB.
  assert.ok(
    received < written / 4,
    `the client received ${received} bytes of the ${written} the backend streamed`,
  )
})

it('holds a bounded number of bytes for a session that has not opened its stream yet', async () => {
  const session = await initialize()
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-session-id': session,
    'mcp-protocol-version': '2025-11-25',
  }
  // The first call opens the session's backend connection, whose GET stream then floods.
  const list = await fetch(portico.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  })
  await list.text()
  await until(() => (logged >= LOGS ? true : undefined), 10_000, 'the backend to log')
  // Give the gateway time to take in what the backend wrote before the client listens.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const controller = new AbortController()
  const stream = await fetch(portico.url, {
    headers: { ...headers, accept: 'text/event-stream' },
    signal: controller.signal,
  })
  assert.equal(stream.status, 200)
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
  let text = ''
  const deadline = Date.now() + 1500
  while (Date.now() < deadline) {
    const next = await Promise.race([
      reader.read(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300)),
    ])
    if (next === undefined) break
    if (next.done) break
    text += Buffer.from(next.value).toString('utf8')
  }
  controller.abort()
  const steps = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))
    .filter((m) => m.method === 'notifications/message')
    .map((m) => m.params.data.step as number)
  assert.ok(steps.length > 0, 'the newest messages reach the client')
  assert.equal(steps.at(-1), LOGS, 'the newest one is kept')
  assert.ok(steps.length <= 10, `${steps.length} messages of 50 KB were held for the session`)
})
