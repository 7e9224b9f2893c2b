/**
 * One MCP client session with a backend, independent of its transport: outgoing request ids
 * and progress tokens are the gateway's own (so several clients can share one backend without
 * collisions), answers are matched back, and every server message is routed to the call it
 * belongs to (progress, logs, sampling/elicitation/roots requests) or to the owner.
 */
import { notSent, PorticoError } from '../../errors.ts'
import type { HeaderMap } from '../../http/headers.ts'
import {
  exactIdMember,
  isObject,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  jsonTextOf,
  withMembers,
} from '../../jsonrpc/message.ts'
import { CallController, type SignalLike } from '../../pipeline/signal.ts'
import { idText } from '../../protocol/summarize.ts'
import { BoundedMap } from '../../util/bounded-map.ts'
import { clipped } from '../../util/format.ts'
import { lookupTable } from '../../util/lookup-table.ts'
import { OpenTable } from '../../util/open-table.ts'

/** A server message that calls of several clients in flight could each have caused. */
const AMBIGUOUS = Symbol('ambiguous')
/** A server request while several stateless calls of one caller are in flight there. */
const AMBIGUOUS_CALL = Symbol('ambiguous-call')
/** A server request for a capability the client of the calls in flight did not declare. */
const UNDECLARED = Symbol('undeclared')

/** The client capability each server→client request needs (mrtr.ts `accepts` reads it too). */
export const CAPABILITY_OF: Readonly<Record<string, string>> = lookupTable({
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
})

/**
 * What a server request the client cannot take is answered: `roots/list` an empty list, as the
 * gateway answers it when no client session can take it (`answerUnrouted`): servers that ask
 * at start (the filesystem server does) would log a failure at every start, and whether a call
 * of a client without roots was in flight at that moment (a -32601) or not (the empty list)
 * must not decide what they get. Anything else `notDeclared`.
 */
export function undeclaredAnswer(
  method: string,
): { result: JsonObject } | { error: JsonRpcErrorObject } {
  return method === 'roots/list' ? { result: { roots: [] } } : { error: notDeclared(method) }
}

/**
 * The answer to a server request the client cannot take: MCP has servers send these only to
 * a client that declared the capability, and `-32601` is what a client without it answers.
 */
function notDeclared(method: string): JsonRpcErrorObject {
  const capability = CAPABILITY_OF[method]
  return {
    code: -32601,
    message:
      capability === undefined
        ? `The client cannot answer ${method.slice(0, 100)}`
        : `The client did not declare the ${capability} capability: it cannot answer ${method}`,
  }
}

const NOT_ATTRIBUTABLE = {
  code: -32603,
  message:
    'Calls of several clients are in flight on this shared connection: Portico cannot tell ' +
    'which client this request is for (isolation = "session" gives each client its own process)',
}
/** As NOT_ATTRIBUTABLE, for several stateless calls of one caller (each its own exchange). */
const NOT_ATTRIBUTABLE_CALL = {
  code: -32603,
  message:
    'Several stateless calls of one client are in flight on this shared connection: Portico ' +
    'cannot tell which call this request is for (isolation = "session" gives each its own process)',
}

/** The protocol revision the gateway speaks to backends (they may answer with an older one). */
export const BACKEND_PROTOCOL_VERSION = '2025-11-25'

/** Receives the server messages related to one call. */
export interface CallSink {
  related(message: JsonRpcRequest | JsonRpcNotification): void
  /**
   * Whose call this is (a client session; for a stateless call, its caller's key): on a
   * connection shared by several clients, a server message no transport relates to one call
   * goes to a call only while every call in flight there is this one client's (see
   * `#latestSink`). Compared by identity (an object) or by value (a key). Undefined: its own.
   */
  readonly owner?: object | string
  /** Whether the call's client declared the capability a server request needs. */
  accepts?(method: string): boolean
  /**
   * A stateless (2026-07-28) client's own request `_meta` (its revision, capabilities, client
   * info, log level): a backend reached in that revision is sent them, and the
   * `input_required` results it answers with are passed to the client, whose retry carries
   * the answers (modern.ts). Undefined for a session's call.
   */
  readonly statelessMeta?: JsonObject
  /** The request this sink served has ended (answered, failed or cancelled). */
  end?(): void
  /** True while the call is parked, waiting for its stateless client's answers (mrtr.ts). */
  waitsForInput?(): boolean
  /**
   * Resolves once the client has read what was related so far; undefined while it keeps up. A
   * transport with a stream for this one call (HTTP) stops reading it meanwhile, so the backend
   * is slowed instead of its messages being dropped.
   */
  backlog?(): Promise<void> | undefined
}

