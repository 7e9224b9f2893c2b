/** Raw Streamable HTTP helpers for tests that need control below the SDK (streams, ids). */
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { type SseEvent, SseParser } from '../../src/protocol/sse.ts'

export const MCP_ACCEPT = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
}

interface InitializeOptions {
  id?: number | string
  protocolVersion?: string
  client?: string
  /** What the client declares it can do (`sampling`, `elicitation`…); none by default. */
  capabilities?: Record<string, unknown>
}

/** The text of an `initialize` request. */
export function initializeBody(options: InitializeOptions = {}): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: options.id ?? 0,
    method: 'initialize',
    params: {
      protocolVersion: options.protocolVersion ?? '2025-11-25',
      capabilities: options.capabilities ?? {},
      clientInfo: { name: options.client ?? 'raw-test', version: '1' },
    },
  })
}

/** A raw `initialize` POST; the caller reads the answer (status, headers, body). */
export function postInitialize(
  url: string,
  options: InitializeOptions = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...headers },
    body: initializeBody(options),
  })
}

/** Runs `initialize` + `notifications/initialized`; returns the session id. */
export async function openSession(
  url: string,
  protocolVersion = '2025-11-25',
  capabilities: Record<string, unknown> = {},
  /** Sent with both requests (credentials, say). */
  headers: Record<string, string> = {},
): Promise<string> {
  const init = await postInitialize(url, { protocolVersion, capabilities }, headers)
  const sessionId = init.headers.get('mcp-session-id')
  await init.text()
  if (!sessionId) throw new Error(`no session id (status ${init.status})`)
  const done = await fetch(url, {
    method: 'POST',
    headers: {
      ...MCP_ACCEPT,
      ...headers,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': protocolVersion,
    },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  })
  await done.text()
  return sessionId
}

/**
 * A 2025-11-25 session opened with `headers` (credentials, say) and its GET stream, open: its
 * head was read.
 */
