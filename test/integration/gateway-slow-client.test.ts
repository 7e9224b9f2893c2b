/**
 * A client that stops reading while a backend streams. An HTTP backend's stream for that call
 * is read at the client's pace (the backend is held back, nothing is dropped); a shared stdio
 * process cannot be held back for one client, so the gateway keeps a bounded part of the call's
 * stream (the oldest progress is dropped). Either way the answer arrives with its id once the
 * client reads again. Real sockets and processes on both sides.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { fixture } from '../helpers/mcp-servers.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

const EVENTS = 3000
const PADDING = 'x'.repeat(50_000)
const dir = mkdtempSync(join(tmpdir(), 'portico-slow-client-'))
const floodDone = join(dir, 'flood-done')
let backend: Server
let portico: RunningPortico
/** Bytes of progress events the backend wrote for the call, and whether it answered. */
let written = 0
let answered = false
/** Log messages the backend wrote on its GET stream, once `floodLogs` is set. */
let logged = 0
let floodLogs = false
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
      } else if (message.method !== 'tools/call') {
        // What a 2025 server answers a method it lacks (the gateway's server/discover probe).
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            jsonrpc: '2.0',
            id: message.id,
            error: { code: -32601, message: 'Method not found' },
          }),
        )
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
  if (!floodLogs) return
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
    backends: [
      { name: 'b', transport: 'http', url: `http://127.0.0.1:${port}/mcp` },
      {
        name: 's',
        transport: 'stdio',
        command: process.execPath,
        args: [fixture('flood-stdio')],
        env: { FLOOD_DONE: floodDone, FLOOD_EVENTS: String(EVENTS) },
      },
    ],
    store: { enabled: false },
  })
})

after(async () => {
  await portico?.close()
  backend?.closeAllConnections()
  backend?.close()
  rmSync(dir, { recursive: true, force: true })
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

/** Sends `tools/call name` on a raw socket and returns it paused: the client reads nothing. */
function callWithoutReading(session: string, id: string, name: string) {
  const { port } = new URL(portico.url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: {}, _meta: { progressToken: `tok-${id}` } },
  })
  socket.write(
    `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
      'accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n' +
      `mcp-session-id: ${session}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  socket.pause()
  return socket
}

/** Resumes reading and returns the messages of the SSE answer and the bytes received. */
async function readAll(socket: import('node:net').Socket) {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.resume()
  await new Promise((resolve) => socket.once('close', resolve))
  const all = Buffer.concat(chunks)
  const text = all.toString('utf8')
  assert.match(text, /^HTTP\/1\.1 200/)
  const messages = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))
  const progress = messages
    .filter((m) => m.method === 'notifications/progress')
    .map((m) => m.params.progress as number)
  return { messages, progress, bytes: all.length }
}

/** Resolves once `read()` has not changed for `quietMs` (the writer is held back). */
async function settled(read: () => number, quietMs: number): Promise<number> {
  let last = read()
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs))
    const now = read()
    if (now === last) return now
    last = now
  }
}

it('reads an HTTP backend at the pace of a client that lags: held back, nothing dropped', async () => {
  const session = await initialize()
  const socket = callWithoutReading(session, 'slow-http', 'b__flood')
  const held = await settled(() => written, 500)
  // The backend could write 150 MB; it was stopped after what the sockets and one queue hold.
  assert.ok(held < (EVENTS * PADDING.length) / 4, `the backend wrote ${held} bytes unread`)
  assert.equal(answered, false, 'the backend has not finished: it waits for the client')
  const { messages, progress } = await readAll(socket)
  const answer = messages.at(-1)
  assert.equal(answer.id, 'slow-http', 'the answer arrives last, with the request id')
  assert.deepEqual(answer.result.content, [{ type: 'text', text: 'done' }])
  assert.equal(progress.length, EVENTS, 'every progress notification reached the client')
  assert.deepEqual(
    progress,
    Array.from({ length: EVENTS }, (_, i) => i + 1),
  )
})

it('keeps a bounded part of a shared stdio backend stream the client does not read', async () => {
  const session = await initialize()
  const socket = callWithoutReading(session, 'slow-stdio', 's__flood')
  // The shared process is not held back for one client: it streams everything and answers.
  await until(() => (existsSync(floodDone) ? true : undefined), 60_000, 'the stdio backend')
  const { messages, progress, bytes } = await readAll(socket)
  const answer = messages.at(-1)
  assert.equal(answer.id, 'slow-stdio', 'the answer arrives last, with the request id')
  assert.deepEqual(answer.result.content, [{ type: 'text', text: 'done' }])
  assert.ok(progress.length > 0, 'the newest progress reaches the client')
  assert.ok(progress.length < EVENTS, `older progress was dropped (${progress.length} kept)`)
  assert.deepEqual(
    progress,
    [...progress].sort((a, b) => a - b),
    'what is kept stays in order',
  )
  const streamed = EVENTS * PADDING.length
  assert.ok(bytes < streamed / 4, `the client received ${bytes} of the ${streamed} bytes streamed`)
})

it('holds a bounded number of bytes for a session that has not opened its stream yet', async () => {
  floodLogs = true
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
