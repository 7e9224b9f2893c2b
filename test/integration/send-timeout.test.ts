/**
 * `send_timeout`: a client that takes nothing of its answer for that long is disconnected, and
 * the upstream's stream behind it is cancelled; a client that reads slowly is not. Real
 * sockets on both sides: the client is a raw TCP connection that stops reading (so the
 * kernel's buffers fill and Portico's writes wait), in transparent and gateway mode.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Logger } from '../../src/observe/logger.ts'
import { openSession } from '../helpers/mcp-http.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { until } from '../helpers/wait.ts'

/** More than loopback's socket buffers hold, so a client that does not read stalls the write. */
const BIG_TEXT_BYTES = 12 * 1024 * 1024
const SEND_TIMEOUT_MS = 500
const CUT_LINE = 'closed the connection of a client that took nothing for send_timeout'

let upstream: Server
let upstreamUrl: string
/** The upstream's event streams still open (one per `stream` call). */
const openStreams = new Set<ServerResponse>()

/** An MCP server over HTTP: `big` answers 12 MB of JSON, `stream` sends progress until cut. */
function startUpstream(): Promise<void> {
  upstream = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const message = body === '' ? {} : JSON.parse(body)
      const json = (result: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(200, { 'content-type': 'application/json', ...headers })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }))
      }
      if (message.method === 'initialize') {
        json(
          {
            protocolVersion: '2025-11-25',
            capabilities: { tools: {} },
            serverInfo: { name: 'up', version: '1' },
          },
          { 'mcp-session-id': 'upstream-session' },
        )
      } else if (req.method !== 'POST' || message.id === undefined) {
        res.writeHead(202).end()
      } else if (message.method === 'tools/list') {
        json({
          tools: ['big', 'stream'].map((name) => ({ name, inputSchema: { type: 'object' } })),
        })
      } else if (message.params?.name?.endsWith('stream')) {
        streamForever(res, message.params?._meta?.progressToken)
      } else {
        json({ content: [{ type: 'text', text: 'x'.repeat(BIG_TEXT_BYTES) }] })
      }
    })
  })
  return new Promise((resolve) =>
    upstream.listen(0, '127.0.0.1', () => {
      upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`
      resolve()
    }),
  )
}

/** Progress events of 16 KB as fast as they are taken, until the request is cancelled. */
function streamForever(res: ServerResponse, token: unknown): void {
  openStreams.add(res)
  res.on('close', () => openStreams.delete(res))
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const padding = 'p'.repeat(16 * 1024)
  let step = 0
  const pump = () => {
    while (!res.destroyed) {
      const params = { progressToken: token, progress: ++step, message: padding }
      const event = `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params })}\n\n`
      if (!res.write(event)) {
        res.once('drain', pump)
        return
      }
    }
  }
  pump()
}

/** Log lines Portico wrote (at warn and above). */
function capturingLogger(lines: string[]): Logger {
  return new Logger({ level: 'warn', write: (line) => lines.push(line) })
}

/** Sends `tools/call name` on a raw socket and leaves it paused: the client reads nothing. */
function callWithoutReading(url: string, session: string, name: string): Socket {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: `call-${name}`,
    method: 'tools/call',
    params: { name, arguments: {}, _meta: { progressToken: `tok-${name}` } },
  })
  socket.write(
    `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
      'accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n' +
      `mcp-session-id: ${session}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  socket.pause()
  return socket
}

/** Reads the rest of what the connection delivers until it closes: the bytes received. */
function readToClose(socket: Socket): Promise<number> {
  let bytes = 0
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length
  })
  socket.resume()
  return new Promise((resolve) => socket.once('close', () => resolve(bytes)))
}

before(startUpstream)

after(() => {
  upstream?.closeAllConnections()
  upstream?.close()
})

describe('transparent mode', () => {
  let portico: RunningPortico
  const lines: string[] = []

  before(async () => {
    portico = await startPortico(
      { upstream: upstreamUrl, send_timeout: '500ms', store: { enabled: false } },
      { logger: capturingLogger(lines) },
    )
  })

  after(() => portico?.close())

  it('disconnects a client that reads nothing of a large JSON answer', async () => {
    const session = await openSession(portico.url)
    const socket = callWithoutReading(portico.url, session, 'big')
    await until(
      () => lines.find((line) => line.includes(CUT_LINE)),
      10_000,
      'the send_timeout line',
    )
    const received = await readToClose(socket)
    assert.ok(
      received < BIG_TEXT_BYTES,
      `the answer was cut off: ${received} of more than ${BIG_TEXT_BYTES} bytes arrived`,
    )
  })

  it('cancels the upstream stream of a client that stopped reading its events', async () => {
    lines.length = 0
    const session = await openSession(portico.url)
    const socket = callWithoutReading(portico.url, session, 'stream')
    await until(() => (openStreams.size > 0 ? true : undefined), 5000, 'the upstream stream')
    // The upstream is held back by the unread client, then its request is cancelled.
    await until(() => (openStreams.size === 0 ? true : undefined), 10_000, 'the stream cancelled')
    assert.ok(
      lines.some((line) => line.includes(CUT_LINE)),
      lines.join('\n'),
    )
    socket.destroy()
  })

  it('never cuts a client that reads slowly, however long the answer takes', async () => {
    lines.length = 0
    const session = await openSession(portico.url)
    const socket = callWithoutReading(portico.url, session, 'big')
    // Reads about 1 MB, then takes nothing for half the timeout, until the answer is whole.
    let bytes = 0
    let sinceRest = 0
    let resting = false
    let rests = 0
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      sinceRest += chunk.length
      if (sinceRest < 1024 * 1024 || resting) return
      sinceRest = 0
      resting = true
      rests++
      socket.pause()
      setTimeout(() => {
        resting = false
        socket.resume()
      }, SEND_TIMEOUT_MS / 2)
    })
    socket.resume()
    await until(
      () => (bytes > BIG_TEXT_BYTES ? true : undefined),
      30_000,
      'the whole answer at a slow pace',
    )
    // Rests of half the timeout each, more than two of them: the answer took longer than the
    // timeout in all, so it is the pace, not the total, that counts.
    assert.ok(rests > 2, `${rests} rests`)
    assert.deepEqual(
      lines.filter((line) => line.includes(CUT_LINE)),
      [],
    )
    socket.destroy()
  })
})

describe('gateway mode', () => {
  let portico: RunningPortico
  const lines: string[] = []

  before(async () => {
    portico = await startPortico(
      {
        backends: [{ name: 'up', transport: 'http', url: upstreamUrl }],
        send_timeout: '500ms',
        store: { enabled: false },
      },
      { logger: capturingLogger(lines) },
    )
  })

  after(() => portico?.close())

  it("cancels the backend's stream of a client that stopped reading its events", async () => {
    const session = await openSession(portico.url)
    const socket = callWithoutReading(portico.url, session, 'up__stream')
    await until(() => (openStreams.size > 0 ? true : undefined), 5000, 'the backend stream')
    await until(() => (openStreams.size === 0 ? true : undefined), 10_000, 'the stream cancelled')
    assert.ok(
      lines.some((line) => line.includes(CUT_LINE)),
      lines.join('\n'),
    )
    socket.destroy()
  })
})