export async function sessionStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const init = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...headers },
    body: initializeBody(),
  })
  await init.arrayBuffer()
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}`)
  const session = { ...sessionHeaders(init.headers.get('mcp-session-id') ?? ''), ...headers }
  const done = await fetch(url, {
    method: 'POST',
    headers: session,
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  })
  await done.arrayBuffer()
  const stream = await fetch(url, { headers: { ...session, accept: 'text/event-stream' } })
  if (stream.status !== 200) throw new Error(`the GET stream answered ${stream.status}`)
  return (stream.body as ReadableStream<Uint8Array>).getReader()
}

/** Resolves once the stream has ended (what it carried is read past). */
export async function streamEnded(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<true> {
  while (!(await reader.read()).done) {}
  return true
}

/** The headers of a POST in a 2025-11-25 session. */
export function sessionHeaders(session: string): Record<string, string> {
  return { ...MCP_ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }
}

/** The body of a `tools/call` of `tool` with `args`. */
export function toolCallBody(id: string | number, tool: string, args: object = {}): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: tool, arguments: args },
  })
}

/** A raw `tools/call` POST in a 2025-11-25 session; the caller reads the answer. */
export function postToolCall(
  url: string,
  session: string,
  tool: string,
  id: string | number,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: sessionHeaders(session),
    body: toolCallBody(id, tool),
  })
}

/**
 * Reads a response body chunk by chunk until `done` holds. Bounded: rejects naming `what` when
 * `timeoutMs` passes or the stream ends first. The body is cancelled afterwards, unless `keep`
 * (the stream stays open for a later read).
 */
export async function readUntil(
  response: Response,
  onText: (text: string) => void,
  done: () => boolean,
  what: string,
  timeoutMs = 10_000,
  keep = false,
): Promise<void> {
  const reader = response.body?.getReader()
  if (!reader) throw new Error(`no body to read ${what} from`)
  let finished = false
  const decoder = new TextDecoder()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void reader.cancel().catch(() => undefined)
  }, timeoutMs)
  try {
    while (!done()) {
      const { value, done: ended } = await reader.read()
      if (timedOut) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      if (ended) throw new Error(`the stream ended before ${what}`)
      onText(decoder.decode(value, { stream: true }))
    }
    finished = true
  } finally {
    clearTimeout(timer)
    if (keep && finished) reader.releaseLock()
    else await reader.cancel().catch(() => undefined)
  }
}

/** Reads a body as text until `done(text)` holds (bounded, see `readUntil`). */
export async function readText(
  response: Response,
  done: (text: string) => boolean,
  what: string,
  timeoutMs?: number,
): Promise<string> {
  let text = ''
  const append = (chunk: string) => {
    text += chunk
  }
  await readUntil(response, append, () => done(text), what, timeoutMs)
  return text
}

/** Reads SSE events from a response until `stop` says so (bounded, see `readUntil`). */
export async function readEvents(
  response: Response,
  stop: (events: SseEvent[]) => boolean,
  what: string,
  timeoutMs?: number,
): Promise<SseEvent[]> {
  const parser = new SseParser()
  const events: SseEvent[] = []
  const push = (chunk: string) => {
    events.push(...parser.push(chunk).filter((e) => e.data !== ''))
  }
  await readUntil(response, push, () => stop(events), what, timeoutMs)
  return events
}

/** Raw Streamable HTTP POSTs, for tests that shape requests themselves (modern `_meta`, load). */

export const MODERN_META = 'io.modelcontextprotocol/protocolVersion'

/**
 * The standard headers of a 2026-07-28 request (SEP-2243): its revision, its method and, for a
 * call, read or get, what it names. Servers refuse a request without them (400, -32020).
 */
export function modernHeaders(method: string, name?: string): Record<string, string> {
  return {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
  }
}
export const CLIENT_META = 'io.modelcontextprotocol/clientInfo'

/** `modernHeaders` of a message as it will be sent (its method, and the name it calls). */
export function modernHeadersOf(message: {
  method?: unknown
  params?: unknown
}): Record<string, string> {
  const method = String(message.method)
  const params = (message.params ?? {}) as { name?: unknown; uri?: unknown }
  const named = typeof params.name === 'string' ? params.name : params.uri
  const mirrored = ['tools/call', 'prompts/get', 'resources/read'].includes(method)
  return modernHeaders(method, mirrored && typeof named === 'string' ? named : undefined)
}

let nextId = 1

/**
 * A stateless 2026-07-28-style `tools/call` carrying the client in `_meta`, without the
 * revision's standard headers: transparent mode passes it to a server of an earlier revision.
 */
export async function modernCall(
  url: string,
  tool: string,
  client: { name: string; version: string },
  userAgent = 'node',
): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'user-agent': userAgent,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'tools/call',
      params: {
        name: tool,
        arguments: {},
        _meta: { [MODERN_META]: '2026-07-28', [CLIENT_META]: client },
      },
    }),
    signal: AbortSignal.timeout(10_000),
  })
  return response.text()
}

/** One JSON-RPC request a client POSTed and the answer it got, as seen on the wire. */
export interface WireExchange {
  request: { method?: string; id?: unknown; params?: Record<string, unknown> }
  /** The JSON-RPC response to that request (from a JSON body or an SSE stream). */
  response?: { result?: Record<string, unknown>; error?: unknown }
}

/**
 * A `fetch` for SDK transports that also records each POSTed request and its JSON-RPC answer,
 * so a test can see the rounds the SDK hides (an `input_required` result and its retry).
 * `settled()` waits until every recorded answer has been read.
 */
export function recordingFetch(): {
  fetch: typeof fetch
  exchanges: WireExchange[]
  settled(): Promise<WireExchange[]>
} {
  const exchanges: WireExchange[] = []
  const pending: Promise<void>[] = []
  const recorder = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(input, init)
    if (init?.method !== 'POST' || typeof init.body !== 'string') return response
    const request = JSON.parse(init.body) as WireExchange['request']
    if (request.id === undefined) return response
    const exchange: WireExchange = { request }
    exchanges.push(exchange)
    const copy = response.clone()
    pending.push(
      copy.text().then((text) => {
        const type = copy.headers.get('content-type') ?? ''
        const messages = type.includes('text/event-stream')
          ? new SseParser()
              .push(`${text}\n\n`)
              .filter((event) => event.data !== '')
              .map((event) => JSON.parse(event.data))
          : text
            ? [JSON.parse(text)]
            : []
        exchange.response = messages.find((m) => m.id === request.id)
      }),
    )
    return response
  }
  return {
    fetch: recorder as typeof fetch,
    exchanges,
    settled: async () => {
      await Promise.all(pending)
      return exchanges
    },
  }
}

/** What a stateless request was answered: its response, from JSON or an SSE stream. */
export interface StatelessAnswer {
  id?: unknown
  result?: {
    resultType?: string
    requestState?: string
    inputRequests?: Record<string, { method?: string }>
    content?: Array<{ text?: string }>
  }
  error?: { code?: number; message?: string }
}

/**
 * A stateless 2026-07-28 request with its standard headers and the client's `_meta` (its
 * revision and `capabilities`); the answer is the JSON body, or the last message of an SSE
 * stream that carries an id.
 */
export async function statelessRequest(
  url: string,
  method: string,
  params: object,
  options: { id?: number; capabilities?: object } = {},
): Promise<StatelessAnswer> {
  const message = {
    jsonrpc: '2.0',
    id: options.id ?? nextId++,
    method,
    params: {
      ...params,
      _meta: {
        [MODERN_META]: '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
        [CLIENT_META]: { name: 'raw', version: '1' },
      },
    },
  }
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...modernHeadersOf(message),
    },
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  const data = text.startsWith('{')
    ? text
    : text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .findLast((line) => line.includes('"id"'))
  return JSON.parse(data ?? '{}') as StatelessAnswer
}

/**
 * The SDK's legacy HTTP+SSE client transport to Portico's `/sse`, presenting `key` as a bearer
 * token on the stream (its EventSource fetch) and on every POST.
 */
export function sseClientWithKey(origin: string, key: string): SSEClientTransport {
  const authorization = `Bearer ${key}`
  return new SSEClientTransport(new URL('/sse', origin), {
    requestInit: { headers: { authorization } },
    eventSourceInit: {
      fetch: (url, init) =>
        fetch(url, {
          ...init,
          headers: { ...(init?.headers as Record<string, string>), authorization },
        }),
    },
  })
}
