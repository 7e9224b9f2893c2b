/**
 * Client sessions of the gateway (legacy era): identity and capabilities from `initialize`,
 * the standalone GET stream for unsolicited messages, the id map of server→client requests
 * (the gateway's id toward the client ↔ the backend connection and its own id), and the calls
 * in flight so `notifications/cancelled` reaches the right backend. Bounded and swept by TTL.
 */
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { PorticoError } from '../errors.ts'
import type {
  JsonObject,
  JsonRpcErrorObject,
  JsonRpcId,
  JsonRpcNotification,
  JsonRpcRequest,
} from '../jsonrpc/message.ts'
import { encodeJson, exactIdMember, isObject } from '../jsonrpc/message.ts'
import type { CallController } from '../pipeline/signal.ts'
import { encodeSseEvent } from '../protocol/sse.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import { KeyedThrottle } from '../util/keyed-throttle.ts'
import type { SessionRef } from './backends/backend.ts'
import {
  BACKEND_PROTOCOL_VERSION,
  type Connection,
  undeclaredAnswer,
} from './backends/connection.ts'
import type { BackendCatalog } from './catalog.ts'
import { MCP_LOG_LEVELS, passesLogFloor } from './log-levels.ts'
import { accepts } from './mrtr.ts'

/** Messages (and their bytes) kept for a session until it opens its GET stream. */
const MAX_QUEUED = 100
const MAX_QUEUED_BYTES = 256 * 1024
/**
 * What all sessions together keep for their GET streams: one backend message for many
 * sessions is a copy in each queue, and 256 KB times `max_sessions` is gigabytes. Past it, a
 * message for a session without its stream open is dropped (counted) instead of queued.
 */
export const MAX_QUEUED_TOTAL = 32 * 1024 * 1024
let queuedTotal = 0
/** List changes less than this apart reach a client as one notification per list… */
export const LIST_CHANGED_WINDOW_MS = 1000
/** …within this bound from the first one. */
const LIST_CHANGED_MAX_MS = 3000
/** Bytes a GET stream may hold unsent before further messages are dropped. */
const MAX_STREAM_BUFFER = 1024 * 1024
const MAX_SERVER_REQUESTS = 1000
/** Resources a session subscribed to by a URI other than the one clients see (kept at most). */
const MAX_SUBSCRIBED_AS = 1000

/** Progress tokens the gateway gives the backends' requests it relays (`forwardRequest`). */
const PROGRESS_PREFIX = 'portico-progress-'

/** A backend's `notifications/resources/updated`, under the URI this session knows it by. */
interface ResourceUpdate {
  backend: string
  exposed: string
  message: JsonObject
}

interface ServerRequest {
  connection: Connection
  upstreamId: JsonRpcId
  backend: string
  /** The request's own `_meta.progressToken`, when it asked for the client's progress. */
  progressToken?: JsonRpcId
}

/** What a session needs to know of a backend. */
export interface BackendView {
  readonly catalog: BackendCatalog
  /** Whether its lists were read since it (re)started: a list change before that is news to none. */
  readonly listed: boolean
  /** It announced a list change: its kept pages and the catalog's refusals go (Backend). */
  listChanged(notification: string): void
  /** It said a resource changed: its cached reads go (Backend). */
  resourceUpdated(uri: string, exposed: string): void
}

/** A backend notification as the client sees it, reported for recording. */
export interface ObservedNotification {
  backend: string
  method: string
  params?: JsonObject
  /** The client session it was delivered to; absent for the gateway's shared listen streams. */
  sessionId?: string
}

export type NotificationObserver = (notification: ObservedNotification) => void

/** Where a session's outbound message goes: a call's reply stream, or the GET stream. */
export type Writer = (message: JsonObject) => boolean

