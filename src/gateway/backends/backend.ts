/**
 * What every backend kind offers the gateway: an initialized connection for a client session,
 * a health record, and a lifecycle (start, release a session, close). The client identity and
 * capabilities a backend sees come from `SessionRef`.
 */
import type { BackendConfig } from '../../config/gateway.ts'
import { notSent, PorticoError } from '../../errors.ts'
import type { HeaderMap } from '../../http/headers.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from '../../jsonrpc/message.ts'
import type { Logger } from '../../observe/logger.ts'
import { type Call, traceparentOf } from '../../pipeline/call.ts'
import type { Handler, Middleware } from '../../pipeline/compose.ts'
import { credentialOf } from '../../pipeline/identity.ts'
import { MessageReply, type Reply } from '../../pipeline/reply.ts'
import type { SignalLike } from '../../pipeline/signal.ts'
import { type ProtectStatus, UpstreamProtection } from '../../protect/policies.ts'
import { upstreamChain } from '../../upstream/chain.ts'
import type { HttpClient } from '../../upstream/http-client.ts'
import { clipped } from '../../util/format.ts'
import { InFlight } from '../../util/in-flight.ts'
import { PerSecond } from '../../util/per-second.ts'
import { within } from '../../util/within.ts'
import { VERSION } from '../../version.ts'
import { BackendCatalog } from '../catalog.ts'
import { ListCache } from '../list-cache.ts'
import { asBackendError, type CallSink, type Connection, type ServerInfo } from './connection.ts'

/** How much of a failure's text a backend's health keeps (its log line and answer quote less). */
const MAX_FAILURE_TEXT = 1000
/** A client session as backends see it. `key` is `*` for the gateway's own session. */
export interface SessionRef {
  readonly key: string
  /** `initialize` params sent to backends on this session's behalf. */
  readonly initParams: JsonObject
  /** Delivers a backend message unrelated to any call (list changes, updates, logs). */
  deliver(backend: string, message: JsonRpcRequest | JsonRpcNotification, from: Connection): void
  /** The log level the session asked for (`logging/setLevel`); undefined until it asked. */
  logLevel?(): string | undefined
}

/**
 * A call to one backend: the client's call carrying the backend's own message (its names and
 * arguments), the session it runs for, and where the backend's related messages go. Middleware
 * of the per-upstream chain pass it on with `{ ...call }`, which keeps these fields.
 */
export interface BackendCall extends Call {
  readonly ref: SessionRef
  /** The connection to use, when the caller already holds it; else the session's is opened. */
  readonly connection?: Connection
  readonly sink?: CallSink
  /**
   * The sink for the connection the transport picked (each attempt acquires its own: a
   * retry after a crash runs on the restarted process); preferred over `sink`.
   */
  /** `attempt`: this attempt's request id (a hedge's own), to tell attempts of one call apart. */
  readonly sinkFor?: (connection: Connection, attempt?: JsonRpcId) => CallSink | undefined
}

export type BackendState = 'idle' | 'starting' | 'up' | 'down' | 'failed' | 'closed'

export interface BackendHealth {
  name: string
  transport: BackendConfig['transport']
  state: BackendState
  /** Last failure, for operators (never contains secrets: no URLs with credentials, no env). */
  error?: string
  restarts: number
  /** Connections open (1 for a shared stdio process, one per client session otherwise). */
  connections: number
  /** ISO time of the last state change. */
  since: string
  /** Process id of a shared stdio backend. */
  pid?: number
  /** The last call or list that failed on this backend (timeouts included). */
  lastFailure?: { at: string; message: string }
  /** Traffic protection: breaker state, ejection, slots, cache counts (when configured). */
  protect?: ProtectStatus
  /** Calls and lists that failed in a row (reset by a call that succeeds). */
  consecutiveFailures: number
  /** ISO time a call or list last told whether the backend works. */
  lastCheckedAt?: string
  /** The MCP revision the backend is reached in (what its initialize or server/discover said). */
  protocolVersion?: string
}

