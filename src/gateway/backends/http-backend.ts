/**
 * Remote backends (Streamable HTTP, legacy HTTP+SSE, WebSocket). A 2025-11-25 backend gets one
 * MCP session per client session (so it sees each client's capabilities, and its server→client
 * requests arrive on the POST stream of the call that caused them), plus the gateway's own
 * session for stateless (2026) clients. A 2026-07-28 backend gets one connection for all
 * (modern.ts). Which one an `http` backend is, `protocol_version` says or its first
 * `server/discover` tells.
 */
import type { BackendConfig } from '../../config/gateway.ts'
import { PorticoError } from '../../errors.ts'
import type { HeaderMap } from '../../http/headers.ts'
import { isObject, type JsonObject } from '../../jsonrpc/message.ts'
import { MODERN_PROTOCOL_VERSION } from '../../protocol/classify.ts'
import { SharedAudience } from './audience.ts'
import { answerUnrouted, Backend, type SessionRef } from './backend.ts'
import { BACKEND_PROTOCOL_VERSION, type Connection, type ServerInfo } from './connection.ts'
import { HttpConnection } from './http.ts'
import { httpStatusOf } from './http-status.ts'
import {
  MAX_SUBSCRIBED,
  ModernHttpConnection,
  refusedCredentials,
  revealsLegacy,
} from './modern.ts'
import { SseConnection } from './sse.ts'
import { WebSocketConnection } from './websocket.ts'

function sessionHeadersOf(headersOf: (() => HeaderMap | undefined) | undefined): {
  sessionHeaders?: HeaderMap
} {
  const sessionHeaders = headersOf?.()
  return sessionHeaders === undefined ? {} : { sessionHeaders }
}

/** The revision a backend is reached in: 2025-11-25 sessions, or 2026-07-28 (modern.ts). */
type Era = 'legacy' | 'modern'

export class HttpBackend extends Backend {
  readonly #connections = new Map<string, Promise<Connection & { open(): Promise<ServerInfo> }>>()
  /** The connection each of those promises resolves to (known as soon as it is made). */
  readonly #opened = new Map<string, Connection>()
  /** Set by `close`: no connection opens, and no call moves the state, afterwards. */
  #closed = false
  #info: ServerInfo | undefined
  /** Fixed by `protocol_version`; with `auto`, learned at the first connection (`#shared`). */
  #era: Era | undefined = eraOf(this.config)
  /** `protocol_version = "auto"`: the revision is learned, and learned again if it changes. */
  readonly #learnsEra = this.#era === undefined
  #rechecking = false
  #recheckedAt = 0
  /** The one 2026-07-28 connection every session shares, once open (and its promise). */
  #ready: ModernHttpConnection | undefined
  #readyPromise: Promise<Connection> | undefined
  /** The shared probe in flight (`#shared`). */
  #probing: Promise<ModernHttpConnection | undefined> | undefined
  /** 2026-07-28 connections opened and not yet closed (closed with the backend). */
  readonly #opening = new Set<ModernHttpConnection>()
  /** Who hears the 2026-07-28 connection's list changes and resource updates. */
  readonly #audience = new SharedAudience({ subscribed: MAX_SUBSCRIBED, perSession: 100 })

  info(): ServerInfo | undefined {
    return this.#info
  }

  start(): void {
    this.connection(this.deps.gatewaySession).catch(() => {})
  }

