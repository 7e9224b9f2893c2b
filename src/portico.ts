/**
 * createPortico(config): the composition root. Builds the runtime (upstream client, event bus
 * and sinks, the chain of middleware, the mode's terminal and routes) once from the validated
 * config, and returns something to listen with, to embed (`handler`), and to close gracefully.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Config, type ConfigInput, parseConfig } from './config/schema.ts'
import type { ProxyContext } from './context.ts'
import { cspFromConfig } from './csp/setup.ts'
import { type HttpFilter, originFilter } from './edge/filters.ts'
import type { Mode } from './edge/mode.ts'
import { createRouter, type Filters, type Mount, type RequestHandler } from './edge/router.ts'
import type { Gateway } from './gateway/gateway.ts'
import { gatewayMode } from './gateway/mode.ts'
import type { ReloadSource } from './gateway/reload.ts'
import { globalChain } from './middleware/chain.ts'
import { EventBus, type Sink } from './observe/bus.ts'
import { Logger } from './observe/logger.ts'
import { StatusBoard } from './observe/status.ts'
import { stderrSink } from './observe/stderr-sink.ts'
import { Operate } from './operate/setup.ts'
import { answering, compose, type Handler, type Middleware } from './pipeline/compose.ts'
import type { ResponseRewriter } from './pipeline/rewriter.ts'
import { transparentMode } from './transparent/mode.ts'
import { HttpClient } from './upstream/http-client.ts'
import { VERSION } from './version.ts'

export interface PorticoOptions {
  logger?: Logger
  /** Extra event sinks (the SQLite store, metrics, tests). */
  sinks?: Sink[]
  /**
   * Middleware run for every JSON-RPC message, in both modes, after Portico's HTTP filters and
   * before response rewriting (see README "Library mode").
   */
  middleware?: Middleware[]
  /**
   * Middleware run for every call to each upstream: the transparent upstream, each gateway
   * backend (stdio, HTTP, SSE) and each gateway list page, after the global chain.
   */
  upstreamMiddleware?: Middleware[]
  /**
   * HTTP filters run, after Portico's own, for every request that can reach an upstream
   * (POST, GET, DELETE, legacy SSE, widget assets); throw a PorticoError to refuse one.
   */
  filters?: HttpFilter[]
  rewriters?: ResponseRewriter[]
  /** Gateway hot reload: the file to watch and how to load it again (same flags and env). */
  reload?: ReloadSource
}

export interface ListenResult {
  host: string
  port: number
  /** The URL MCP clients should use. */
  url: string
  /** The admin API's own listener (`admin_bind`), when configured. */
  admin?: string
}

export interface Portico {
  /** Node request handler, for embedding Portico in another HTTP server (or Express). */
  readonly handler: RequestHandler
  readonly bus: EventBus
  readonly config: Config
  /**
   * Where stateful policies (breakers, caches, retries) report for `/admin/circuit-breakers`,
   * `/admin/cache/*` and the metrics: `portico.status.add(source)`.
   */
  readonly status: StatusBoard
  /** The admin API's own listener (`admin_bind`), once listening. */
  readonly adminUrl: string | undefined
  listen(): Promise<ListenResult>
  /** Stops accepting, lets in-flight exchanges finish up to `drain_timeout`, flushes sinks. */
  close(): Promise<void>
}

/** Proxy name: explicit, else derived from the upstream (`127.0.0.1-9000`). */
export function proxyName(config: Config): string {
  if (config.name) return config.name
  if (!config.upstream) return 'portico'
  const url = new URL(config.upstream)
  return `${url.hostname}-${url.port || (url.protocol === 'https:' ? '443' : '80')}`.replace(
    /[^A-Za-z0-9.-]/g,
    '-',
  )
}