export interface BackendDeps {
  logger: Logger
  http: HttpClient
  separator: string
  /** Default per-request deadline (`request_timeout`). */
  requestTimeoutMs: number
  maxMessageBytes: number
  /** How long list pages are kept (`[proxy] list_cache_ttl`; 0: not at all). */
  listCacheTtlMs?: number
  /** The gateway's own session (stateless clients, eager start, listen streams). */
  gatewaySession: SessionRef
  /** How long a session may sit idle (`[proxy] session_ttl`): a stateless caller's process too. */
  sessionTtlMs?: number
  /** Middleware of every upstream's chain (library mode). */
  upstreamMiddleware?: readonly Middleware[]
  /** Per-attempt observers (tracing), innermost: below retries and hedges. */
  attemptMiddleware?: readonly Middleware[]
  /** This backend's traffic protection (gateway.ts builds it from its tables and group). */
  protect?: (config: BackendConfig) => UpstreamProtection
  /** Told of each state change (the gateway keeps the admin API's health history). */
  onState?: (backend: string, state: BackendState) => void
}

export abstract class Backend {
  readonly config: BackendConfig
  readonly catalog: BackendCatalog
  readonly timeoutMs: number
  /** Deadline of the backend's start (connection and `initialize`): `startup_timeout`. */
  readonly startupTimeoutMs: number
  /** This backend's per-upstream chain (protection: src/protect/policies.ts) and transport. */
  readonly handle: Handler
  readonly protection: UpstreamProtection
  /** This backend's list pages, for merged lists (list-cache.ts). */
  readonly lists: ListCache
  /** How many tool list changes it announced (the gateway's `toolsVersion` counts them). */
  toolsChanges = 0
  protected readonly deps: BackendDeps
  #state: BackendState = 'idle'
  #since = new Date().toISOString()
  #error: string | undefined
  #lastFailure: { at: string; message: string } | undefined
  #consecutiveFailures = 0
  /** Epoch ms a call or list last told whether the backend works. */
  #lastCheckedMs: number | undefined
  protected restarts = 0
  /**
   * Calls inside this backend's chain (waiting in its concurrency queue, retrying, connecting,
   * in flight), for a graceful retire: a call a reload or the admin API finds queued here was
   * accepted by this backend and is served by it before it closes.
   */
  readonly #inFlight = new InFlight()

  constructor(config: BackendConfig, deps: BackendDeps) {
    this.config = config
    this.deps = deps
    this.catalog = new BackendCatalog(config, deps.separator)
    this.lists = new ListCache(deps.listCacheTtlMs ?? 0)
    this.timeoutMs = config.timeout?.attemptMs ?? deps.requestTimeoutMs
    this.startupTimeoutMs = config.startup_timeout ?? this.timeoutMs
    this.protection =
      deps.protect?.(config) ??
      new UpstreamProtection(
        config.name,
        {},
        { clock: NO_CLOCK, logger: deps.logger, coalesce: false },
      )
    const chain = upstreamChain(
      {
        name: config.name,
        middleware: deps.upstreamMiddleware ?? [],
        protection: this.protection.middleware,
        attempt: deps.attemptMiddleware ?? [],
      },
      (call) => this.#send(call as BackendCall),
    )
    this.handle = (call) => this.#inFlight.run(chain, call)
  }