export interface CallOptions {
  /** The request's deadline, restarted by each progress notification; none when undefined. */
  timeoutMs?: number
  sink?: CallSink
  signal?: SignalLike
  /** Headers for this request only (HTTP transports): the caller's verified identity. */
  headers?: HeaderMap
  /** W3C trace context, sent as a header by HTTP transports (stdio reads `_meta`). */
  traceparent?: string
}

/** What a backend said about itself in `initialize`. */
export interface ServerInfo {
  protocolVersion?: string
  capabilities?: JsonObject
  instructions?: string
  serverInfo?: JsonObject
}

export interface Pending {
  readonly id: number
  readonly method: string
  readonly sink: CallSink | undefined
  /** Aborted when the call is cancelled or its deadline passes (transports stop reading). */
  readonly signal: SignalLike | undefined
  /** True once answered, failed or expired (lets callers skip building an unused error). */
  readonly settled: boolean
  /** Headers for this request only (HTTP transports): the caller's verified identity. */
  readonly headers: HeaderMap | undefined
  /** The call's W3C trace context (HTTP transports send it as `traceparent`). */
  readonly traceparent: string | undefined
  /** This connection's deadline for the call, if it has one (`signal` aborts at it). */
  readonly timeoutMs: number | undefined
  resolve(response: JsonRpcResponse): void
  reject(error: PorticoError): void
}

interface PendingState extends Pending {
  /** A field set once, not a getter: an object literal with a getter, made per request, kept
   * every request's objects alive through young collections (perf2 log step 37). */
  settled: boolean
  timer: NodeJS.Timeout | undefined
  /** Aborts the transport's view of the call (`signal`) when this connection's deadline passes. */
  deadline: CallController | undefined
  progressKey: string | undefined
  /** `Connection.#strays` when the call was sent (its timeout says how many came since). */
  straysBefore: number
  cleanup: () => void
}

let connectionCounter = 0

/** Server messages held until the connection is up (`onUnsolicited`); later ones are dropped. */
const MAX_EARLY_MESSAGES = 64

export abstract class Connection {
  readonly backend: string
  /**
   * Who takes unrelated server messages (list changes, resource updates, unrelated logs,
   * requests outside any call). Set once the connection is up: what the server sends before
   * (a request written right after its `initialize` answer) is held, a few, and handed over
   * then, so that a request sent that early still gets its answer.
   */
  get onUnsolicited(): (message: JsonRpcRequest | JsonRpcNotification) => void {
    return this.#unsolicited ?? this.#holdEarly
  }

  set onUnsolicited(handler: (message: JsonRpcRequest | JsonRpcNotification) => void) {
    this.#unsolicited = handler
    const early = this.#early
    this.#early = []
    for (const message of early) handler(message)
  }

  #unsolicited: ((message: JsonRpcRequest | JsonRpcNotification) => void) | undefined
  #early: Array<JsonRpcRequest | JsonRpcNotification> = []
  readonly #holdEarly = (message: JsonRpcRequest | JsonRpcNotification): void => {
    if (this.#early.length < MAX_EARLY_MESSAGES) this.#early.push(message)
  }
  /** A message from the backend that could not be routed, and was dropped (see `receive`). */
  onUnroutable: (error: unknown) => void = () => {}
  info: ServerInfo | undefined
  readonly #tag = `p${++connectionCounter}`
  #nextId = 0
  #nextToken = 0
  /** Added and removed once per request, many at a time on a shared connection: OpenTables. */
  readonly #pending = new OpenTable<PendingState>()
  /** Responses whose id no call awaits, and the last such id: named in a call's timeout. */
  #strays = 0
  #lastStrayId = ''
  readonly #progress = new OpenTable<{ pending: PendingState; original: unknown }>()
  /** Server→client request ids (as JSON) → the call sink that received them. */
  readonly #serverRequests = new BoundedMap<string, CallSink>(1000)
  #failure: PorticoError | undefined

