/**
 * The gateway runtime: the live set of backends (replaced atomically on hot reload), client
 * sessions, routing of client-facing names and URIs to a backend, merged lists with the
 * gateway cursor and a bounded wait per backend, and merged capabilities.
 */
import type { Config } from '../config/schema.ts'
import { PorticoError } from '../errors.ts'
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { Logger } from '../observe/logger.ts'
import type { HttpClient } from '../upstream/http-client.ts'
import {
  type Backend,
  type BackendDeps,
  GATEWAY_SESSION,
  type SessionRef,
} from './backends/backend.ts'
import type { ServerInfo } from './backends/connection.ts'
import { HttpBackend } from './backends/http.ts'
import { StdioBackend } from './backends/stdio.ts'
import type { ItemKind } from './catalog.ts'
import type { BackendConfig, GatewayProxyConfig } from './config.ts'
import {
  type BackendInfo,
  type BackendPage,
  decodeCursor,
  type ListMethod,
  mergeCapabilities,
  mergeInstructions,
  mergePages,
} from './merge.ts'
import { InputBridge } from './mrtr.ts'
import { SessionStore } from './sessions.ts'

export interface GatewayDeps {
  logger: Logger
  http: HttpClient
}

export interface Route {
  backend: Backend
  /** The backend's own name or URI. */
  local: string
}

export class Gateway {
  readonly sessions: SessionStore
  /** Parked calls of stateless clients waiting for their `input_required` answers. */
  readonly inputs = new InputBridge()
  readonly #deps: GatewayDeps
  #config: Config
  #backends = new Map<string, Backend>()
  readonly #closers: Array<() => void> = []
  readonly #listeners = new Set<{ methods: Set<string>; write: (method: string) => void }>()