  /**
   * The transport step: one request on the session's connection (acquired here, per attempt:
   * a backend that is down fails inside the chain, where breakers and retries see it), the
   * answer as a Reply.
   */
  async #send(call: BackendCall): Promise<Reply> {
    let connection: Connection
    const startedAt = call.timeoutMs === undefined ? 0 : performance.now()
    // Cancelled on its way here (the client left, its session was deleted mid-chain): no
    // connection is opened for it, which nothing would release.
    if (call.signal?.aborted) throw notSent(new PorticoError('cancelled'))
    try {
      connection = call.connection ?? (await untilAborted(this.#connectFor(call), call.signal))
    } catch (error) {
      // Not running, restarting, unreachable: the request never left. A cancelled call, or
      // one refused for capacity (max_processes), says nothing about the backend's health.
      const failure = notSent(asBackendError(error, this.name))
      if (failure.reason !== 'cancelled' && failure.reason !== 'too_many_sessions') {
        this.observe(failure)
      }
      throw failure
    }
    const message = call.message as JsonRpcRequest
    const sink = call.sinkFor?.(connection, call.id) ?? call.sink
    try {
      const headers = this.#identityHeaders(call)
      const traceparent = traceparentOf(call)
      const response = await connection.request(
        message.method,
        tracedParams(message.params, traceparent),
        {
          signal: call.signal,
          // A call with its own deadline (a list page) spends what the connection left of it.
          timeoutMs:
            call.timeoutMs === undefined
              ? this.timeoutMs
              : Math.max(1, call.timeoutMs - (performance.now() - startedAt)),
          ...(sink === undefined ? {} : { sink }),
          ...(headers === undefined ? {} : { headers }),
          ...(traceparent === undefined ? {} : { traceparent }),
        },
      )
      this.observe(undefined)
      return MessageReply.of(response)
    } catch (error) {
      const failure = asBackendError(error, this.name)
      // A cancelled call says nothing about the backend's health.
      if (failure.reason !== 'cancelled') this.observe(failure)
      throw failure
    } finally {
      sink?.end?.()
    }
  }

  /** Whether calls are on their way through this backend. */
  get busy(): boolean {
    return this.#inFlight.busy
  }

  /**
   * Resolves once no call is in flight here, or after `withinMs`: a backend a reload replaced
   * or removed finishes what it was doing before it is closed.
   */
  idle(withinMs: number): Promise<void> {
    return this.#inFlight.idle(withinMs)
  }

  /**
   * The session's connection; for a call with its own deadline (`list_timeout` for list
   * pages) a backend still starting is waited for only that long, so one slow starter cannot
   * hold a merged list past it.
   */
  #connectFor(call: BackendCall): Promise<Connection> {
    // A client session's connection carries its client's identity on its own requests too;
    // the gateway's shared session serves many clients, so only each call carries one there.
    // Built only when a connection is opened: most calls find theirs open.
    const shared = call.ref === this.deps.gatewaySession
    const identity = () => this.#identityHeaders(call)
    const connecting = this.connection(
      shared ? this.statelessSession(call) : call.ref,
      shared ? undefined : identity,
      identity,
    )
    const deadline = call.timeoutMs
    if (deadline === undefined) return connecting
    return within(
      deadline,
      connecting,
      () =>
        new PorticoError('upstream_timeout', {
          message: `Backend ${this.name} did not start within ${Math.round(deadline)} ms`,
        }),
    )
  }