  constructor(backend: string) {
    this.backend = backend
  }

  get closed(): boolean {
    return this.#failure !== undefined
  }

  get inFlight(): number {
    return this.#pending.size
  }

  /** Writes one message to the backend; `pending` is set for requests (HTTP answers on it). */
  protected abstract transmit(message: JsonRpcMessage, pending?: Pending): void | Promise<void>

  /** Sends a request with a gateway id; resolves with the backend's answer (its id unchanged). */
  request(
    method: string,
    params: JsonObject | undefined,
    options: CallOptions,
  ): Promise<JsonRpcResponse> {
    if (this.#failure) return Promise.reject(notSent(copyOf(this.#failure)))
    const id = ++this.#nextId
    const { params: sent, progressKey, original } = this.#remapProgress(params)
    return new Promise<JsonRpcResponse>((resolve, reject) => {
      const onAbort = () => {
        const reason = options.signal?.reason
        const error = reason instanceof PorticoError ? reason : new PorticoError('cancelled')
        this.notify('notifications/cancelled', {
          requestId: id,
          reason: error.reason === 'cancelled' ? cancelReasonOf(error) : error.message,
        })
        settle(() => reject(error))
      }
      // The transport's signal also aborts at this connection's own deadline (#expire), so an
      // HTTP request past it is ended rather than left open at the backend.
      const deadline =
        options.timeoutMs === undefined
          ? undefined
          : options.signal === undefined
            ? new CallController()
            : CallController.linkedTo(options.signal)
      const state: PendingState = {
        id,
        method,
        sink: options.sink,
        signal: deadline?.signal ?? options.signal,
        deadline,
        headers: options.headers,
        traceparent: options.traceparent,
        timeoutMs: options.timeoutMs,
        progressKey,
        straysBefore: this.#strays,
        timer:
          options.timeoutMs === undefined
            ? undefined
            : setTimeout(() => this.#expire(id), options.timeoutMs),
        settled: false,
        resolve: (response) => settle(() => resolve(response)),
        reject: (error) => settle(() => reject(error)),
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      }
      const settle = (finish: () => void) => {
        if (!this.#pending.delete(id)) return
        state.settled = true
        clearTimeout(state.timer)
        deadline?.unlink()
        if (progressKey !== undefined) this.#progress.delete(progressKey)
        state.cleanup()
        finish()
      }
      this.#pending.set(id, state)
      if (progressKey !== undefined) this.#progress.set(progressKey, { pending: state, original })
      if (options.signal?.aborted) return onAbort()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const message: JsonRpcRequest = { jsonrpc: '2.0', id, method }
      if (sent !== undefined) message.params = sent
      try {
        const sending = this.transmit(message, state)
        if (sending)
          sending.catch((error: unknown) => state.reject(asBackendError(error, this.backend)))
      } catch (error) {
        // Thrown before anything was written (stdin closed, a full pipe).
        state.reject(notSent(asBackendError(error, this.backend)))
      }
    })
  }

  /** Sends a notification; resolves once it is written (never rejects: a lost one is lost). */
  notify(method: string, params?: JsonObject): Promise<void> {
    if (this.#failure) return Promise.resolve()
    const message: JsonRpcNotification = { jsonrpc: '2.0', method }
    if (params !== undefined) message.params = params
    return this.#send(message)
  }

  /** Answers a server→client request the backend sent (with the backend's own id). */
  answer(id: JsonRpcId, outcome: { result: JsonObject } | { error: JsonRpcErrorObject }): void {
    this.#serverRequests.delete(JSON.stringify(id))
    if (this.#failure) return
    const message = { jsonrpc: '2.0', id, ...outcome } as JsonRpcResponse
    // An answer that cannot be written (nested too deeply) was lost on the way, and the backend
    // waited for it until its own timeout: it is told why instead (answers are rare and small).
    if (jsonTextOf(message) === undefined) {
      this.#send({ jsonrpc: '2.0', id, error: UNWRITABLE_ANSWER })
      return
    }
    this.#send(message)
  }

  #send(message: JsonRpcMessage): Promise<void> {
    try {
      const sending = this.transmit(message)
      if (sending) return sending.catch(() => {})
    } catch {
      // A notification or answer that cannot be written is lost with the connection.
    }
    return Promise.resolve()
  }

  /** Runs the `initialize` handshake with the given client identity and capabilities. */
  async initialize(params: JsonObject, timeoutMs: number): Promise<ServerInfo> {
    const response = await this.request('initialize', params, { timeoutMs })
    if (!isObject(response.result)) {
      throw new PorticoError('backend_failed', {
        // Clipped: the message goes on into the log at each failed start, the health report
        // and every call refused meanwhile (a 3 MB one made 12 MB of log in three restarts).
        message: `Backend ${this.backend} refused initialize: ${clipped(String(response.error?.message ?? 'no result'))}`,
      })
    }
    const result = response.result
    const info: ServerInfo = {}
    if (typeof result.protocolVersion === 'string') info.protocolVersion = result.protocolVersion
    if (isObject(result.capabilities)) info.capabilities = result.capabilities
    if (typeof result.instructions === 'string') info.instructions = result.instructions
    if (isObject(result.serverInfo)) info.serverInfo = result.serverInfo
    this.info = info
    // Written before any request goes out on the session (HTTP posts each message on its own:
    // a request sent meanwhile, such as the one a re-initialization retries, would overtake it).
    await this.notify('notifications/initialized')
    return info
  }

  /**
   * Whether a message on a call's stream may only be about that call (progress, a cancel of a
   * request it caused): on a connection every client shares (modern.ts), a backend naming
   * another call there would hand one client's messages to another.
   */
  protected get ownStreamsOnly(): boolean {
    return false
  }

  /** Whether a request still waits for its response. */
  protected isPending(id: number): boolean {
    return this.#pending.has(id)
  }

  /**
   * The id of the call a response answers: its own (the gateway's numbers); a transport that
   * sends a call again under another id (modern.ts, a retry with the client's input) maps it.
   */
  protected callIdOf(id: unknown): number {
    return typeof id === 'number' ? id : -1
  }

  /**
   * Ends a call with the backend's response (a transport may act on it first: modern.ts).
   * `related` is the call whose answer carried it, on transports that tell.
   */
  protected settle(pending: Pending, response: JsonRpcResponse, _related?: Pending): void {
    pending.resolve(response)
  }

  /**
   * Routes one message from the backend. `related` is the call whose HTTP answer carried it;
   * on transports without that association (stdio) server requests and logs go to the most
   * recent call in flight, which is exact with one client per connection. Called from a
   * transport's event handler: whatever routing throws (a message nested too deeply to write
   * back to the client, say) drops that message and is reported, so that no backend message
   * can take the process down.
   */
  protected receive(value: unknown, related?: Pending): void {
    try {
      this.#route(value, related)
    } catch (error) {
      this.onUnroutable(error)
    }
  }

  #route(value: unknown, related: Pending | undefined): void {
    if (!isObject(value)) return
    const message = value as unknown as JsonRpcMessage
    if (!('method' in message) || typeof message.method !== 'string') {
      const response = message as JsonRpcResponse
      const pending = this.#pending.get(this.callIdOf(response.id))
      if (pending === undefined) this.#stray(response.id)
      else this.settle(pending, response, related)
      return
    }
    if ('id' in message && message.id !== undefined) {
      // MCP: the receiver of a ping answers it with an empty result, at once and at any time
      // (before `initialize` is answered too). The gateway is the backend's client: it answers
      // for itself, whichever client's call is in flight.
      // The backend's id as it wrote it (one past 2^53 is answered under its own digits).
      const id = exactIdMember(message, 'id') as JsonRpcId
      if (message.method === 'ping') {
        this.answer(id, { result: {} })
        return
      }
      // A call's own stream names its call (HTTP), whose client may not take this method
      // either: refused as from a process (it reached a client that never declared it, and a
      // client that ignores such a request left the call waiting for its deadline).
      const own = related?.sink
      const sink =
        own === undefined
          ? this.#latestSink(message.method)
          : (own.accepts?.(message.method) ?? true)
            ? own
            : UNDECLARED
      if (sink === AMBIGUOUS || sink === AMBIGUOUS_CALL) {
        const error = sink === AMBIGUOUS ? NOT_ATTRIBUTABLE : NOT_ATTRIBUTABLE_CALL
        this.answer(id, { error })
        return
      }
      if (sink === UNDECLARED) {
        this.answer(id, undeclaredAnswer(message.method))
        return
      }
      if (!sink) {
        this.onUnsolicited(message)
        return
      }
      this.#serverRequests.set(JSON.stringify(id), sink)
      sink.related(message)
      return
    }
    this.#notification(message, related)
  }

  #notification(message: JsonRpcNotification, related: Pending | undefined): void {
    const params = message.params
    if (message.method === 'notifications/progress' && isObject(params)) {
      const entry = this.#progress.get(String(params.progressToken))
      // Progress that is not a number is dropped: a client SDK rejects it, and it would keep
      // the call's timer alive for nothing.
      if (!entry || !isProgress(params)) return
      if (this.ownStreamsOnly && related !== undefined && entry.pending !== related) return
      entry.pending.timer?.refresh() // progress keeps a long call alive
      entry.pending.sink?.related({
        ...message,
        params: withMembers(params, { progressToken: entry.original }),
      })
      return
    }
    if (message.method === 'notifications/cancelled' && isObject(params)) {
      const key = JSON.stringify(exactIdMember(params, 'requestId'))
      const sink = this.#serverRequests.get(key)
      if (this.ownStreamsOnly && related !== undefined && related.sink !== sink) return
      this.#serverRequests.delete(key)
      sink?.related(message)
      return
    }
    if (message.method === 'notifications/message') {
      const sink = related?.sink ?? this.#latestSink()
      // A call's log line that could be another client's call's is not shown to either.
      if (sink === AMBIGUOUS || sink === AMBIGUOUS_CALL || sink === UNDECLARED) return
      if (sink) {
        sink.related(message)
        return
      }
    }
    this.onUnsolicited(message)
  }

  /**
   * The most recent call in flight whose client can handle `method` (any, for logs), for a
   * server message the transport does not relate to a call (stdio). That guess is only made
   * within one client: with calls of several clients in flight (a shared process), the message
   * may be any one's, and handing one client's sampling prompt or log line to another would
   * leak it, so it is AMBIGUOUS (a request is refused; a log line is dropped). A request while
   * several stateless calls of one caller are in flight is AMBIGUOUS_CALL, refused alike.
   */
  #latestSink(
    method?: string,
  ): CallSink | typeof AMBIGUOUS | typeof AMBIGUOUS_CALL | typeof UNDECLARED | undefined {
    let sink: CallSink | undefined
    let owner: object | string | undefined
    let calls = 0
    // A stateless caller's calls: those running, and those parked (waiting for its answers).
    let running = 0
    let parked = 0
    let sinkWaits = false
    let declined = false
    let runningDeclined = false
    for (const pending of this.#pending.values()) {
      if (!pending.sink) continue
      const whose = pending.sink.owner ?? pending.sink
      if (calls++ > 0 && whose !== owner) return AMBIGUOUS
      owner = whose
      // A parked call waits for its client's answers: it is not the one asking now, unless
      // no other call is running (its tool asks again).
      const waits = pending.sink.waitsForInput?.() === true
      if (pending.sink.statelessMeta !== undefined) {
        if (waits) parked++
        else running++
      }
      if (method !== undefined && !(pending.sink.accepts?.(method) ?? true)) {
        declined = true
        if (!waits) runningDeclined = true
      } else if (sink === undefined || !waits || sinkWaits) {
        sink = pending.sink
        sinkWaits = waits
      }
    }
    if (method !== undefined) {
      // A session's client answers a request by its id, whichever of its calls' streams
      // carried it; a stateless caller's calls are each their own exchange, and the request
      // comes back in the result of the call that carries it: with two running (or, none
      // running, two parked), the wrong call's result carried it, and the call that asked
      // waited for its timeout (or one call's prompt reached another).
      if (running > 1 || (running === 0 && parked > 1)) return AMBIGUOUS_CALL
      // The call running cannot take it: refused as its client would, never handed to a
      // parked call instead (that call's client was asked another call's question).
      if (runningDeclined && sinkWaits) return UNDECLARED
    }
    // The one client whose calls are in flight cannot take it: it is refused as that client
    // would, rather than handed to the session's GET stream or reported as unroutable.
    return sink === undefined && declined ? UNDECLARED : sink
  }

  #remapProgress(params: JsonObject | undefined): {
    params: JsonObject | undefined
    progressKey?: string
    original?: unknown
  } {
    const meta = params?._meta
    if (!params || !isObject(meta) || meta.progressToken === undefined) return { params }
    const progressKey = `${this.#tag}-${++this.#nextToken}`
    return {
      params: { ...params, _meta: { ...meta, progressToken: progressKey } },
      progressKey,
      original: exactIdMember(meta, 'progressToken'),
    }
  }