export class ClientSession implements SessionRef {
  readonly key: string
  readonly initParams: JsonObject
  /** Whose session it is: the verified principal, else the client's address (the per-client bound). */
  readonly client: string
  readonly createdAt = Date.now()
  lastSeen = Date.now()
  readonly #backends: (name: string) => BackendView | undefined
  #stream: ServerResponse | undefined
  #keepAlive: NodeJS.Timeout | undefined
  readonly #queue: string[] = []
  #queuedBytes = 0
  #onWrite: ((bytes: number) => void) | undefined
  readonly #listChanges = new Set<string>()
  #listTimer: NodeJS.Timeout | undefined
  /**
   * A resource's updates, about one a window per resource (the first at once): a backend
   * announcing thousands a second wrote each to the stream and a row each to the store, and
   * the client re-reads the resource once anyway.
   */
  readonly #updates = new KeyedThrottle<ResourceUpdate>(LIST_CHANGED_WINDOW_MS, (update) => {
    this.#observe?.({
      backend: update.backend,
      method: 'notifications/resources/updated',
      params: { uri: update.exposed },
      sessionId: this.key,
    })
    this.send(update.message)
  })
  #listSince = 0
  /** Messages lost because the client did not read its stream (or none was open in time). */
  dropped = 0
  /** The rank of the level `logging/setLevel` asked for (-1: none asked, every line goes). */
  #logFloor = -1
  #nextServerId = 0
  readonly #serverRequests = new BoundedMap<number, ServerRequest>(MAX_SERVER_REQUESTS)
  readonly #calls = new Map<string, CallController>()
  /**
   * Backend and backend URI → the URI this session subscribed by, when that is not the URI
   * clients see (an aliased resource's namespaced URI still routes): its updates go out under
   * the name it asked for.
   */
  readonly #subscribedAs = new BoundedMap<string, string>(MAX_SUBSCRIBED_AS)
  /** This session's own backend connections (HTTP, isolated stdio): told of roots changes. */
  readonly connections = new Set<Connection>()

  readonly #observe: NotificationObserver | undefined

  constructor(
    initParams: JsonObject,
    backends: (name: string) => BackendView | undefined,
    observe?: NotificationObserver,
    client = '',
  ) {
    this.key = randomUUID()
    this.client = client
    this.#backends = backends
    this.#observe = observe
    // Backends see the client's own identity and capabilities (so sampling and elicitation
    // are offered only when the client can answer them).
    this.initParams = {
      protocolVersion: BACKEND_PROTOCOL_VERSION,
      capabilities: isObject(initParams.capabilities) ? initParams.capabilities : {},
      clientInfo: isObject(initParams.clientInfo)
        ? initParams.clientInfo
        : { name: 'unknown', version: '0' },
    }
  }

  /** Registers a server→client request; returns the message as the client must see it. */
  forwardRequest(backend: string, message: JsonRpcRequest, connection: Connection): JsonRpcRequest {
    const id = ++this.#nextServerId
    const upstreamId = exactIdMember(message, 'id') as JsonRpcId
    const entry: ServerRequest = { connection, upstreamId, backend }
    this.#serverRequests.set(id, entry)
    const params = message.params
    const meta = isObject(params) ? params._meta : undefined
    const token = isObject(meta) ? exactIdMember(meta, 'progressToken') : undefined
    if (!isObject(params) || !isObject(meta) || token === undefined) return { ...message, id }
    // Its progress token is the gateway's too (two backends may pick one token): the client's
    // progress for it goes back to the backend that asked, under the backend's own token.
    entry.progressToken = token as JsonRpcId
    const progressToken = `${PROGRESS_PREFIX}${id}`
    return { ...message, id, params: { ...params, _meta: { ...meta, progressToken } } }
  }

  /**
   * The client's `notifications/progress` for a backend's request (sampling, elicitation that
   * asked for progress): relayed to the backend that asked, under its own token. Returns the
   * backend, or undefined when no request in flight has that token.
   */
  relayProgress(message: JsonRpcNotification): string | undefined {
    const params = message.params
    const token = isObject(params) ? params.progressToken : undefined
    if (typeof token !== 'string' || !token.startsWith(PROGRESS_PREFIX)) return undefined
    const id = Number(token.slice(PROGRESS_PREFIX.length))
    const entry = this.#serverRequests.get(id)
    if (entry?.progressToken === undefined || !isObject(params)) return undefined
    void entry.connection.notify('notifications/progress', {
      ...params,
      progressToken: entry.progressToken,
    })
    return entry.backend
  }

  /** A backend cancelled its own request: the client sees the cancel under the gateway id. */
  translateCancel(
    connection: Connection,
    message: JsonRpcNotification,
  ): JsonRpcNotification | undefined {
    const params = message.params
    if (!isObject(params)) return undefined
    const requestId = exactIdMember(params, 'requestId')
    for (const [id, entry] of this.#serverRequests) {
      if (entry.connection === connection && entry.upstreamId === requestId) {
        this.#serverRequests.delete(id)
        return { ...message, params: { ...params, requestId: id } }
      }
    }
    return undefined
  }

  /** The client answered a server→client request: route it to the backend that asked. */
  /** Returns the backend that asked, or undefined for an unknown id. */
  answer(
    id: JsonRpcId | null,
    outcome: { result: JsonObject } | { error: JsonRpcErrorObject },
  ): string | undefined {
    if (typeof id !== 'number') return undefined
    const entry = this.#serverRequests.get(id)
    if (!entry) return undefined
    this.#serverRequests.delete(id)
    entry.connection.answer(entry.upstreamId, outcome)
    return entry.backend
  }

  trackCall(id: JsonRpcId, controller: CallController): () => void {
    const key = JSON.stringify(id)
    // A request whose id is in flight already (a client reusing an id) does not take the
    // first one's place: a cancel names the call that had the id first.
    if (this.#calls.has(key)) return () => {}
    this.#calls.set(key, controller)
    return () => {
      if (this.#calls.get(key) === controller) this.#calls.delete(key)
      // Idle from now: `session_ttl` counts from the end of the session's last activity.
      this.lastSeen = Date.now()
    }
  }

  /**
   * `notifications/cancelled` from the client: abort that call; the backend gets a cancel with
   * the client's reason (`cancelReasonOf`).
   */
  cancel(requestId: unknown, reason?: string): void {
    // MCP's request ids are strings or numbers: anything else names no call (and a value
    // nested deep enough would overflow JSON.stringify).
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return
    const call = this.#calls.get(JSON.stringify(requestId))
    call?.abort(new PorticoError('cancelled', reason === undefined ? {} : { data: { reason } }))
  }

  /**
   * The session subscribed to `local` of `backend` by `name` (undefined: it unsubscribed). A
   * resource is one subscription whichever name it is subscribed by, so the last name wins.
   */
  subscribedAs(backend: string, local: string, name: string | undefined): void {
    const key = `${backend}\u0000${local}`
    const exposed = this.#backends(backend)?.catalog.exposeUri(local)
    if (name === undefined || name === exposed) this.#subscribedAs.delete(key)
    else this.#subscribedAs.set(key, name)
  }

  /** The session's `logging/setLevel`: no log line below it reaches it from now on. */
  setLogFloor(rank: number): void {
    this.#logFloor = rank
  }

  /** The level the session asked for (`logging/setLevel`), once it asked. */
  logLevel(): string | undefined {
    return MCP_LOG_LEVELS[this.#logFloor]
  }

  /** Whether a message may go to this client: a log line below its level may not. */
  readonly showsLog = (message: JsonObject): boolean => passesLogFloor(message, this.#logFloor)

  /** Unrelated backend messages go to the GET stream (queued briefly until one is open). */
  deliver(backend: string, message: JsonRpcRequest | JsonRpcNotification, from: Connection): void {
    let out: JsonObject = message as unknown as JsonObject
    if (!this.showsLog(out)) return
    if ('id' in message) {
      // A request for a capability this client did not declare (its own process asking outside
      // any call) is refused as the client would, not queued for a client that cannot answer.
      if (!accepts(this.initParams.capabilities, message.method)) {
        from.answer(message.id, undeclaredAnswer(message.method))
        return
      }
      out = this.forwardRequest(backend, message, from) as unknown as JsonObject
    } else if (message.method === 'notifications/resources/updated' && isObject(message.params)) {
      const catalog = this.#backends(backend)?.catalog
      const uri = message.params.uri
      if (catalog && typeof uri === 'string') {
        const exposed = this.#subscribedAs.get(`${backend}\u0000${uri}`) ?? catalog.exposeUri(uri)
        this.#backends(backend)?.resourceUpdated(uri, exposed)
        out = { ...message, params: { ...message.params, uri: exposed } }
        this.#updates.push(`${backend}\u0000${exposed}`, { backend, exposed, message: out })
        return
      }
    } else if (message.method.endsWith('/list_changed')) {
      const source = this.#backends(backend)
      source?.listChanged(message.method)
      // Nobody holds a list of a backend not listed since it started: nothing to re-list.
      if (source?.listed !== true) return
      this.#observe?.({ backend, method: message.method, sessionId: this.key })
    } else if (message.method === 'notifications/cancelled') {
      const translated = this.translateCancel(from, message)
      if (!translated) return
      out = translated as unknown as JsonObject
    }
    this.send(out)
  }

  /**
   * Writes one message on the GET stream, or queues it (bounded, oldest dropped) until one is
   * open. A client that stops reading its stream loses messages (counted) instead of making
   * Portico's memory grow: past the bound, what the socket has not taken is not added to.
   */
  send(message: JsonObject): void {
    if (typeof message.method === 'string' && message.method.endsWith('/list_changed')) {
      this.#coalesce(message.method)
      return
    }
    this.#write(message)
  }

  /**
   * A burst of list changes (a reload touching several backends, the backends announcing their
   * own restart) reaches the client as one notification per list: it re-lists once anyway.
   */
  #coalesce(method: string): void {
    this.#listChanges.add(method)
    const now = Date.now()
    if (this.#listTimer !== undefined) {
      // A burst (a reload, then the new backends announcing themselves) keeps the timer going,
      // up to a cap so a steady trickle of changes still reaches the client.
      if (now - this.#listSince < LIST_CHANGED_MAX_MS) this.#listTimer.refresh()
      return
    }
    this.#listSince = now
    this.#listTimer = setTimeout(() => {
      this.#listTimer = undefined
      for (const changed of this.#listChanges) this.#write({ jsonrpc: '2.0', method: changed })
      this.#listChanges.clear()
    }, LIST_CHANGED_WINDOW_MS)
    this.#listTimer.unref()
  }

  #write(message: JsonObject): void {
    const event = encodeSseEvent(encodeJson(message))
    const stream = this.#stream
    if (stream && !stream.writableEnded) {
      if (stream.writableLength > MAX_STREAM_BUFFER) {
        this.dropped++
        return
      }
      stream.write(event)
      this.#onWrite?.(Buffer.byteLength(event))
      return
    }
    if (queuedTotal + event.length > MAX_QUEUED_TOTAL) {
      this.dropped++
      return
    }
    this.#queue.push(event)
    this.#queuedBytes += event.length
    queuedTotal += event.length
    while (
      this.#queue.length > 1 &&
      (this.#queue.length > MAX_QUEUED || this.#queuedBytes > MAX_QUEUED_BYTES)
    ) {
      const length = (this.#queue.shift() as string).length
      this.#queuedBytes -= length
      queuedTotal -= length
      this.dropped++
    }
  }

  /** Opens (or replaces) the standalone stream and flushes what was queued. */
  attachStream(res: ServerResponse, onWrite?: (bytes: number) => void): void {
    this.#stream?.end()
    this.#stream = res
    this.#onWrite = onWrite
    clearInterval(this.#keepAlive)
    this.#keepAlive = setInterval(() => this.#keepAliveOn(res), 25_000)
    this.#keepAlive.unref()
    res.once('close', () => {
      if (this.#stream !== res) return
      this.#stream = undefined
      this.#onWrite = undefined
      clearInterval(this.#keepAlive)
      this.lastSeen = Date.now()
    })
    queuedTotal -= this.#queuedBytes
    this.#queuedBytes = 0
    for (const event of this.#queue.splice(0)) {
      res.write(event)
      onWrite?.(Buffer.byteLength(event))
    }
  }

  /**
   * A comment line that keeps proxies from closing a quiet stream. A stream ended by Portico
   * (an expired token, a revoked key, a drain) whose client stopped reading does not close
   * until its socket drains: writing to it then was a write after end, which killed the
   * process.
   */
  #keepAliveOn(res: ServerResponse): void {
    if (res.writableEnded || res.destroyed) {
      if (this.#stream === res) clearInterval(this.#keepAlive)
      return
    }
    res.write(': keep-alive\n\n')
  }

  /** Nothing of the session is active: no stream open, no call in flight. */
  get idle(): boolean {
    return this.#stream === undefined && this.#calls.size === 0
  }

  close(): void {
    queuedTotal -= this.#queuedBytes
    this.#queuedBytes = 0
    this.#queue.length = 0
    clearInterval(this.#keepAlive)
    clearTimeout(this.#listTimer)
    this.#updates.clear()
    this.#stream?.end()
    this.#stream = undefined
    // Not the client's cancel (whose receiver answers nothing): a call still running gets an
    // answer saying why it ended. Its stream used to end without one, and the client waited
    // for its own timeout.
    const ended = new PorticoError('session_not_found', {
      message: 'Session ended while this call ran (DELETE, session_ttl or eviction)',
    })
    for (const controller of this.#calls.values()) controller.abort(ended)
    this.#calls.clear()
    this.#serverRequests.clear()
    this.connections.clear()
  }
}

export interface SessionStoreOptions {
  ttlMs: number
  max: number
  /** Sessions one client (principal, else address) may hold. */
  perClient: number
  /** Called when a session ends (DELETE, TTL, shutdown) so backends release its connections. */
  onClose: (session: ClientSession) => void
}

export class SessionStore {
  readonly #sessions = new Map<string, ClientSession>()
  /** Sessions per client (principal, else address), for the per-client bound. */
  readonly #byClient = new Map<string, Set<ClientSession>>()
  /** Idle sessions ended to make room for new ones. */
  evicted = 0
  readonly #options: SessionStoreOptions
  readonly #sweeper: NodeJS.Timeout

  constructor(options: SessionStoreOptions) {
    this.#options = options
    this.#sweeper = setInterval(() => this.sweep(), Math.min(60_000, options.ttlMs))
    this.#sweeper.unref()
  }

  get size(): number {
    return this.#sessions.size
  }

  values(): IterableIterator<ClientSession> {
    return this.#sessions.values()
  }

  /**
   * Adds a session. Past a bound (the client's `perClient`, or `max` for all) the least
   * recently used idle session of that scope is ended to make room, so a flood of sessions can
   * neither lock other clients out nor grow without limit; false when every session in the
   * scope is busy (a stream open or a call in flight).
   */
  add(session: ClientSession): boolean {
    const sameClient = this.#byClient.get(session.client)
    if (sameClient !== undefined && sameClient.size >= this.#options.perClient) {
      if (!this.#evictIdle(sameClient)) return false
    }
    if (this.#sessions.size >= this.#options.max) this.sweep()
    if (this.#sessions.size >= this.#options.max && !this.#evictIdle(this.#sessions.values())) {
      return false
    }
    this.#sessions.set(session.key, session)
    const own = this.#byClient.get(session.client)
    if (own === undefined) this.#byClient.set(session.client, new Set([session]))
    else own.add(session)
    return true
  }

  /** Ends the least recently used idle session among `candidates`; false when none is idle. */
  #evictIdle(candidates: Iterable<ClientSession>): boolean {
    let oldest: ClientSession | undefined
    for (const session of candidates) {
      if (session.idle && (oldest === undefined || session.lastSeen < oldest.lastSeen)) {
        oldest = session
      }
    }
    if (oldest === undefined) return false
    this.delete(oldest.key)
    this.evicted++
    return true
  }

  /**
   * The session, its clock started again; undefined once it expired. A session idle past
   * `session_ttl` is ended here, not only at the next sweep (up to a minute later), so a
   * request after the ttl finds it gone, as the README says, rather than reviving it.
   */
  get(key: string): ClientSession | undefined {
    const session = this.#sessions.get(key)
    if (session) {
      const now = Date.now()
      if (session.idle && now - session.lastSeen > this.#options.ttlMs) {
        this.delete(key)
        return undefined
      }
      session.lastSeen = now
      // Map order doubles as recency for the sweep: a used session moves to the end.
      this.#sessions.delete(key)
      this.#sessions.set(key, session)
    }
    return session
  }

  delete(key: string): boolean {
    const session = this.#sessions.get(key)
    if (!session) return false
    this.#sessions.delete(key)
    const own = this.#byClient.get(session.client)
    own?.delete(session)
    if (own?.size === 0) this.#byClient.delete(session.client)
    session.close()
    this.#options.onClose(session)
    return true
  }

  /**
   * Ends the sessions idle for longer than `session_ttl`. A session holding a stream open or a
   * call in flight is not idle, however long ago its last request came (a client listening on
   * its GET stream, a long tool call sending progress): its clock starts again.
   */
  sweep(): void {
    const now = Date.now()
    const cutoff = now - this.#options.ttlMs
    for (const session of [...this.#sessions.values()]) {
      if (session.lastSeen >= cutoff) continue
      if (session.idle) this.delete(session.key)
      else session.lastSeen = now
    }
  }

  closeAll(): void {
    clearInterval(this.#sweeper)
    for (const key of [...this.#sessions.keys()]) this.delete(key)
  }
}