  /**
   * The caller's verified identity headers (`x-user-id`, claim headers) and, with
   * `forward_auth`, the client's own token: per request, so a connection shared by several
   * clients still tells the backend who each call is for.
   */
  #identityHeaders(call: BackendCall): HeaderMap | undefined {
    const identity = call.identity
    if (identity === undefined || this.config.transport === 'stdio') return undefined
    const headers: HeaderMap = { ...identity.headers }
    // A static bearer_token wins over forward_auth (as in mcp-proxy; `portico check` warns).
    const forward = this.config.forward_auth && this.config.bearer_token === undefined
    const token = forward ? credentialOf(identity) : undefined
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    return headers
  }

  get name(): string {
    return this.config.name
  }

  get state(): BackendState {
    return this.#state
  }

  /**
   * Whether a list of this backend was read since it (re)started: until then its list-change
   * announcements are news to nobody (a new backend announcing its tools after a reload).
   */
  listed = false

  protected setState(state: BackendState, error?: string): void {
    if (state === 'starting' || state === 'down') this.listed = false
    // A (re)start or failure: what the backend listed before may not hold any more.
    if (state !== 'up' && state !== this.#state) this.lists.clear()
    // Clipped here too: whatever a failure quotes of a backend's words, health repeats it.
    if (error !== undefined) this.#error = clipped(error, MAX_FAILURE_TEXT)
    else if (state === 'up') this.#error = undefined
    if (state === this.#state) return
    this.#state = state
    this.#since = new Date().toISOString()
    this.deps.onState?.(this.name, state)
  }

  /** An initialized connection for this client session (spawning or connecting as needed). */
  /**
   * The session's connection, opened with `sessionHeaders()` (its client's verified identity)
   * when it is new; stdio backends have no headers.
   */
  abstract connection(
    session: SessionRef,
    sessionHeaders?: () => HeaderMap | undefined,
    callerHeaders?: () => HeaderMap | undefined,
  ): Promise<Connection>

  /**
   * The backend announced a list change (on any of its connections): its kept pages of that
   * list go, and so do the catalog's refusals of names its whole listing lacked; a tools change
   * is counted, so tool discovery indexes again.
   */
  listChanged(notification: string): void {
    this.lists.changed(notification)
    if (notification === 'notifications/tools/list_changed') {
      this.catalog.toolsChanged()
      this.toolsChanges++
    }
    if (notification === 'notifications/prompts/list_changed') this.catalog.promptsChanged()
  }

  /**
   * Whose list pages a session gets (list-cache.ts's `scope`): everyone's, unless the backend
   * gives each client a process of its own, whose lists are that process's.
   */
  listScope(_session: SessionRef): string {
    return ''
  }

  /**
   * The session a call on the gateway's own session (a stateless client's) runs on: that one,
   * unless the backend gives each client a process of its own (stdio, `isolation = "session"`).
   */
  protected statelessSession(call: BackendCall): SessionRef {
    return call.ref
  }

  /** Tells the backend the level `session` asked for (`logging/setLevel` on its connection). */
  async setLogLevel(session: SessionRef, params: JsonObject): Promise<void> {
    const connection = await this.connection(session)
    await connection.request('logging/setLevel', params, { timeoutMs: this.timeoutMs })
  }

  /**
   * The level `session` asked for while this backend is neither up nor starting: a backend that
   * starts a process per session later tells it the level (stdio.ts); others keep their default.
   */
  noteLogLevel(_session: SessionRef, _params: JsonObject): void {}

  /** What the backend said in `initialize`, once any connection completed it. */
  abstract info(): ServerInfo | undefined

  /** Starts the backend now (`start = "eager"`); failures are recorded, not thrown. */
  abstract start(): void

  /** The client session ended: drop what belongs to it. */
  abstract release(sessionKey: string): void

  abstract close(): Promise<void>

  protected abstract connectionCount(): number

  /** The connections open now (those still opening are not: no call of theirs is sent). */
  protected abstract openConnections(): Iterable<Connection>

  /** Ends every call in flight with `error` (a drain's deadline; see `Connection.cut`). */
  async cut(error: PorticoError): Promise<void> {
    await Promise.all([...this.openConnections()].map((connection) => connection.cut(error)))
  }

  /** Whether each client session has its own connection (so it may be told roots changes). */
  get dedicated(): boolean {
    return true
  }

  /**
   * `session` hears what a connection shared by every session sends outside calls (resource
   * updates): a session that subscribes without ever calling the backend joins here.
   */
  join(_session: SessionRef): void {}

  /**
   * Subscribes on their way to this backend, by its resource URI: what each resolves to is the
   * backend's refusal, or undefined once it subscribed. A session or listen stream whose
   * subscribe another one's covers (`track` said not to tell the backend) shares its outcome.
   */
  readonly subscribing = new Map<string, Promise<JsonRpcErrorObject | undefined>>()

  /** Records a resource (un)subscription; returns whether the backend itself must be told. */
  track(_sessionKey: string, _uri: string, _subscribe: boolean): boolean {
    return true
  }

  /**
   * This backend replaces `previous` (same name; a reload or the admin API changed its
   * config): it takes over what its clients had there that it can keep (a shared stdio
   * process's resource subscriptions).
   */
  carryOver(_previous: Backend): void {}

  /** Lines about dropped backend messages: a backend sending nothing else cannot flood the log. */
  readonly #unroutableLog = new PerSecond(1)

  /** Has `connection` report the messages it could not route (and dropped) in the log. */
  protected reportUnroutable(connection: Connection): void {
    connection.onUnroutable = (error) => {
      const held = this.#unroutableLog.take()
      if (held < 0) return
      const more = held > 0 ? ` (${held} more since the last such line)` : ''
      const why = error instanceof Error ? error.message : String(error)
      this.deps.logger.warn(`backend ${this.name}: a message it sent was dropped${more}: ${why}`, {
        backend: this.name,
      })
    }
  }

  /** Calls report their transport outcome so health shows a backend that went away. */
  observe(error: PorticoError | undefined): void {
    if (error !== undefined) this.noteFailure(error.message)
    else {
      this.#consecutiveFailures = 0
      this.#lastCheckedMs = Date.now()
    }
  }

  /**
   * The backend said a resource changed (`notifications/resources/updated`): its cached reads
   * go, under the URI it used and the one clients know (a shared cache in Redis keeps them
   * to their ttl).
   */
  resourceUpdated(uri: string, exposed: string): void {
    this.protection.resourceUpdated([uri, exposed])
  }

  /** The last failure a call or list saw (shown in health even while the state is `up`). */
  noteFailure(message: string): void {
    this.#lastCheckedMs = Date.now()
    this.#lastFailure = {
      at: new Date(this.#lastCheckedMs).toISOString(),
      message: clipped(message, MAX_FAILURE_TEXT),
    }
    this.#consecutiveFailures++
  }

  health(): BackendHealth {
    const health: BackendHealth = {
      name: this.name,
      transport: this.config.transport,
      state: this.#state,
      restarts: this.restarts,
      connections: this.connectionCount(),
      since: this.#since,
      consecutiveFailures: this.#consecutiveFailures,
      lastCheckedAt:
        this.#lastCheckedMs === undefined
          ? this.#since
          : new Date(this.#lastCheckedMs).toISOString(),
    }
    const version = this.info()?.protocolVersion
    if (version !== undefined) health.protocolVersion = version
    if (this.#error !== undefined) health.error = this.#error
    if (this.#lastFailure !== undefined) health.lastFailure = this.#lastFailure
    const protect = this.protection.status()
    if (protect !== undefined) health.protect = protect
    return health
  }
}

/**
 * `connecting`, or the call's cancellation if that comes first: a call whose client left or
 * whose session was deleted while its backend still starts ends at once, with its id, instead
 * of waiting out the start (`startup_timeout`).
 */
function untilAborted<T>(connecting: Promise<T>, signal: SignalLike | undefined): Promise<T> {
  if (signal === undefined) return connecting
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const reason = signal.reason
      reject(
        reason instanceof PorticoError
          ? reason
          : new PorticoError('cancelled', {
              message: 'Request cancelled (its session ended or its client left)',
            }),
      )
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    connecting.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/** The clock of a backend without protection tables (nothing reads it). */
const NO_CLOCK = { now: () => 0, setTimeout: () => undefined, clearTimeout: () => {} }

/**
 * A backend request's params carrying the trace context in `_meta` (every transport reads it).
 * Never a copy that begins with a spread and then gains a property its source lacks
 * (`{ ...params, _meta }` when the client sent no `_meta`), nor one given it afterwards: in
 * V8 either form kept every traced call alive through young collections (63 KB promoted per
 * scavenge and a full collection every 1.5 s at 16 sessions, against 2 KB and none in the
 * forms below; perf2 log, step 41). A property written before the spread is harmless, and a
 * spread whose source already has the property is too.
 */
export function tracedParams(
  params: JsonObject | undefined,
  traceparent: string | undefined,
): JsonObject | undefined {
  if (traceparent === undefined) return params
  if (params === undefined || !Object.hasOwn(params, '_meta')) {
    return { _meta: { traceparent }, ...params }
  }
  const meta = params._meta
  if (!isObject(meta)) return { ...params, _meta: { traceparent } }
  // The attempt's context replaces one the client put in `_meta`.
  const traced = Object.hasOwn(meta, 'traceparent')
    ? { ...meta, traceparent }
    : { traceparent, ...meta }
  return { ...params, _meta: traced }
}

/** Capabilities the gateway declares to shared backends: everything it can relay. */
export const RELAY_CAPABILITIES: JsonObject = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
}

/**
 * The gateway's own session with backends (stateless clients, eager start, capabilities,
 * `subscriptions/listen`); `deliver` receives what backends send it unprompted.
 */
export function gatewaySession(deliver: SessionRef['deliver']): SessionRef {
  return {
    key: '*',
    initParams: {
      protocolVersion: '2025-11-25',
      // Stateless clients get server requests as `input_required` results (gateway/mrtr.ts).
      capabilities: RELAY_CAPABILITIES,
      clientInfo: { name: 'portico-gateway', version: VERSION },
    },
    deliver,
  }
}

/** Exponential restart delay: 0 for a crash after a healthy run, then 250 ms doubling to 30 s. */
export function restartDelay(consecutiveFailures: number): number {
  if (consecutiveFailures <= 1) return 0
  return Math.min(30_000, 250 * 2 ** (consecutiveFailures - 2))
}

/**
 * Answers a backend's request that no client session can take (a shared process asking
 * outside any call, or the gateway's own session). `roots/list` gets an empty list: the gateway
 * has no roots of its own, and an error makes servers that ask at start (the filesystem
 * server does) log a failure at every start.
 */
export function answerUnrouted(connection: Connection, message: JsonRpcRequest): void {
  connection.answer(
    message.id,
    message.method === 'roots/list'
      ? { result: { roots: [] } }
      : { error: { code: -32601, message: 'No client session to route this request to' } },
  )
}