export function createPortico(input: Config | ConfigInput, options: PorticoOptions = {}): Portico {
  const config = parseConfig(input)
  const gatewayMode_ = (config.backends?.length ?? 0) > 0
  if (!config.upstream && !gatewayMode_) {
    throw new Error('createPortico: `upstream` (or `backends`) is required')
  }
  const logger = options.logger ?? new Logger({ level: config.log_level, json: config.json_logs })
  const bus = new EventBus({
    onSinkError: (sink, error) =>
      logger.warn('event sink failed', { sink: sink.name, error: String(error) }),
  })
  // Failures are logged at warn even with the access log off (stderr-sink.ts).
  bus.addSink(stderrSink(logger, { accessLog: config.access_log ?? process.stderr.isTTY === true }))
  for (const sink of options.sinks ?? []) bus.addSink(sink)
  const operate = new Operate({ config, logger, proxy: proxyName(config) })
  for (const sink of operate.sinks) bus.addSink(sink)
  const http = new HttpClient({
    connectTimeoutMs: config.connect_timeout,
    headersTimeoutMs: config.request_timeout,
  })
  const status = new StatusBoard()
  const context: ProxyContext = { config, proxy: proxyName(config), http, bus, logger, status }
  // Attempt spans sit innermost, so each retry of a policy above them is its own span.
  const upstreamMiddleware = [...(options.upstreamMiddleware ?? []), ...operate.upstreamMiddleware]
  let mode: Mode
  let gateway: Gateway | undefined
  if (gatewayMode_) {
    if (config.upstream) logger.warn('`upstream` is not used in gateway mode ([[backends]] set)')
    const built = gatewayMode(context, options.reload, upstreamMiddleware)
    gateway = built.gateway
    mode = built
  } else {
    mode = transparentMode(context, config.upstream as string, upstreamMiddleware)
  }
  const middleware = globalChain({
    observe: operate.middleware,
    user: options.middleware ?? [],
    rewriters: [...cspFromConfig(config), ...(options.rewriters ?? [])],
  })
  const handle = answering(compose(middleware, mode.terminal), (error, call) =>
    logger.error('call failed', { method: call.method, error: String(error) }),
  )
  const user = options.filters ?? []
  const filters = { mcp: [originFilter(config.allowed_origins), ...user], other: user }
  const server = new PorticoServer(context, mode, handle, filters, operate)
  server.mount(
    operate.attach({
      context,
      ...(gateway ? { gateway } : {}),
      readiness: () => mode.readiness(),
      bus,
      sinks: [...(options.sinks ?? []), ...operate.sinks],
      status,
      exchangesInFlight: () => server.inFlight,
      filters: user,
    }),
  )
  return server
}

class PorticoServer implements Portico {
  readonly handler: RequestHandler
  readonly #context: ProxyContext
  readonly #mode: Mode
  readonly #operate: Operate
  readonly #mounts: Mount[] = []
  #server: Server | undefined
  #adminUrl: string | undefined
  #serving = true
  #inFlight = 0
  #idle: (() => void) | undefined

  constructor(
    context: ProxyContext,
    mode: Mode,
    handle: Handler,
    filters: Filters,
    operate: Operate,
  ) {
    this.#context = context
    this.#mode = mode
    this.#operate = operate
    const ops = {
      isServing: () => this.#serving,
      isReady: async () => mode.readiness(),
      version: VERSION,
    }
    const route = createRouter(context, mode.routes(handle), filters, ops, this.#mounts)
    this.handler = (req: IncomingMessage, res: ServerResponse) => {
      this.#inFlight++
      res.once('close', this.#onClose)
      route(req, res)
    }
  }

  get bus(): EventBus {
    return this.#context.bus
  }

  /** HTTP exchanges in progress (the metrics' gauge). */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Adds route groups beside MCP (`/metrics`, `/admin`); before `listen`. */
  mount(mounts: readonly Mount[]): void {
    this.#mounts.push(...mounts)
  }

  get config(): Config {
    return this.#context.config
  }

  get status(): StatusBoard {
    return this.#context.status
  }

  get adminUrl(): string | undefined {
    return this.#adminUrl
  }

  readonly #onClose = (): void => {
    this.#inFlight--
    if (this.#inFlight === 0) this.#idle?.()
  }

  async listen(): Promise<ListenResult> {
    const { host, port } = this.#context.config
    const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, this.handler)
    this.#server = server
    server.listen(port, host)
    await once(server, 'listening')
    const address = server.address() as AddressInfo
    const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address
    const admin = await this.#operate.listen().catch((error: unknown) => {
      server.close()
      throw error
    })
    this.#adminUrl = admin?.url
    return {
      host: address.address,
      port: address.port,
      url: `http://${shownHost}:${address.port}${this.#context.config.mcp_path}`,
      ...(admin ? { admin: admin.url } : {}),
    }
  }

  async close(): Promise<void> {
    if (!this.#serving) return
    this.#serving = false
    const server = this.#server
    server?.close()
    server?.closeIdleConnections()
    await this.#operate.closeAdmin()
    await this.#drain(this.#context.config.drain_timeout)
    server?.closeAllConnections()
    try {
      await this.#mode.close()
      await this.#context.bus.close()
      await this.#operate.close()
    } finally {
      await this.#context.http.destroy()
    }
  }

  #drain(timeoutMs: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      timer.unref()
      this.#idle = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
