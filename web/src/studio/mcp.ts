/**
 * A small MCP client for the studio: JSON-RPC over Streamable HTTP, sent through the
 * dashboard's relay (`api/studio/mcp?url=…`) so any endpoint works without CORS. Answers come
 * as JSON or as an SSE stream; the stream is read until the answer with our id arrives.
 */
import { authHeaders } from '../api.ts'

export interface JsonRpcError {
  code: number
  message: string
}

export class McpError extends Error {
  constructor(
    message: string,
    readonly rpc?: JsonRpcError,
  ) {
    super(message)
  }
}

const PROTOCOL = '2025-06-18'
const TIMEOUT_MS = 60_000

export class StudioClient {
  #nextId = 1
  #session: string | undefined
  #protocol = PROTOCOL
  serverInfo: { name?: string; version?: string } = {}
  capabilities: Record<string, unknown> = {}

  constructor(
    readonly url: string,
    readonly credential?: string,
  ) {}

  async connect(): Promise<void> {
    const result = (await this.request('initialize', {
      protocolVersion: PROTOCOL,
      capabilities: {},
      clientInfo: { name: 'portico-studio', version: '0.1.0' },
    })) as {
      protocolVersion: string
      serverInfo?: { name?: string; version?: string }
      capabilities?: Record<string, unknown>
    }
    this.#protocol = result.protocolVersion
    this.serverInfo = result.serverInfo ?? {}
    this.capabilities = result.capabilities ?? {}
    await this.#post({ jsonrpc: '2.0', method: 'notifications/initialized' })
  }

  /** The id of the last request sent, and the session it went in: how the store names it. */
  lastRequest: { id: number; session: string | undefined } | undefined

  async request(method: string, params: unknown = {}): Promise<unknown> {
    const id = this.#nextId++
    this.lastRequest = { id, session: this.#session }
    const res = await this.#post({ jsonrpc: '2.0', id, method, params })
    const message = await answerOf(res, id, (asked) => this.#answerServer(asked))
    if (message.error)
      throw new McpError(
        `${method}: ${message.error.message} (${message.error.code})`,
        message.error,
      )
    return message.result
  }

  async close(): Promise<void> {
    if (this.#session === undefined) return
    await fetch(this.#relay(), { method: 'DELETE', headers: this.#headers() }).catch(
      () => undefined,
    )
  }

  /**
   * A request the server sends during a call: MCP has every side answer a `ping`, and the
   * studio declares no other capability (sampling, elicitation, roots), so the rest are
   * refused at once. Unanswered, a server that pings waited its own timeout (15 s and more).
   */
  #answerServer(asked: Answer): void {
    const outcome =
      asked.method === 'ping'
        ? { result: {} }
        : {
            error: {
              code: -32601,
              message: `The studio does not handle ${String(asked.method).slice(0, 100)}`,
            },
          }
    void this.#post({ jsonrpc: '2.0', id: asked.id, ...outcome }).catch(() => undefined)
  }

  #relay(): string {
    return `api/studio/mcp?url=${encodeURIComponent(this.url)}`
  }

  #headers(): Record<string, string> {
    return {
      ...authHeaders(),
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': this.#protocol,
      ...(this.#session ? { 'mcp-session-id': this.#session } : {}),
      ...(this.credential ? { 'x-mcp-authorization': `Bearer ${this.credential}` } : {}),
    }
  }

  async #post(body: unknown): Promise<Response> {
    const res = await fetch(this.#relay(), {
      method: 'POST',
      headers: this.#headers(),
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    const session = res.headers.get('mcp-session-id')
    if (session) this.#session = session
    if (!res.ok && res.status !== 202) {
      const text = await res.text()
      throw new McpError(`HTTP ${res.status}: ${text.slice(0, 300)}`)
    }
    return res
  }
}

interface Answer {
  id?: number | string
  method?: string
  result?: unknown
  error?: JsonRpcError
}

/**
 * Whether a message answers the studio's request `id`: a response, never a request of the
 * server's own that happens to carry the same number (each side numbers its own requests).
 */
function answers(message: Answer, id: number): boolean {
  return message.id === id && message.method === undefined
}

/** A request of the server's own: a method and an id (answers carry no method). */
function isServerRequest(message: Answer): boolean {
  return message.method !== undefined && message.id !== undefined && message.id !== null
}

async function answerOf(
  res: Response,
  id: number,
  onServerRequest: (message: Answer) => void,
): Promise<Answer> {
  const type = res.headers.get('content-type') ?? ''
  if (type.includes('application/json')) {
    const body = (await res.json()) as Answer | Answer[]
    const messages = Array.isArray(body) ? body : [body]
    for (const message of messages) if (isServerRequest(message)) onServerRequest(message)
    const found = messages.find((m) => answers(m, id))
    if (!found) throw new McpError(`no answer with id ${id}`)
    return found
  }
  if (!type.includes('text/event-stream') || res.body === null)
    throw new McpError(`unexpected answer (${type || 'no content type'})`)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  // A CR at a chunk's end may be half of a CRLF whose LF opens the next chunk: held until then.
  let heldCr = false
  for (;;) {
    const { value, done } = await reader.read()
    if (done) throw new McpError(`the stream ended without an answer to ${id}`)
    let text: string = heldCr ? `\r${value}` : value
    heldCr = text.endsWith('\r')
    if (heldCr) text = text.slice(0, -1)
    // Lines end with CRLF, LF or a lone CR (the SSE spec allows all three).
    buffer += text.replace(/\r\n?/g, '\n')
    let end = buffer.indexOf('\n\n')
    while (end !== -1) {
      const data = buffer
        .slice(0, end)
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n')
      buffer = buffer.slice(end + 2)
      if (data) {
        const message = JSON.parse(data) as Answer
        if (isServerRequest(message)) onServerRequest(message)
        else if (answers(message, id)) {
          void reader.cancel()
          return message
        }
      }
      end = buffer.indexOf('\n\n')
    }
  }
}