  connection(
    session: SessionRef,
    headersOf?: () => HeaderMap | undefined,
    callerHeadersOf?: () => HeaderMap | undefined,
  ): Promise<Connection> {
    if (this.#era === 'legacy') return this.#sessionConnection(session, headersOf)
    this.#audience.join(session)
    const ready = this.#ready
    if (ready !== undefined && !ready.closed && this.#readyPromise !== undefined) {
      return this.#readyPromise
    }
    // The revision is still to learn (or the connection to open): the shared probe carries no
    // caller's credentials. One refused for want of them (a `forward_auth` backend) is made
    // again with this call's own, never joined to another caller's: each caller's credentials
    // decide only its own call.
    const shared = this.#shared()
    const credentials = (callerHeadersOf ?? headersOf)?.()
    const learned =
      credentials === undefined
        ? shared
        : shared.catch((error: unknown) => {
            if (!refusedCredentials(error)) throw error
            return this.#open(credentials)
          })
    return learned.then((modern) => modern ?? this.#sessionConnection(session, headersOf))
  }

  /**
   * The shared probe: `server/discover` without any caller's credentials, one at a time. A
   * backend that answers it in 2026-07-28 is reached in it from then on; one that refuses it in
   * a way that tells a 2025 server gets sessions (`undefined`). A backend that cannot be
   * reached, or refuses the credentials, says nothing about its revision: the next connection
   * asks again.
   */
  #shared(): Promise<ModernHttpConnection | undefined> {
    if (this.#probing !== undefined) return this.#probing
    if (this.#closed) return Promise.reject(new PorticoError('backend_failed'))
    const probing = this.#open(undefined).finally(() => {
      if (this.#probing === probing) this.#probing = undefined
    })
    this.#probing = probing
    if (this.state === 'idle') this.setState('starting')
    return probing
  }

  /**
   * Opens a 2026-07-28 connection (`headers`: the caller's credentials for its probe). The
   * first to open is the one every session shares; one opened meanwhile is closed again.
   */
  #open(headers: HeaderMap | undefined): Promise<ModernHttpConnection | undefined> {
    if (this.#closed) return Promise.reject(new PorticoError('backend_failed'))
    const connection = this.#modernFor()
    return connection.open(headers).then(
      (info) => this.#adopt(connection, info),
      (error: unknown) => {
        this.#opening.delete(connection)
        void connection.close()
        if (this.#era === undefined && revealsLegacy(error)) {
          this.#era = 'legacy'
          return undefined
        }
        // The backend keeps serving the calls of a connection opened meanwhile.
        if (this.#ready !== undefined && !this.#ready.closed) return this.#ready
        const message = error instanceof Error ? error.message : String(error)
        if (!this.#closed) this.setState('down', message)
        throw error
      },
    )
  }

  #adopt(connection: ModernHttpConnection, info: ServerInfo): ModernHttpConnection {
    this.#opening.delete(connection)
    if (this.#closed) {
      void connection.close()
      throw new PorticoError('backend_failed', { message: `Backend ${this.name} closed` })
    }
    const ready = this.#ready
    if (ready !== undefined && !ready.closed) {
      void connection.close()
      return ready
    }
    if (this.#era === undefined) {
      this.deps.logger.info(`backend ${this.name} is reached in ${MODERN_PROTOCOL_VERSION}`, {
        backend: this.name,
      })
    }
    this.#era = 'modern'
    this.#info = info
    this.#ready = connection
    this.#readyPromise = Promise.resolve(connection)
    this.setState('up')
    return connection
  }

  #modernOptions() {
    return {
      config: this.config,
      http: this.deps.http,
      initParams: this.deps.gatewaySession.initParams,
      timeoutMs: this.timeoutMs,
      startupTimeoutMs: this.startupTimeoutMs,
      maxMessageBytes: this.deps.maxMessageBytes,
    }
  }

  /**
   * A backend reached in 2026-07-28 that refuses a call as a 2025 server would (a 4xx that is
   * not about credentials or load) may have been restarted as one: its revision is asked again,
   * in the background and at most every RECHECK_MS; if it no longer serves 2026-07-28, the
   * shared connection is closed and the next connection learns the revision anew.
   */
  #recheck(): void {
    const now = Date.now()
    if (this.#rechecking || now - this.#recheckedAt < RECHECK_MS) return
    this.#rechecking = true
    this.#recheckedAt = now
    const probe = new ModernHttpConnection(this.#modernOptions())
    probe
      .discover()
      .then(
        () => undefined,
        (error: unknown) => {
          if (!revealsLegacy(error) || this.#closed) return
          this.deps.logger.info(
            `backend ${this.name} no longer serves ${MODERN_PROTOCOL_VERSION}: its revision is asked again`,
            { backend: this.name },
          )
          const ready = this.#ready
          this.#ready = undefined
          this.#readyPromise = undefined
          this.#era = undefined
          void ready?.close()
        },
      )
      .finally(() => {
        this.#rechecking = false
        void probe.close()
      })
  }

  /** A new 2026-07-28 connection, its unsolicited messages routed to the backend's audience. */
  #modernFor(): ModernHttpConnection {
    const gateway = this.deps.gatewaySession
    const connection = new ModernHttpConnection(this.#modernOptions())
    // A list change goes to the gateway, which tells every session (gateway.ts `#deliver`); a
    // resource update to the sessions subscribed to it.
    connection.onUnsolicited = (message) => {
      if ('id' in message) answerUnrouted(connection, message)
      else if (message.method.endsWith('/list_changed')) {
        gateway.deliver(this.name, message, connection)
      } else {
        for (const session of this.#audience.of(message)) {
          session.deliver(this.name, message, connection)
        }
      }
    }
    this.reportUnroutable(connection)
    this.#audience.join(gateway)
    this.#opening.add(connection)
    return connection
  }

  /** A 2025-11-25 session with the backend for this client session (opened once, kept). */
  #sessionConnection(
    session: SessionRef,
    headersOf?: () => HeaderMap | undefined,
  ): Promise<Connection> {
    const existing = this.#connections.get(session.key)
    // A connection that ended (a stream or socket the backend closed) never serves again: the
    // session's next call opens a new one instead of failing for good. Checked on the object
    // kept beside the promise, so a live connection costs no extra promise per call.
    if (existing && this.#opened.get(session.key)?.closed !== true) return existing
    if (this.#closed) return Promise.reject(new PorticoError('backend_failed'))
    const options = {
      config: this.config,
      http: this.deps.http,
      initParams: { ...session.initParams, protocolVersion: BACKEND_PROTOCOL_VERSION },
      timeoutMs: this.timeoutMs,
      startupTimeoutMs: this.startupTimeoutMs,
      maxMessageBytes: this.deps.maxMessageBytes,
      ...sessionHeadersOf(headersOf),
    }
    const connection =
      this.config.transport === 'sse'
        ? new SseConnection(options)
        : this.config.transport === 'websocket'
          ? new WebSocketConnection(options)
          : new HttpConnection(options)
    connection.onUnsolicited = (message) => session.deliver(this.name, message, connection)
    this.reportUnroutable(connection)
    const opening = connection.open().then(
      (info) => {
        if (this.#closed) {
          // Closed (a hot reload replaced it) while this one opened: nothing would release it.
          void connection.close()
          throw new PorticoError('backend_failed', { message: `Backend ${this.name} closed` })
        }
        this.#info = info
        this.setState('up')
        return connection
      },
      (error: unknown) => {
        if (this.#opened.get(session.key) === connection) {
          this.#connections.delete(session.key)
          this.#opened.delete(session.key)
        }
        void connection.close()
        // A backend whose revision was learned may have changed it (restarted as a 2026-07-28
        // server): the next connection asks again.
        if (this.#learnsEra && this.#era === 'legacy') this.#era = undefined
        const message = error instanceof Error ? error.message : String(error)
        if (!this.#closed) this.setState('down', message)
        throw error
      },
    )
    if (this.#connections.size < 100_000) {
      this.#connections.set(session.key, opening)
      this.#opened.set(session.key, connection)
    }
    if (this.state === 'idle') this.setState('starting')
    return opening
  }

  override observe(error: PorticoError | undefined): void {
    super.observe(error)
    // A closed backend stays closed, whatever its last calls reported.
    if (this.#closed) return
    if (error === undefined) this.setState('up')
    else if (error.reason === 'upstream_unavailable' || error.reason === 'upstream_timeout') {
      this.setState('down', error.message)
    } else if (this.#learnsEra && this.#era === 'modern' && refusedAsLegacy(error)) {
      this.#recheck()
    } else if (this.#learnsEra && this.#era === 'legacy' && revisionRefused(error)) {
      // A 2025 backend now refusing that revision: the next connection learns it again.
      this.#era = undefined
    }
  }

  /** A 2026-07-28 backend has one connection: the session's level goes with each request. */
  override async setLogLevel(session: SessionRef, params: JsonObject): Promise<void> {
    const connection = await this.connection(session)
    if (connection instanceof ModernHttpConnection) return
    await connection.request('logging/setLevel', params, { timeoutMs: this.timeoutMs })
  }

  override get dedicated(): boolean {
    return this.#era !== 'modern'
  }

  override join(session: SessionRef): void {
    if (this.#era !== 'legacy') this.#audience.join(session)
  }

  /**
   * A 2026-07-28 backend's one listen stream serves every session: it is told of the first
   * subscriber of a resource and the last one leaving. Recorded while the era is unknown too,
   * and told then (the subscribe learns the era).
   */
  override track(sessionKey: string, uri: string, subscribe: boolean): boolean {
    if (this.#era === 'legacy') return true
    const tell = this.#audience.track(sessionKey, uri, subscribe)
    return this.#era === undefined || tell
  }

  release(sessionKey: string): void {
    for (const uri of this.#audience.release(sessionKey)) {
      this.#ready
        ?.request('resources/unsubscribe', { uri }, { timeoutMs: this.timeoutMs })
        .catch(() => {})
    }
    const opening = this.#connections.get(sessionKey)
    if (!opening) return
    this.#connections.delete(sessionKey)
    this.#opened.delete(sessionKey)
    opening.then((connection) => connection.close()).catch(() => {})
  }

  protected connectionCount(): number {
    return this.#connections.size + (this.#ready === undefined ? 0 : 1)
  }

  protected openConnections(): Iterable<Connection> {
    const modern = this.#ready
    return modern === undefined ? this.#opened.values() : [...this.#opened.values(), modern]
  }

  async close(): Promise<void> {
    this.#closed = true
    this.setState('closed')
    // Closed directly, those still opening included: an `initialize` the backend never
    // answers must not hold the shutdown for the backend's whole timeout.
    const all = [...this.#opened.values()]
    if (this.#ready !== undefined) all.push(this.#ready)
    all.push(...this.#opening)
    this.#opening.clear()
    this.#ready = undefined
    this.#readyPromise = undefined
    this.#connections.clear()
    this.#opened.clear()
    await Promise.allSettled(all.map((connection) => connection.close()))
  }
}

/** How often a backend reached in 2026-07-28 that refuses calls is asked its revision again. */
const RECHECK_MS = 5000

/** A call's failure as a 2025 server refuses a 2026-07-28 request (HTTP 4xx, not credentials or load). */
function refusedAsLegacy(error: PorticoError): boolean {
  const status = httpStatusOf(error)
  if (status === undefined) return false
  return status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status)
}

function revisionRefused(error: PorticoError): boolean {
  return isObject(error.data) && error.data.revisionRefused === true
}

function eraOf(config: BackendConfig): Era | undefined {
  if (config.transport !== 'http' || config.protocol_version === '2025-11-25') return 'legacy'
  return config.protocol_version === '2026-07-28' ? 'modern' : undefined
}
