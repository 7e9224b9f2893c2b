/**
 * The load client: raw MCP JSON-RPC over Streamable HTTP with undici, fast enough not to be
 * the bottleneck. A session initializes once (initialize → notifications/initialized), then
 * sends requests carrying its `mcp-session-id`. Answers may be JSON or SSE (the peers answer
 * with SSE); either way the whole answer is read and checked before a request counts.
 */
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'

const ACCEPT = 'application/json, text/event-stream'
const PROTOCOL_VERSION = '2025-06-18'

export class Target {
  readonly url: URL
  readonly pool: Pool

  constructor(url: string, connections: number) {
    this.url = new URL(url)
    this.pool = new Pool(this.url.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
  }

  close(): Promise<void> {
    return this.pool.destroy()
  }
}

export interface Answer {
  status: number
  /** The media type of the answer (`application/json` or `text/event-stream`). */
  contentType: string
  text: string
  /** ms from sending to the first body chunk holding `firstMarker`, when one was asked for. */
  firstMs?: number
  totalMs: number
}

export class Session {
  readonly #target: Target
  #id: string | undefined
  #nextId = 1
  #protocolVersion = PROTOCOL_VERSION

  constructor(target: Target) {
    this.#target = target
  }

  get id(): string | undefined {
    return this.#id
  }

  async open(): Promise<void> {
    const answer = await this.#post(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'portico-bench', version: '1.0.0' },
        },
      }),
      true,
    )
    if (answer.status !== 200 || !answer.text.includes('"protocolVersion"')) {
      throw new Error(`initialize failed: HTTP ${answer.status} ${answer.text.slice(0, 200)}`)
    }
    const negotiated = /"protocolVersion":"([^"]+)"/.exec(answer.text)?.[1]
    if (negotiated) this.#protocolVersion = negotiated
    const note = await this.#post('{"jsonrpc":"2.0","method":"notifications/initialized"}')
    if (note.status >= 300) throw new Error(`notifications/initialized: HTTP ${note.status}`)
  }

  /** Sends one request; resolves with the whole answer. */
  request(method: string, params: Record<string, unknown>, firstMarker?: string): Promise<Answer> {
    const id = this.#nextId++
    return this.#post(JSON.stringify({ jsonrpc: '2.0', id, method, params }), false, firstMarker)
  }

  /** tools/call with distinct arguments; throws unless the answer echoes them. */
  async call(tool: string, text: string, extra: Record<string, unknown> = {}): Promise<Answer> {
    const answer = await this.request('tools/call', {
      name: tool,
      arguments: { text, ...extra },
    })
    if (answer.status !== 200 || !answer.text.includes(text)) {
      throw new Error(`tools/call ${tool}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`)
    }
    return answer
  }

  async close(): Promise<void> {
    if (this.#id === undefined) return
    const { body } = await this.#target.pool.request({
      path: this.#target.url.pathname,
      method: 'DELETE',
      headers: this.#headers(),
    })
    await body.dump()
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: ACCEPT,
      'mcp-protocol-version': this.#protocolVersion,
    }
    if (this.#id !== undefined) headers['mcp-session-id'] = this.#id
    return headers
  }

  async #post(body: string, initialize = false, firstMarker?: string): Promise<Answer> {
    const start = performance.now()
    const response = await this.#target.pool.request({
      path: this.#target.url.pathname,
      method: 'POST',
      headers: this.#headers(),
      body,
    })
    if (initialize) {
      const session = response.headers['mcp-session-id']
      if (typeof session === 'string') this.#id = session
    }
    let firstMs: number | undefined
    const chunks: Buffer[] = []
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (firstMarker !== undefined && firstMs === undefined && chunk.includes(firstMarker)) {
        firstMs = performance.now() - start
      }
      chunks.push(chunk)
    }
    const answer: Answer = {
      status: response.statusCode,
      contentType: String(response.headers['content-type'] ?? '').split(';')[0] ?? '',
      text: (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8'),
      totalMs: performance.now() - start,
    }
    if (firstMs !== undefined) answer.firstMs = firstMs
    return answer
  }
}

/** Opens `count` sessions, `parallel` at a time. */
export async function openSessions(
  target: Target,
  count: number,
  parallel = 16,
): Promise<Session[]> {
  const sessions: Session[] = []
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, () => new Session(target))
    await Promise.all(batch.map((s) => s.open()))
    sessions.push(...batch)
  }
  return sessions
}

export interface LoadResult {
  /** Per-request latencies in µs. */
  latenciesUs: number[]
  requests: number
  errors: number
  seconds: number
}

/**
 * Closed-loop load: each session sends its next request as soon as the previous answer is
 * complete, for `warmupMs` unrecorded and then `durationMs` recorded. Arguments are distinct
 * per request so no cache can answer.
 */
export async function closedLoop(
  sessions: readonly Session[],
  send: (session: Session, n: number) => Promise<unknown>,
  warmupMs: number,
  durationMs: number,
): Promise<LoadResult> {
  const latenciesUs: number[] = []
  let errors = 0
  let counter = 0
  const warmEnd = performance.now() + warmupMs
  const end = warmEnd + durationMs
  const worker = async (session: Session): Promise<void> => {
    for (;;) {
      const start = performance.now()
      if (start >= end) return
      try {
        await send(session, counter++)
        if (start >= warmEnd) latenciesUs.push((performance.now() - start) * 1000)
      } catch {
        if (start >= warmEnd) errors++
      }
    }
  }
  await Promise.all(sessions.map(worker))
  return { latenciesUs, requests: latenciesUs.length, errors, seconds: durationMs / 1000 }
}
