/**
 * A legacy HTTP+SSE (2024-11-05) server on a real socket, scripted by the test, and a client
 * of Portico's side of that transport (its `/sse` stream and the POSTs to the path it names).
 * The server's GET stream names one fresh session (`s1`, `s2`, …) unless `open` writes its
 * own endpoint events; a POST to a session whose stream is open is answered 202 and handed to
 * `answer`, which writes on that stream; a POST to any other session gets 404, or `orphan`'s
 * answer.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readUntil } from './mcp-http.ts'

export interface LegacyMessage {
  jsonrpc: '2.0'
  id?: string | number
  method?: string
  params?: Record<string, unknown>
}

export interface LegacyUpstreamOptions {
  /**
   * Writes the start of a new GET stream: by default one endpoint event naming `session`. A
   * session a stream names is served (its POSTs answered 202) while that stream is open.
   */
  open?: (res: ServerResponse, session: string) => string[] | undefined
  /** Writes the answer to a POSTed message on its session's stream (or nothing). */
  answer?: (message: LegacyMessage, stream: ServerResponse) => void
  /** Answers a POST naming no open session (by default 404). */
  orphan?: (message: LegacyMessage, res: ServerResponse) => void
}

export interface LegacyUpstream {
  server: Server
  /** The SSE stream's URL (`…/sse`), what Portico's `upstream` is set to. */
  url: string
  /** Each message POSTed to an open session, in order. */
  received: LegacyMessage[]
  /** How many GET streams are open at the moment. */
  openStreams(): number
  close(): Promise<void>
}

export function sseMessage(message: object): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`
}

export async function startLegacyUpstream(
  options: LegacyUpstreamOptions = {},
): Promise<LegacyUpstream> {
  const streams = new Map<string, ServerResponse>()
  const received: LegacyMessage[] = []
  let open = 0
  let sessions = 0
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (req.method === 'GET' && url.pathname === '/sse') {
      const session = `s${++sessions}`
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const named = options.open?.(res, session) ?? [session]
      if (options.open === undefined) {
        res.write(`event: endpoint\ndata: /messages?sessionId=${session}\n\n`)
      }
      for (const name of named) streams.set(name, res)
      open++
      res.on('close', () => {
        open--
        for (const name of named) if (streams.get(name) === res) streams.delete(name)
      })
      return
    }
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end()
      const stream = streams.get(url.searchParams.get('sessionId') ?? '')
      const message = JSON.parse(body) as LegacyMessage
      if (stream === undefined) {
        if (options.orphan === undefined) return void res.writeHead(404).end()
        return options.orphan(message, res)
      }
      received.push(message)
      res.writeHead(202).end('Accepted')
      options.answer?.(message, stream)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`,
    received,
    openStreams: () => open,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A client's legacy session through Portico: its open `/sse` stream and the path to POST to. */
export interface LegacyClient {
  /** Everything read from the stream so far. */
  text(): string
  /** Reads on until `done(text)` holds; fails if the stream ends first (bounded). */
  readUntil(done: (text: string) => boolean, what: string, timeoutMs?: number): Promise<void>
  /** POSTs one message to the session's endpoint; resolves with the HTTP status. */
  post(message: LegacyMessage): Promise<number>
  /** The URL the endpoint event named (on Portico). */
  endpoint: string
  /** Closes the client's stream (the client goes away). */
  leave(): void
}

export async function openLegacyClient(origin: string): Promise<LegacyClient> {
  const controller = new AbortController()
  const stream = await fetch(`${origin}/sse`, {
    headers: { accept: 'text/event-stream' },
    signal: controller.signal,
  })
  if (stream.status !== 200) throw new Error(`GET /sse answered ${stream.status}`)
  let text = ''
  const onText = (chunk: string) => {
    text += chunk
  }
  const read = (done: (text: string) => boolean, what: string, timeoutMs = 5000) =>
    readUntil(stream, onText, () => done(text), what, timeoutMs, true)
  await read((t) => /data: (\S*sessionId=\S+)\n/.test(t), 'the endpoint event')
  const endpoint = new URL(/data: (\S*sessionId=\S+)\n/.exec(text)?.[1] ?? '', origin).href
  return {
    text: () => text,
    readUntil: read,
    endpoint,
    post: (message) =>
      fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
      }).then(async (response) => {
        await response.arrayBuffer()
        return response.status
      }),
    leave: () => controller.abort(),
  }
}

/** The JSON-RPC messages of the complete `message` events in a stream's text. */
export function messagesIn(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n\n')
    .slice(0, -1)
    .filter((block) => /^event: message$/m.test(block))
    .map(
      (block) => JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as Record<string, unknown>,
    )
}
