/**
 * Client sessions of the gateway (legacy era): identity and capabilities from `initialize`,
 * the standalone GET stream for unsolicited messages, the id map of server→client requests
 * (the gateway's id toward the client ↔ the backend connection and its own id), and the calls
 * in flight so `notifications/cancelled` reaches the right backend. Bounded and swept by TTL.
 */
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type {
  JsonObject,
  JsonRpcErrorObject,
  JsonRpcId,
  JsonRpcNotification,
  JsonRpcRequest,
} from '../jsonrpc/message.ts'
import { isObject } from '../jsonrpc/message.ts'
import { encodeSseEvent } from '../protocol/sse.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import type { SessionRef } from './backends/backend.ts'
import { BACKEND_PROTOCOL_VERSION, type Connection } from './backends/connection.ts'
import type { BackendCatalog } from './catalog.ts'

const MAX_QUEUED = 100
/** Bytes a GET stream may hold unsent before further messages are dropped. */
const MAX_STREAM_BUFFER = 1024 * 1024
const MAX_SERVER_REQUESTS = 1000

interface ServerRequest {
  connection: Connection
  upstreamId: JsonRpcId
  backend: string
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
  readonly createdAt = Date.now()
  lastSeen = Date.now()
  readonly #catalogs: (name: string) => BackendCatalog | undefined
  #stream: ServerResponse | undefined
  #keepAlive: NodeJS.Timeout | undefined
  readonly #queue: string[] = []
  #onWrite: ((bytes: number) => void) | undefined
  /** Messages lost because the client did not read its stream (or none was open in time). */
  dropped = 0
  #nextServerId = 0
  readonly #serverRequests = new BoundedMap<number, ServerRequest>(MAX_SERVER_REQUESTS)
  readonly #calls = new Map<string, AbortController>()
  /** This session's own backend connections (HTTP, isolated stdio): told of roots changes. */
  readonly connections = new Set<Connection>()

  readonly #observe: NotificationObserver | undefined

  constructor(
    initParams: JsonObject,
    catalogs: (name: string) => BackendCatalog | undefined,
    observe?: NotificationObserver,
  ) {
    this.key = randomUUID()
    this.#catalogs = catalogs
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
    this.#serverRequests.set(id, { connection, upstreamId: message.id, backend })
    return { ...message, id }
  }

  /** A backend cancelled its own request: the client sees the cancel under the gateway id. */
  translateCancel(
    connection: Connection,
    message: JsonRpcNotification,
  ): JsonRpcNotification | undefined {
    const params = message.params
    if (!isObject(params)) return undefined
    for (const [id, entry] of this.#serverRequests) {
      if (entry.connection === connection && entry.upstreamId === params.requestId) {
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

  trackCall(id: JsonRpcId, controller: AbortController): () => void {
    const key = JSON.stringify(id)
    this.#calls.set(key, controller)
    return () => {
      if (this.#calls.get(key) === controller) this.#calls.delete(key)
    }
  }

  /** `notifications/cancelled` from the client: abort that call (the backend gets a cancel). */
  cancel(requestId: unknown): void {
    this.#calls.get(JSON.stringify(requestId))?.abort()
  }

  /** Unrelated backend messages go to the GET stream (queued briefly until one is open). */
  deliver(backend: string, message: JsonRpcRequest | JsonRpcNotification, from: Connection): void {
    let out: JsonObject = message as unknown as JsonObject
    if ('id' in message) {
      out = this.forwardRequest(backend, message, from) as unknown as JsonObject
    } else if (message.method === 'notifications/resources/updated' && isObject(message.params)) {
      const catalog = this.#catalogs(backend)
      const uri = message.params.uri
      if (catalog && typeof uri === 'string') {
        const exposed = catalog.exposeUri(uri)
        out = { ...message, params: { ...message.params, uri: exposed } }
        this.#observe?.({
          backend,
          method: message.method,
          params: { uri: exposed },
          sessionId: this.key,
        })
      }
    } else if (message.method.endsWith('/list_changed')) {
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
    const event = encodeSseEvent(JSON.stringify(message))
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
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift()
      this.dropped++
    }
    this.#queue.push(event)
  }

  /** Opens (or replaces) the standalone stream and flushes what was queued. */
  attachStream(res: ServerResponse, onWrite?: (bytes: number) => void): void {
    this.#stream?.end()
    this.#stream = res
    this.#onWrite = onWrite
    clearInterval(this.#keepAlive)
    this.#keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 25_000)
    this.#keepAlive.unref()
    res.once('close', () => {
      if (this.#stream !== res) return
      this.#stream = undefined
      this.#onWrite = undefined
      clearInterval(this.#keepAlive)
    })
    for (const event of this.#queue.splice(0)) {
      res.write(event)
      onWrite?.(Buffer.byteLength(event))
    }
  }

  close(): void {
    clearInterval(this.#keepAlive)
    this.#stream?.end()
    this.#stream = undefined
    for (const controller of this.#calls.values()) controller.abort()
    this.#calls.clear()
    this.#serverRequests.clear()
    this.connections.clear()
  }
}

export interface SessionStoreOptions {
  ttlMs: number
  max: number
  /** Called when a session ends (DELETE, TTL, shutdown) so backends release its connections. */
  onClose: (session: ClientSession) => void
}

export class SessionStore {
  readonly #sessions = new Map<string, ClientSession>()
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

  /** Adds a session; false when the store is full even after sweeping idle ones. */
  add(session: ClientSession): boolean {
    if (this.#sessions.size >= this.#options.max) this.sweep()
    if (this.#sessions.size >= this.#options.max) return false
    this.#sessions.set(session.key, session)
    return true
  }

  get(key: string): ClientSession | undefined {
    const session = this.#sessions.get(key)
    if (session) session.lastSeen = Date.now()
    return session
  }

  delete(key: string): boolean {
    const session = this.#sessions.get(key)
    if (!session) return false
    this.#sessions.delete(key)
    session.close()
    this.#options.onClose(session)
    return true
  }

  sweep(): void {
    const cutoff = Date.now() - this.#options.ttlMs
    for (const session of [...this.#sessions.values()]) {
      if (session.lastSeen < cutoff) this.delete(session.key)
    }
  }

  closeAll(): void {
    clearInterval(this.#sweeper)
    for (const key of [...this.#sessions.keys()]) this.delete(key)
  }
}