  constructor(config: Config, deps: GatewayDeps) {
    this.#config = config
    this.#deps = deps
    this.sessions = new SessionStore({
      ttlMs: config.proxy.session_ttl,
      max: config.proxy.max_sessions,
      onClose: (session) => {
        for (const backend of this.#backends.values()) backend.release(session.key)
      },
    })
    for (const backendConfig of config.backends ?? []) {
      this.#backends.set(backendConfig.name, this.#create(backendConfig))
    }
    for (const backend of this.#backends.values()) {
      if (backend.config.start === 'eager') backend.start()
    }
  }

  get config(): Config {
    return this.#config
  }

  get proxy(): GatewayProxyConfig {
    return this.#config.proxy
  }

  backends(): Backend[] {
    return [...this.#backends.values()]
  }

  backend(name: string): Backend | undefined {
    return this.#backends.get(name)
  }

  #create(config: BackendConfig): Backend {
    const deps: BackendDeps = {
      logger: this.#deps.logger,
      http: this.#deps.http,
      separator: this.#config.proxy.separator,
      requestTimeoutMs: this.#config.request_timeout,
      maxMessageBytes: this.#config.max_response_body_size,
      onListChanged: (method) => this.notifyListeners(method),
    }
    return config.transport === 'stdio'
      ? new StdioBackend(config, deps)
      : new HttpBackend(config, deps)
  }

  /** The backend serving a client-facing tool or prompt name, with its own name. */
  routeName(kind: ItemKind, name: string): Route {
    for (const backend of this.#backends.values()) {
      if (!backend.catalog.owns(name)) continue
      const local = backend.catalog.resolve(kind, name)
      if (local !== undefined) return { backend, local }
    }
    throw new PorticoError('invalid_params', { message: `Unknown ${kind}: ${name}` })
  }

  routeUri(uri: string): Route {
    for (const backend of this.#backends.values()) {
      if (!backend.catalog.ownsUri(uri)) continue
      const local = backend.catalog.resolveUri(uri)
      if (local !== undefined) return { backend, local }
    }
    throw new PorticoError('invalid_params', {
      message: `Unknown resource: ${uri}`,
      data: { uri },
    })
  }

  /**
   * One merged page of a list. Without a cursor every backend is asked; with one, only the
   * backends that had more. A backend that fails or exceeds `list_timeout` is left out (and
   * logged); the others are returned.
   */
  async list(
    method: ListMethod,
    params: JsonObject | undefined,
    session: SessionRef,
  ): Promise<JsonObject> {
    const cursor = params?.cursor
    const position = typeof cursor === 'string' ? decodeCursor(cursor) : undefined
    const targets = this.backends().filter((b) => !position || b.name in position)
    const timeoutMs = this.#config.proxy.list_timeout
    const pages = await Promise.all(
      targets.map((backend) =>
        this.#page(backend, method, position?.[backend.name], session, timeoutMs),
      ),
    )
    return mergePages(method, pages)
  }

  async #page(
    backend: Backend,
    method: ListMethod,
    cursor: string | undefined,
    session: SessionRef,
    timeoutMs: number,
  ): Promise<BackendPage> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    try {
      const work = backend.connection(session).then((connection) =>
        connection.request(method, cursor === undefined ? undefined : { cursor }, {
          timeoutMs,
          signal: controller.signal,
        }),
      )
      const aborted = new Promise<never>((_, reject) =>
        controller.signal.addEventListener('abort', () =>
          reject(new PorticoError('upstream_timeout', { message: `no answer in ${timeoutMs} ms` })),
        ),
      )
      const response = await Promise.race([work, aborted])
      if (isObject(response.result)) return { catalog: backend.catalog, result: response.result }
      // A backend without this capability answers -32601: it simply has nothing to list.
      return { catalog: backend.catalog, error: response.error?.message ?? 'no result' }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      this.#deps.logger.warn(`${method}: backend ${backend.name} left out`, {
        backend: backend.name,
        error: message,
      })
      return { catalog: backend.catalog, error: message }
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * What the backends said in `initialize`, waiting up to `list_timeout` for eager backends
   * still starting; lazy backends that never ran are not started just for this.
   */
  async infos(): Promise<BackendInfo[]> {
    const timeoutMs = this.#config.proxy.list_timeout
    const infos = await Promise.all(
      this.backends().map(async (backend): Promise<BackendInfo> => {
        let info: ServerInfo | undefined = backend.info()
        if (!info && backend.config.start === 'eager') {
          info = await within(timeoutMs, backend.connection(GATEWAY_SESSION)).then(
            () => backend.info(),
            () => undefined,
          )
        }
        const out: BackendInfo = { name: backend.name }
        if (info?.capabilities) out.capabilities = info.capabilities
        if (info?.instructions) out.instructions = info.instructions
        return out
      }),
    )
    return infos
  }

  async capabilities(): Promise<{ capabilities: JsonObject; instructions?: string }> {
    const infos = await this.infos()
    const instructions = mergeInstructions(infos, this.#config.proxy.instructions)
    return {
      capabilities: mergeCapabilities(infos),
      ...(instructions !== undefined ? { instructions } : {}),
    }
  }

  /**
   * Applies a new validated config: removed backends close, new ones start, changed ones
   * are replaced; untouched backends keep their processes and every client session.
   */
  async apply(next: Config): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const before = this.#backends
    const after = new Map<string, Backend>()
    const added: string[] = []
    const changed: string[] = []
    const separatorChanged = next.proxy.separator !== this.#config.proxy.separator
    this.#config = next
    for (const config of next.backends ?? []) {
      const current = before.get(config.name)
      if (current && !separatorChanged && fingerprint(current.config) === fingerprint(config)) {
        after.set(config.name, current)
        continue
      }
      const backend = this.#create(config)
      after.set(config.name, backend)
      if (current) changed.push(config.name)
      else added.push(config.name)
      if (config.start === 'eager') backend.start()
    }
    const removed = [...before.keys()].filter((name) => !after.has(name))
    this.#backends = after
    const closing = [...before.entries()]
      .filter(([name, backend]) => after.get(name) !== backend)
      .map(([, backend]) => backend.close())
    await Promise.allSettled(closing)
    return { added, removed, changed }
  }

  /**
   * Adds a stateless `subscriptions/listen` stream: it receives the list changes it asked for
   * until `signal` aborts. Returns the filter keys it honours.
   */
  listen(filter: JsonObject, write: (method: string) => void, signal: AbortSignal): JsonObject {
    const honoured: JsonObject = {}
    const methods = new Set<string>()
    for (const [key, method] of Object.entries(LISTEN_KEYS)) {
      if (filter[key] === true) {
        honoured[key] = true
        methods.add(method)
      }
    }
    const listener = { methods, write }
    if (this.#listeners.size < 10_000) this.#listeners.add(listener)
    signal.addEventListener('abort', () => this.#listeners.delete(listener), { once: true })
    return honoured
  }

  notifyListeners(method: string): void {
    for (const listener of this.#listeners) if (listener.methods.has(method)) listener.write(method)
  }

  /** Registers cleanup to run at close (the config watcher). */
  onClose(closer: () => void): void {
    this.#closers.push(closer)
  }

  async close(): Promise<void> {
    for (const closer of this.#closers.splice(0)) closer()
    this.inputs.close()
    this.sessions.closeAll()
    await Promise.allSettled(this.backends().map((backend) => backend.close()))
  }
}

/** `subscriptions/listen` filter keys the gateway honours → the notification each enables. */
const LISTEN_KEYS: Readonly<Record<string, string>> = {
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
}

function fingerprint(config: BackendConfig): string {
  return JSON.stringify(config)
}

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
