/**
 * One Streamable HTTP connection in the 2025-11-25 revision: an MCP session with the backend
 * (initialize, each message POSTed, answers as JSON or SSE, the GET stream for what comes
 * outside calls). An expired upstream session (404, or server-everything's 400) is
 * re-initialized transparently. modern.ts builds the 2026-07-28 connection on it;
 * http-backend.ts decides which one a backend gets.
 */
import { setMaxListeners } from 'node:events'
import { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import type { BackendConfig } from '../../config/gateway.ts'
import { PorticoError } from '../../errors.ts'
import { readText, WHOLE_ANSWER_BYTES } from '../../http/body.ts'
import type { HeaderMap } from '../../http/headers.ts'
import { askUncoded, contentTypeOf, headerValue } from '../../http/headers.ts'
import {
  encodeValues,
  isObject,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcResponse,
  parseExact,
  withoutBom,
} from '../../jsonrpc/message.ts'
import type { SignalLike } from '../../pipeline/signal.ts'
import { type SseEvent, SseParser } from '../../protocol/sse.ts'
import { describeNonResponse, notJsonRpcWords } from '../../protocol/summarize.ts'
import type { HttpClient, UpstreamResponse } from '../../upstream/http-client.ts'
import { chunksOf } from '../../util/chunks.ts'
import {
  BACKEND_PROTOCOL_VERSION,
  Connection,
  type Pending,
  type ServerInfo,
} from './connection.ts'
import { httpStatusError } from './http-status.ts'

/** How many times one call's SSE stream is resumed (GET + `Last-Event-ID`) before giving up. */
/** Subscriptions one connection asks again after a re-initialization, at most. */
const MAX_KEPT_SUBSCRIPTIONS = 1000
const MAX_RESUMES = 5
/** Upper bound on the reconnection delay a backend asks for with `retry:`. */
const MAX_RETRY_MS = 5000
/** The standalone GET stream: the longest wait before it is opened again. */
const MAX_STREAM_BACKOFF_MS = 30_000
/** A GET stream open this long was healthy: its end does not count toward giving up. */
const STREAM_HEALTHY_MS = 10_000

/** Where an SSE stream stopped: its last event id and the backend's requested retry delay. */
interface StreamPosition {
  lastId: string | undefined
  retryMs: number | undefined
}

export interface HttpConnectionOptions {
  config: BackendConfig
  http: HttpClient
  initParams: JsonObject
  timeoutMs: number
  /** The connection's start: connecting (WebSocket, SSE) and `initialize`, again after a 404. */
  startupTimeoutMs: number
  maxMessageBytes: number
  /**
   * The verified identity headers (and, with `forward_auth`, the token) of the client session
   * this connection serves: sent with the connection's own requests too (initialize, its
   * notifications, the GET stream, DELETE), so a backend that checks every request accepts
   * them. Each call still carries its own.
   */
  sessionHeaders?: HeaderMap
}

/** Headers every request to this backend carries: configured ones and the bearer token. */
export function backendHeaders(config: BackendConfig): HeaderMap {
  const headers: HeaderMap = {}
  for (const [name, value] of Object.entries(config.headers)) headers[name.toLowerCase()] = value
  if (config.bearer_token) headers.authorization = `Bearer ${config.bearer_token}`
  // Portico reads every answer: asked uncoded (one coded anyway is decoded).
  return askUncoded(headers)
}

/** What every request of one connection carries: the backend's headers, the session's. */
export function connectionHeaders(options: HttpConnectionOptions): HeaderMap {
  const headers = backendHeaders(options.config)
  return options.sessionHeaders === undefined ? headers : { ...headers, ...options.sessionHeaders }
}

function traced(headers: HeaderMap, traceparent: string | undefined): HeaderMap {
  if (traceparent !== undefined) headers.traceparent = traceparent
  return headers
}

/** Backend URL for messages: origin and path only, never credentials. */
export function labelOfBackend(config: BackendConfig): string {
  if (!config.url) return config.name
  const url = new URL(config.url)
  return `${config.name} (${url.protocol}//${url.host}${url.pathname})`
}

export class HttpConnection extends Connection {
  readonly #url: URL
  readonly #label: string
  readonly #options: HttpConnectionOptions
  /** What the connection's own requests carry: see `#refreshIdentity`. */
  #headers: HeaderMap
  /** The last call's identity headers the connection's own requests carry now. */
  #identity: HeaderMap | undefined
  /** The backend's own headers (configured ones, its bearer token). */
  readonly #base: HeaderMap
  readonly #abort = new AbortController()
  #sessionId: string | undefined
  #reinitializing: Promise<unknown> | undefined
  #streamFailures = 0
  /** Where the standalone GET stream was: its last event id, and the `retry:` it asked for. */
  #streamPosition: StreamPosition = { lastId: undefined, retryMs: undefined }
  /**
   * What this connection's backend session was asked to keep: the resources subscribed to and
   * the log level. A re-initialization (the backend forgot its sessions: restarted, say) starts
   * a session that knows none of it, so it is asked again; before, the client's subscriptions
   * were lost without a word and it heard of no update again.
   */
  readonly #subscribed = new Set<string>()
  #logLevel: JsonObject | undefined
  /** True while `#askAgain` sends: its requests belong to the re-initialization. */
  #restoring = false

  constructor(options: HttpConnectionOptions) {
    super(options.config.name)
    this.#options = options
    this.#url = new URL(options.config.url ?? '')
    this.#label = labelOfBackend(options.config)
    this.#base = backendHeaders(options.config)
    this.#headers = connectionHeaders(options)

    // Every request of this connection listens on its signal while in flight: as many as the
    // calls in flight, not a leak (Node warns at 11 listeners, e.g. 16 concurrent slow calls).
    setMaxListeners(0, this.#abort.signal)
  }

  async open(): Promise<ServerInfo> {
    const info = await this.initialize(this.#options.initParams, this.#options.startupTimeoutMs)
    this.#openStream()
    return info
  }

  /**
   * A client session's connection carries its caller's identity (and, with `forward_auth`, its
   * token) on its own requests too: the latest call's, not the first's. A re-initialization
   * after the backend forgot its sessions, the GET stream and the DELETE went with the token
   * the session opened with, expired long since, and every call of the session then failed 401.
   */
  #refreshIdentity(headers: HeaderMap): void {
    if (this.#options.sessionHeaders === undefined || headers === this.#identity) return
    this.#identity = headers
    this.#headers = { ...this.#base, ...headers }
  }

  #requestHeaders(): HeaderMap {
    const headers: HeaderMap = {
      ...this.#headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    }
    if (this.#sessionId) headers['mcp-session-id'] = this.#sessionId
    const version = this.info?.protocolVersion
    if (version) headers['mcp-protocol-version'] = version
    return headers
  }

  /**
   * POSTs one message; a call's POST stops with the call (cancelled, or past its deadline). One
   * without a call (a notification, an answer to the backend's request) has the request timeout
   * for its whole answer: it waits on nothing else, and a backend that answered the handshake's
   * `notifications/initialized` with a body that never ends held every call for ever.
   */
  protected post(
    message: JsonRpcMessage,
    pending?: Pending,
    extraHeaders?: HeaderMap,
  ): Promise<UpstreamResponse> {
    if (pending?.headers !== undefined) this.#refreshIdentity(pending.headers)
    const callSignal = pending?.signal
    const deadline =
      callSignal === undefined
        ? { timeoutMs: this.#options.timeoutMs, wholeMessageDeadline: true }
        : // A call with a deadline of its own is ended by it (its signal aborts, with the
          // message naming the bound); the client's header timeout, as long, raced it under
          // load and answered some calls with a vaguer "did not answer in time".
          pending?.timeoutMs !== undefined
          ? { headersTimeoutMs: 0 }
          : undefined
    return this.#options.http.send({
      ...deadline,
      url: this.#url,
      method: 'POST',
      headers: traced(
        pending?.headers || extraHeaders
          ? { ...this.#requestHeaders(), ...extraHeaders, ...pending?.headers }
          : this.#requestHeaders(),
        pending?.traceparent,
      ),
      body: Buffer.from(encodeValues(message)),
      signal: this.#abort.signal,
      callSignal,
      label: this.#label,
      wholeBytes: Math.min(WHOLE_ANSWER_BYTES, this.#options.maxMessageBytes),
    })
  }

  /**
   * POSTs one message outside any call, with this connection's headers and `headers`, until
   * `signal` aborts: a stream meant to stay open while quiet (`subscriptions/listen`).
   */
  protected postStream(
    message: JsonRpcMessage,
    headers: HeaderMap,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    return this.#options.http.send({
      url: this.#url,
      method: 'POST',
      headers: { ...this.#requestHeaders(), ...headers },
      body: Buffer.from(encodeValues(message)),
      signal,
      callSignal: this.#abort.signal,
      label: this.#label,
      bodyTimeoutMs: 0,
    })
  }

  protected async transmit(message: JsonRpcMessage, pending?: Pending): Promise<void> {
    const isInitialize = 'method' in message && message.method === 'initialize'
    // The handshake's own messages go out while it runs, and so does what a re-initialization
    // asks the new session again (the calls waiting on it then find a session as the lost one
    // was); everything else waits for it.
    const handshake = isInitialize || isInitializedNotice(message) || this.#restoring
    if (this.#reinitializing && !handshake) await this.#reinitializing.catch(() => {})
    if (!handshake) this.#remember(message)
    // The session this request went out on: a re-initialization that another call started
    // clears (then replaces) `#sessionId`, and this request's 404 is still that session's end.
    const sentOn = this.#sessionId
    let response = await this.post(message, pending)
    // Not for the handshake's own messages: a re-initialization's `notifications/initialized`
    // refused with 404 waited on the re-initialization that waits for it, and every later
    // call of the connection waited on that for good. The calls after it find out for
    // themselves (each re-initializes once at most).
    if (!handshake && sentOn && (await sessionExpired(response))) {
      // One re-initialization for every call the lost session refused: the first starts it,
      // the others wait for it; one whose 404 comes after it finished just goes out again.
      if (this.#reinitializing || this.#sessionId === sentOn) await this.#reinitialize()
      response = await this.post(message, pending)
    }
    if (isInitialize) {
      const sessionId = headerValue(response.headers, 'mcp-session-id')
      if (sessionId) this.#sessionId = sessionId
    }
    await this.consume(response, pending)
  }

  #reinitialize(): Promise<unknown> {
    if (!this.#reinitializing) {
      this.#sessionId = undefined
      this.#reinitializing = this.initialize(
        this.#options.initParams,
        this.#options.startupTimeoutMs,
      )
        .then(() => {
          this.#openStream()
          return this.#askAgain()
        })
        .finally(() => {
          this.#reinitializing = undefined
        })
    }
    return this.#reinitializing
  }

  /** Notes what the backend session is asked to keep (see `#subscribed`). */
  #remember(message: JsonRpcMessage): void {
    if (!('method' in message) || !('id' in message)) return
    const { method, params } = message
    if (method === 'logging/setLevel' && isObject(params)) {
      this.#logLevel = params
      return
    }
    const uri = isObject(params) && typeof params.uri === 'string' ? params.uri : undefined
    if (uri === undefined) return
    if (method === 'resources/subscribe' && this.#subscribed.size < MAX_KEPT_SUBSCRIPTIONS) {
      this.#subscribed.add(uri)
    } else if (method === 'resources/unsubscribe') this.#subscribed.delete(uri)
  }

  /**
   * Asks a new backend session what the lost one was asked to keep, before the calls waiting
   * on the re-initialization go out (one that touches a subscribed resource must find the
   * subscription there); a refusal changes nothing.
   */
  async #askAgain(): Promise<void> {
    const options = { timeoutMs: this.#options.timeoutMs }
    const asked: Promise<unknown>[] = []
    // Their transmit starts now, synchronously: it sees the flag and does not wait for the
    // re-initialization these requests are part of.
    this.#restoring = true
    try {
      if (this.#logLevel !== undefined) {
        asked.push(this.request('logging/setLevel', this.#logLevel, options))
      }
      for (const uri of this.#subscribed) {
        asked.push(this.request('resources/subscribe', { uri }, options))
      }
    } finally {
      this.#restoring = false
    }
    await Promise.allSettled(asked)
  }

  protected async consume(response: UpstreamResponse, pending: Pending | undefined): Promise<void> {
    if (pending === undefined) {
      // A notification or an answer to the backend's request: the spec's answer is 202 with no
      // body, and nothing in one is waited for. A body still coming is dropped, not read.
      if (response.bytes === undefined) response.body.destroy()
      return
    }
    const type = contentTypeOf(response.headers)
    if (response.status === 202 || response.status === 204) {
      if (response.bytes === undefined) response.body.resume()
      // Accepted without an answer: right for a notification or a response; a request's
      // answer would never come (Streamable HTTP answers requests with JSON or SSE).
      if (pending === undefined || pending.settled) return
      pending.reject(
        new PorticoError('backend_failed', {
          message: `Backend ${this.#label} accepted the call without answering it (HTTP ${response.status})`,
          data: { backend: this.backend, status: response.status },
        }),
      )
      return
    }
    // What the answer held instead of the call's response, when it was read whole.
    let instead: string | undefined
    const failing = response.status >= 500 || response.status === 429
    if (failing && type.startsWith('text/event-stream')) {
      // The status decides, whatever the body (below); its events may still say why.
      const text = await readText(response.body, this.#options.maxMessageBytes).catch(() => '')
      const said = errorFor(eventsOf(text), (id) => id === null || this.callIdOf(id) === pending.id)
      pending.reject(this.#httpFailure(response, said))
      return
    }
    if (type.startsWith('text/event-stream')) {
      await this.#readResumable(response.body, pending)
    } else {
      const text =
        response.bytes === undefined
          ? await readText(response.body, this.#options.maxMessageBytes)
          : response.bytes.toString('utf8')
      // A JSON body may start with a byte order mark, as fetch `.json()` reads it.
      const value = parseExact(withoutBom(text))
      // A 5xx is the backend failing even when its body answers the call with a JSON-RPC
      // error: the call fails as a 5xx does (breaker, retries, failover count it). A 429 is its
      // rate limit whatever its body says: the client's 429 and Retry-After, and a failover may
      // take the call (passed on as the answer, it reached the client as a 200). The client
      // still reads the backend's own words in the message. Another 4xx answering the call
      // with a JSON-RPC error is the backend's answer, its code kept (2026-07-28's -32020 to
      // -32022 come with a 400).
      if (failing) {
        // Matched as responses are (a call sent again under another id answers under that
        // one); an error the backend could not tie to the call (`"id": null`) still says why.
        const said = errorFor(value, (id) => id === null || this.callIdOf(id) === pending.id)
        pending.reject(this.#httpFailure(response, said))
        return
      }
      if (Array.isArray(value)) for (const item of value) this.receive(item, pending)
      else if (value !== undefined) this.receive(value, pending)
      if (response.status >= 400 && pending) {
        // An error the backend could not tie to the call (`"id": null`) still says why.
        const said = errorFor(value, (id) => id === null)
        pending.reject(this.#httpFailure(response, said, isJsonRpcError(value)))
      }
      if (pending && !pending.settled) {
        instead =
          value === undefined && !type.includes('json')
            ? notJsonRpcWords(response.status, type)
            : describeNonResponse(value)
      }
    }
    // Checked first: building an Error (and its stack) for every answered call is not free.
    if (pending && !pending.settled && !this.answersLater(pending)) {
      const what =
        instead === undefined
          ? 'ended its answer without a response'
          : `sent no response to the call: ${instead}`
      pending.reject(
        new PorticoError('backend_failed', {
          message: `Backend ${this.#label} ${what}`,
          data: { backend: this.backend },
        }),
      )
    }
  }

  /**
   * Whether the call's answer was read but is held back to be acted on (modern.ts: a call the
   * backend needs the client's input for), so the answer ending without it is no failure.
   */
  /**
   * A backend that refuses this session's revision (`-32022`, a server restarted as one that
   * serves only 2026-07-28) refuses the gateway's leg, not the client's request: the call fails
   * as the backend's failure, marked for http-backend.ts to learn the revision again.
   */
  protected override settle(pending: Pending, response: JsonRpcResponse, related?: Pending): void {
    const error = response.error
    if (error?.code !== UNSUPPORTED_VERSION) {
      super.settle(pending, response, related)
      return
    }
    const revision = this.info?.protocolVersion ?? BACKEND_PROTOCOL_VERSION
    pending.reject(
      new PorticoError('backend_failed', {
        message: `Backend ${this.#label} no longer serves MCP ${revision}: ${String(error.message).slice(0, MAX_QUOTED_ERROR)}`,
        data: { backend: this.backend, revisionRefused: true },
      }),
    )
  }

  protected answersLater(_pending: Pending): boolean {
    return false
  }

  /** `jsonRpcBody`: the body was a JSON-RPC error (an MCP server's refusal, not a proxy's). */
  #httpFailure(
    response: UpstreamResponse,
    said: string | undefined,
    jsonRpcBody = false,
  ): PorticoError {
    return httpStatusError({
      backend: this.backend,
      label: this.#label,
      status: response.status,
      ...(said === undefined ? {} : { said: said.slice(0, MAX_QUOTED_ERROR) }),
      jsonRpcBody,
      retryAfter: headerValue(response.headers, 'retry-after'),
    })
  }

  /**
   * Reads a call's SSE answer. A backend may close the stream before the response (SSE
   * polling, SEP-1699) and expect the client to reconnect with `Last-Event-ID`: the gateway
   * does that itself, after the `retry:` delay, so the client just gets the result.
   */
  async #readResumable(body: Readable, pending: Pending | undefined): Promise<void> {
    let position = await this.#readSse(body, pending)
    for (let resumes = 0; resumes < MAX_RESUMES; resumes++) {
      if (!pending || !this.isPending(pending.id) || position.lastId === undefined) return
      if (this.closed || !this.#sessionId) return
      await delay(Math.min(position.retryMs ?? 0, MAX_RETRY_MS), undefined, {
        signal: this.#abort.signal,
      })
      const response = await this.#options.http.send({
        url: this.#url,
        method: 'GET',
        headers: { ...this.#streamHeaders(), 'last-event-id': position.lastId },
        signal: this.#abort.signal,
        label: this.#label,
      })
      if (!isEventStream(response)) {
        response.body.resume()
        return
      }
      const next = await this.#readSse(response.body, pending)
      position = {
        lastId: next.lastId ?? position.lastId,
        retryMs: next.retryMs ?? position.retryMs,
      }
    }
  }

  async #readSse(body: Readable, related: Pending | undefined): Promise<StreamPosition> {
    const parser = new SseParser(this.#options.maxMessageBytes)
    const position: StreamPosition = { lastId: undefined, retryMs: undefined }
    body.setEncoding('utf8')
    const take = (event: SseEvent) => {
      if (event.id !== undefined) position.lastId = event.id
      if (event.retry !== undefined) position.retryMs = event.retry
      if (!event.data || (event.event && event.event !== 'message')) return
      const value = parseExact(event.data)
      if (value !== undefined) this.receive(value, related)
    }
    for await (const chunk of chunksOf<string>(body)) {
      for (const event of parser.push(chunk)) take(event)
      // The call's response is in: the stream has nothing more for it (the spec has the backend
      // close it now). One kept open, quiet or not, held a socket per call until the session
      // ended, and the gateway's own session (stateless clients) never ends.
      if (related?.settled) {
        body.destroy()
        break
      }
      // This stream serves one call: while its client lags, leave the rest in the socket.
      const backlog = related?.sink?.backlog?.()
      if (backlog !== undefined) await untilOrAborted(backlog, related?.signal, this.#abort.signal)
    }
    for (const event of parser.end()) take(event)
    return position
  }

  /** Headers of a GET stream (the standalone one, or a resumed call stream). */
  #streamHeaders(): HeaderMap {
    const headers: HeaderMap = { ...this.#headers, accept: 'text/event-stream' }
    if (this.#sessionId) headers['mcp-session-id'] = this.#sessionId
    if (this.info?.protocolVersion) headers['mcp-protocol-version'] = this.info.protocolVersion
    return headers
  }

  /**
   * The standalone GET stream: list changes and resource updates arrive there. One that ends is
   * opened again from where it was (`Last-Event-ID`), after the backend's `retry:` when it gave
   * one (a server that polls: SEP-1699), else after a backoff doubling from 0.5 s to 30 s, given
   * up after 5 ends in a row that came soon (a stream open STREAM_HEALTHY_MS was healthy).
   * Before, an event stream that ended at once was opened again every 0.5 s for ever, by every
   * session, and without its last event id.
   */
  #openStream(): void {
    if (this.closed || !this.#sessionId) return
    const sessionId = this.#sessionId
    const headers = this.#streamHeaders()
    if (this.#streamPosition.lastId !== undefined) {
      headers['last-event-id'] = this.#streamPosition.lastId
    }
    let opened = 0
    void this.#options.http
      .send({
        url: this.#url,
        method: 'GET',
        headers,
        signal: this.#abort.signal,
        label: this.#label,
      })
      .then(async (response) => {
        if (!isEventStream(response)) {
          response.body.resume()
          // 405: the backend offers no GET stream (MCP lets it say so). Any other refusal (a
          // 5xx, a 429 while it starts) is tried again as a stream that ended: before, one
          // refusal left the session without list changes and resource updates for good.
          if (response.status === 405) return
          throw new Error(`GET stream refused (HTTP ${response.status})`)
        }
        opened = Date.now()
        const position = await this.#readSse(response.body, undefined)
        this.#streamPosition = {
          lastId: position.lastId ?? this.#streamPosition.lastId,
          retryMs: position.retryMs ?? this.#streamPosition.retryMs,
        }
        throw new Error('stream ended')
      })
      .catch(() => {
        if (this.closed || sessionId !== this.#sessionId) return
        if (opened !== 0 && Date.now() - opened >= STREAM_HEALTHY_MS) this.#streamFailures = 0
        const asked = this.#streamPosition.retryMs
        // A backend that says when to come back is polled at its pace; one that does not is
        // given up after a few quick ends (a new session opens its own).
        if (++this.#streamFailures > 5 && asked === undefined) return
        const backoff = Math.min(500 * 2 ** (this.#streamFailures - 1), MAX_STREAM_BACKOFF_MS)
        const wait =
          asked === undefined ? backoff : Math.min(Math.max(asked, 500), MAX_STREAM_BACKOFF_MS)
        setTimeout(() => this.#openStream(), wait).unref()
      })
  }

  #closing: Promise<void> | undefined

  /** Ends the backend session (DELETE), once however often asked. */
  close(): Promise<void> {
    this.#closing ??= this.#end()
    return this.#closing
  }

  async #end(): Promise<void> {
    const sessionId = this.#sessionId
    this.fail(
      new PorticoError('backend_failed', { message: `Backend ${this.backend} session closed` }),
    )
    this.#abort.abort()
    if (!sessionId) return
    try {
      const response = await this.#options.http.send({
        url: this.#url,
        method: 'DELETE',
        headers: { ...this.#headers, 'mcp-session-id': sessionId },
        signal: AbortSignal.timeout(1000),
        label: this.#label,
      })
      response.body.resume()
    } catch {
      // The backend may already be gone; its session expires on its own.
    }
  }
}

function isEventStream(response: UpstreamResponse): boolean {
  const type = contentTypeOf(response.headers)
  return response.status === 200 && type.startsWith('text/event-stream')
}

function isInitializedNotice(message: JsonRpcMessage): boolean {
  return 'method' in message && message.method === 'notifications/initialized' && !('id' in message)
}

/** 404 means the session ended (spec); server-everything answers 400 "No valid session ID". */
async function sessionExpired(response: UpstreamResponse): Promise<boolean> {
  if (response.status === 404) {
    response.body.resume()
    return true
  }
  if (response.status !== 400) return false
  const text = await readText(response.body, 64 * 1024)
  if (/session/i.test(text)) return true
  // Put the body back for the normal path.
  response.body = Readable.from([text])
  return false
}

/** The JSON messages of an event stream read whole (its single-line `data:` fields). */
function eventsOf(text: string): unknown[] {
  const messages: unknown[] = []
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('data:')) messages.push(parseExact(line.slice(5).trim()))
  }
  return messages
}

/** Whether a body is a JSON-RPC error response (one message, or any of a batch). */
function isJsonRpcError(value: unknown): boolean {
  const items = Array.isArray(value) ? value : [value]
  return items.some((item) => isObject(item) && item.jsonrpc === '2.0' && isObject(item.error))
}

/** JSON-RPC's code for a revision the server does not serve (2026-07-28's -32022). */
const UNSUPPORTED_VERSION = -32022

/** How much of a backend's error message a 5xx failure quotes. */
const MAX_QUOTED_ERROR = 300

/** The message of the JSON-RPC error in a body that answers the call (`answers` tells its id). */
function errorFor(value: unknown, answers: (id: unknown) => boolean): string | undefined {
  for (const item of Array.isArray(value) ? value : [value]) {
    if (!isObject(item) || !answers(item.id) || !isObject(item.error)) continue
    const message = item.error.message
    return typeof message === 'string' ? message : undefined
  }
  return undefined
}

/**
 * Waits for `promise`, or until either signal aborts (the call was cancelled or expired, the
 * connection closed): a lagging client never holds a backend stream past its call.
 */
function untilOrAborted(
  promise: Promise<void>,
  call: SignalLike | undefined,
  connection: AbortSignal,
): Promise<void> {
  if (call?.aborted || connection.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      call?.removeEventListener('abort', done)
      connection.removeEventListener('abort', done)
      resolve()
    }
    call?.addEventListener('abort', done, { once: true })
    connection.addEventListener('abort', done, { once: true })
    void promise.then(done)
  })
}