  /**
   * A response no call awaits: late (its call timed out or was cancelled), or a backend that
   * answers with ids of its own. Counted, so that a call timing out meanwhile can say so.
   */
  #stray(id: unknown): void {
    this.#strays++
    this.#lastStrayId = id === undefined ? 'none' : idText(id)
  }

  #expire(id: number): void {
    const pending = this.#pending.get(id)
    if (!pending) return
    this.notify('notifications/cancelled', { requestId: id, reason: 'timeout' })
    const strays = this.#strays - pending.straysBefore
    // The likely cause, when the backend answered something else meanwhile.
    const meanwhile =
      strays === 0
        ? ''
        : `; meanwhile it sent ${strays === 1 ? 'a response' : `${strays} responses`} to an id no call awaits (the last: ${this.#lastStrayId})`
    const error = new PorticoError('upstream_timeout', {
      message: `Backend ${this.backend} did not answer ${pending.method} within ${Math.round(pending.timeoutMs ?? 0)} ms${meanwhile}`,
      data: { backend: this.backend, reason: 'timeout' },
    })
    pending.reject(error)
    pending.deadline?.abort(error)
  }

  /**
   * Ends every call in flight with `error`, each told to the backend as cancelled (resolves once
   * those notifications are written, or lost: never rejects); the connection stays open. A drain's deadline: its calls are answered with their ids before
   * the connections close (else they were only cut, and a client on an SSE answer waited).
   */
  cut(error: PorticoError): Promise<void> {
    const told: Promise<void>[] = []
    for (const pending of [...this.#pending.values()]) {
      told.push(
        this.notify('notifications/cancelled', { requestId: pending.id, reason: error.message }),
      )
      pending.reject(copyOf(error))
    }
    return Promise.all(told).then(() => {})
  }

  /**
   * Ends the one call a response with `id` would have answered with `error` (a response too
   * large to read); false when no call in flight has that id.
   */
  protected failCall(id: JsonRpcId, error: PorticoError): boolean {
    const pending = this.#pending.get(this.callIdOf(id))
    if (pending === undefined) return false
    pending.reject(error)
    return true
  }

  /** Ends the connection: every call in flight gets `error`, later calls fail at once. */
  protected fail(error: PorticoError): void {
    if (this.#failure) return
    this.#failure = error
    for (const pending of this.#pending.values()) pending.reject(error)
    this.#serverRequests.clear()
  }

  abstract close(): Promise<void>
}

const UNWRITABLE_ANSWER: JsonRpcErrorObject = {
  code: -32602,
  message: "The client's answer is nested too deeply to be passed on",
}

/** A fresh error like `error` (the original is shared by the calls that were in flight). */
function copyOf(error: PorticoError): PorticoError {
  return new PorticoError(error.reason, {
    message: error.message,
    ...(error.data ? { data: error.data } : {}),
  })
}

export function asBackendError(error: unknown, backend: string): PorticoError {
  if (error instanceof PorticoError) return error
  return new PorticoError('backend_failed', {
    message: `Backend ${backend} failed: ${error instanceof Error ? error.message : String(error)}`,
    data: { backend },
    cause: error,
  })
}

/** MCP's progress fields: `progress` a number, `total` a number when given. */
function isProgress(params: JsonObject): boolean {
  return (
    typeof params.progress === 'number' &&
    (params.total === undefined || typeof params.total === 'number')
  )
}

/** The reason a cancel forwards: the client's own, when its `notifications/cancelled` gave one. */
function cancelReasonOf(error: PorticoError): string {
  const data = error.data
  return isObject(data) && typeof data.reason === 'string' ? data.reason : 'client cancelled'
}
