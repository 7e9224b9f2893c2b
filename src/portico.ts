/**
 * createPortico(config): builds the runtime (upstream client, event bus and sinks, policies,
 * rewriters, route table) once from the validated config, and returns something to listen
 * with, to embed (`handler`), and to close gracefully.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Config, type ConfigInput, parseConfig } from './config/schema.ts'
import { cspFromConfig } from './csp/setup.ts'
import { originCheck } from './edge/origin.ts'
import { createRouter, type RequestHandler } from './edge/router.ts'
import { Gateway } from './gateway/gateway.ts'
import { gatewayReadiness } from './gateway/health.ts'
import { type ReloadSource, watchConfig } from './gateway/reload.ts'
import { EventBus, type Sink } from './observe/bus.ts'
import { Logger } from './observe/logger.ts'
import { stderrSink } from './observe/stderr-sink.ts'
import type { RequestPolicy, ResponseRewriter } from './pipeline/types.ts'
import { labelOf, type ProxyContext } from './transparent/context.ts'
import { LegacySessions } from './transparent/legacy-sessions.ts'
import { HttpClient } from './upstream/http-client.ts'
import { VERSION } from './version.ts'

export interface PorticoOptions {
  logger?: Logger
  /** Extra event sinks (the SQLite store, metrics, tests). */
  sinks?: Sink[]
  policies?: RequestPolicy[]
  rewriters?: ResponseRewriter[]
  /** Gateway hot reload: the file to watch and how to load it again (same flags and env). */
  reload?: ReloadSource
}

export interface ListenResult {
  host: string
  port: number
  /** The URL MCP clients should use. */
  url: string
}

export interface Portico {
  /** Node request handler, for embedding Portico in another HTTP server. */
  readonly handler: RequestHandler
  readonly bus: EventBus
  readonly config: Config
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
  const gatewayMode = (config.backends?.length ?? 0) > 0
  if (!config.upstream && !gatewayMode) {
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
  // In gateway mode there is no single upstream: the placeholder only serves `widgets` routing.
  const upstream = new URL(config.upstream ?? config.widgets ?? 'http://127.0.0.1/')
  const http = new HttpClient({
    connectTimeoutMs: config.connect_timeout,
    headersTimeoutMs: config.request_timeout,
  })
  const context: ProxyContext = {
    config,
    proxy: proxyName(config),
    upstream,
    upstreamLabel: labelOf(upstream),
    rawTarget: rawTargetOf(config, upstream),
    http,
    bus,
    logger,
    originAllowed: originCheck(config.allowed_origins),
    policies: options.policies ?? [],
    rewriters: [...cspFromConfig(config), ...(options.rewriters ?? [])],
    legacy: new LegacySessions({ timeoutMs: config.request_timeout }),
  }
  if (gatewayMode) {
    if (config.upstream) logger.warn('`upstream` is not used in gateway mode ([[backends]] set)')
    const { bus, proxy } = context
    context.gateway = new Gateway(config, {
      logger,
      http,
      observe: (n) => {
        if (!bus.hasSinks) return
        bus.publish({ type: 'notification', ts: Date.now(), proxy, ...n })
      },
    })
    if (config.proxy.hot_reload && options.reload)
      watchConfig(context.gateway, options.reload, logger)
  }
  return new PorticoServer(context)
}

function rawTargetOf(config: Config, upstream: URL): URL {
  if (config.widgets && /^https?:\/\//i.test(config.widgets)) return new URL(config.widgets)
  return new URL(upstream.origin)
}

class PorticoServer implements Portico {
  readonly handler: RequestHandler
  readonly #context: ProxyContext
  #server: Server | undefined
  #serving = true
  #inFlight = 0
  #idle: (() => void) | undefined
  #readiness: { at: number; ready: boolean } | undefined

  constructor(context: ProxyContext) {
    this.#context = context
    const route = createRouter(context, {
      isServing: () => this.#serving,
      isReady: () => this.#probe(),
      version: VERSION,
    })
    this.handler = (req: IncomingMessage, res: ServerResponse) => {
      this.#inFlight++
      res.once('close', this.#onClose)
      route(req, res)
    }
  }

  get bus(): EventBus {
    return this.#context.bus
  }

  get config(): Config {
    return this.#context.config
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
    return {
      host: address.address,
      port: address.port,
      url: `http://${shownHost}:${address.port}${this.#context.config.mcp_path}`,
    }
  }

  async close(): Promise<void> {
    if (!this.#serving) return
    this.#serving = false
    const server = this.#server
    server?.close()
    server?.closeIdleConnections()
    await this.#drain(this.#context.config.drain_timeout)
    server?.closeAllConnections()
    try {
      await this.#context.gateway?.close()
      await this.#context.bus.close()
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

  /** Upstream reachability, cached for a second so probes cannot hammer the upstream. */
  async #probe(): Promise<{ ready: boolean; detail?: Record<string, unknown> }> {
    if (this.#context.gateway) return gatewayReadiness(this.#context.gateway)
    const now = Date.now()
    if (this.#readiness && now - this.#readiness.at < 1000) return { ready: this.#readiness.ready }
    let ready = false
    try {
      const response = await this.#context.http.send({
        url: this.#context.upstream,
        method: 'GET',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(2000),
        label: this.#context.upstreamLabel,
      })
      response.body.resume()
      ready = true
    } catch {
      ready = false
    }
    this.#readiness = { at: now, ready }
    return { ready, detail: { upstream: this.#context.upstreamLabel } }
  }
}
