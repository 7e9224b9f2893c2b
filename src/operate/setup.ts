/**
 * Builds the operating surfaces from the config, once: Prometheus metrics (a sink plus the
 * in-flight middleware), OpenTelemetry tracing (middleware in the global chain and in every
 * upstream's chain), the audit log and the cloud/webhook sink (sinks), and the admin API (a
 * mount on the main listener, or its own listener at `admin_bind`). createPortico wires the
 * parts in; with everything off nothing is added to the request path.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ADMIN_BODY_BYTES, adminApi, sendAdminRefusal } from '../admin/api.ts'
import { type Fleet, gatewayFleet, transparentFleet } from '../admin/fleet.ts'
import type { ConfigOverrides } from '../config/load.ts'
import { adminPlacement, adminTokenOf, MCPR_CLOUD_ENDPOINT } from '../config/operate.ts'
import type { Config } from '../config/schema.ts'
import type { ProxyContext } from '../context.ts'
import { PageRunner } from '../dashboard/page-runner.ts'
import { dashboardHandler } from '../dashboard/server.ts'
import {
  type AdminCredential,
  adminCredential,
  adminFilter,
  type RotatableCredential,
} from '../edge/admin-token.ts'
import { answerParserRefusals } from '../edge/client-error.ts'
import type { HttpFilter } from '../edge/filters.ts'
import type { Readiness } from '../edge/mode.ts'
import { createMountRouter, type Mount, type Operations } from '../edge/router.ts'
import { PorticoError } from '../errors.ts'
import type { Gateway } from '../gateway/gateway.ts'
import { refuseConnect } from '../http/connect-method.ts'
import { continueWithin, refuseExpectations } from '../http/expect-continue.ts'
import { TCP_KEEPALIVE } from '../http/tcp-keepalive.ts'
import {
  PorticoMetrics as Metrics,
  type PorticoMetrics,
  type SharedMetrics,
} from '../metrics/metrics.ts'
import { auditSink } from '../observe/audit-sink.ts'
import type { EventBus, Sink } from '../observe/bus.ts'
import type { Logger } from '../observe/logger.ts'
import { isStatsSource, type StatsSource, type StatusBoard } from '../observe/status.ts'
import { webhookSink } from '../observe/webhook-sink.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { FollowedStore } from '../store/followed.ts'
import { defaultStorePath, openStore } from '../store/open.ts'
import { attemptSpans, exchangeSpans } from '../tracing/middleware.ts'
import { Tracer } from '../tracing/tracer.ts'
import { VERSION } from '../version.ts'
import { preflight, preflightWarnings } from './preflight.ts'

export interface OperateOptions {
  config: Config
  logger: Logger
  proxy: string
  /** In a cluster worker: a scrape answers every process's metrics (src/cluster/metrics.ts). */
  sharedMetrics?: SharedMetrics
  /** The file the config came from: `PUT /admin/config` writes over it. */
  configFile?: string
  /** The command line's settings over that file (`--db`): a text put in its place gets them. */
  configOverrides?: ConfigOverrides
  /** In a cluster: this worker's slot, named on the admin listener's answers too. */
  workerSlot?: string
}

/** What exists before the mode: sinks and middleware. */
export class Operate {
  readonly sinks: Sink[] = []
  /** Outermost global middleware (trace span, in-flight gauge). */
  readonly middleware: Middleware[] = []
  /** Innermost per-upstream middleware (a span per attempt). */
  readonly upstreamMiddleware: Middleware[] = []
  readonly metrics: PorticoMetrics | undefined
  readonly tracer: Tracer | undefined
  readonly #options: OperateOptions
  /**
   * What proves admin rights on the admin API, `/metrics` and the dashboard: the admin token,
   * which a reload rotates (`adminTokenReload`).
   */
  readonly adminCredential: RotatableCredential
  #admin: AdminServer | undefined
  /** The dashboard's read connection to the store, opened on its first request. */
  #dashboardDb: FollowedStore | undefined
  /** The dashboard's page queries, off the proxy's thread. */
  #dashboardPages: PageRunner | undefined

  constructor(options: OperateOptions) {
    this.#options = options
    this.adminCredential = adminCredential(adminTokenOf(options.config))
    const { config } = options
    const mode = (config.backends?.length ?? 0) > 0 ? 'gateway' : 'transparent'
    if (config.observability.metrics.enabled) {
      this.metrics = new Metrics({
        maxTargets: config.observability.metrics.max_targets,
        processMetrics: config.observability.metrics.process,
        version: VERSION,
        mode,
        proxy: options.proxy,
        mcpProxyNames: config.observability.metrics.mcp_proxy_names,
        ...(options.sharedMetrics ? { shared: options.sharedMetrics } : {}),
      })
      this.sinks.push(this.metrics.sink)
      this.middleware.push(this.metrics.middleware)
    }
    const tracing = config.observability.tracing
    if (tracing.enabled) {
      this.tracer = new Tracer({
        protocol: tracing.protocol,
        serviceName: tracing.service_name,
        serviceVersion: VERSION,
        endpoint: tracing.endpoint,
        headers: tracing.headers,
        sampleRatio: tracing.sample_ratio,
        maxQueue: tracing.max_queue,
        batchSize: tracing.batch_size,
        flushIntervalMs: tracing.flush_interval_ms,
        onError: (message) => options.logger.warn(message),
      })
      // The exchange span is outermost: it sees refusals by every later middleware.
      this.middleware.unshift(exchangeSpans(this.tracer))
      this.upstreamMiddleware.push(attemptSpans(this.tracer))
    }
    if (config.observability.audit) this.sinks.push(auditSink(options.logger))
    const cloud = config.cloud
    if (cloud !== undefined && (cloud.token !== undefined || cloud.endpoint !== undefined)) {
      this.sinks.push(
        webhookSink({
          name: cloud.token !== undefined ? 'cloud' : 'webhook',
          url: cloud.endpoint ?? MCPR_CLOUD_ENDPOINT,
          ...(cloud.token !== undefined ? { token: cloud.token } : {}),
          server: cloud.server,
          batchSize: cloud.batch_size,
          flushIntervalMs: cloud.flush_interval_ms,
          maxBuffer: cloud.max_buffer,
          maxAttempts: cloud.max_attempts,
          onError: (message) => options.logger.warn(message),
        }),
      )
    }
  }

  /**
   * Connects what exists once the mode is built: metric sources and the admin API. Returns the
   * mounts of the main listener.
   */
  attach(parts: AttachParts): Mount[] {
    const { config, logger, proxy } = this.#options
    const fleet = parts.gateway
      ? gatewayFleet(parts.gateway)
      : transparentFleet(parts.runningConfig ?? (() => config), parts.readiness, parts.status)
    this.metrics?.observe({
      exchangesInFlight: parts.exchangesInFlight,
      ...(parts.gateway
        ? {
            sessions: () => (parts.gateway as Gateway).sessions.size,
            backends: () =>
              (parts.gateway as Gateway).backends().map((b) => {
                const h = b.health()
                return {
                  name: h.name,
                  transport: h.transport,
                  up: h.state === 'up' || h.state === 'idle',
                  restarts: h.restarts,
                  connections: h.connections,
                }
              }),
          }
        : {}),
      bus: () => parts.bus.stats(),
      pipes: () =>
        [...parts.sinks, ...(this.tracer ? [this.tracer] : [])]
          .filter((s): s is Sink & StatsSource => isStatsSource(s))
          .map((s) => ({ name: s.name, stats: s.pipeStats() })),
      status: parts.status,
    })
    const credential = this.adminCredential
    const publicOrigin = publicOriginOfConfig(config)
    const mounts: Mount[] = []
    const placement = adminPlacement(config)
    const adminOnMain = placement !== undefined && 'main' in placement
    const metrics = this.metrics
    if (metrics !== undefined) {
      // Without an admin token, [auth]'s credential guards it (mcp-proxy's /admin/metrics sat
      // behind its auth): a config that asks for authentication never serves it to anyone.
      const guard =
        credential.configured || parts.authFilters === undefined
          ? parts.addressFilters
          : parts.authFilters
      const scrape: Mount = {
        path: config.observability.metrics.path,
        filters: [...guard, adminFilter(credential, false, publicOrigin)],
        handler: async (_req, res) => {
          const body = await metrics.render()
          res.writeHead(200, { 'content-type': metrics.contentType }).end(body)
        },
      }
      mounts.push(scrape)
      // mcp-proxy (a gateway) served its metrics at /admin/metrics on the MCP listener, where a
      // migrated Prometheus job still scrapes; the admin API answers it itself when it is there.
      if (parts.gateway !== undefined && !adminOnMain && scrape.path !== MCP_PROXY_METRICS) {
        mounts.push({ ...scrape, path: MCP_PROXY_METRICS })
      }
    }
    if (config.dashboard.enabled)
      mounts.push(...this.#dashboardMounts(credential, parts.addressFilters, parts.filters, fleet))
    // Last: a dashboard configured under /admin/ keeps its own paths.
    if (parts.gateway !== undefined && !adminOnMain) {
      mounts.push(adminOffMount(placement, parts.addressFilters))
    }
    if (placement === undefined) return mounts
    const admin: Mount = {
      path: '/admin/',
      filters: [
        ...parts.addressFilters,
        adminFilter(credential, true, publicOrigin),
        ...parts.filters,
      ],
      sendRefusal: sendAdminRefusal,
      handler: adminApi({
        fleet,
        status: parts.status,
        logger,
        proxyName: proxy,
        version: VERSION,
        proxyVersion: () => (parts.runningConfig?.() ?? config).proxy.version ?? VERSION,
        ...(metrics ? { metrics } : {}),
        preflight,
        warnings: preflightWarnings,
        ...(this.#options.configFile
          ? {
              configFile: {
                path: this.#options.configFile,
                overrides: this.#options.configOverrides ?? {},
                // Applied while running only when the file is watched (`hot_reload`).
                applied: config.proxy.hot_reload && parts.reloadRefusal !== undefined,
                refusal: parts.reloadRefusal ?? (() => undefined),
              },
            }
          : {}),
      }),
    }
    if ('main' in placement) return [...mounts, admin]
    this.#admin = new AdminServer(
      parts.context,
      [admin],
      parts.probes,
      placement.own,
      this.#options.workerSlot,
    )
    return mounts
  }

  /**
   * The dashboard: its API behind the admin guard (the token when one is configured), its page
   * shell and assets (no data in them) behind the Origin and Host checks only, so a browser can
   * load the page and then present the token.
   */
  #dashboardMounts(
    credential: AdminCredential,
    addressFilters: readonly HttpFilter[],
    filters: readonly HttpFilter[],
    fleet: Fleet,
  ): Mount[] {
    const { config } = this.#options
    const path = config.dashboard.path
    const storePath = config.store.path ?? defaultStorePath()
    this.#dashboardPages = new PageRunner(storePath)
    const handler = dashboardHandler({
      basePath: path,
      store: () => {
        // Followed: a store deleted (the writer starts a new one) or replaced is opened again.
        this.#dashboardDb ??= new FollowedStore(storePath, (at) => openStore(at))
        return this.#dashboardDb.get()
      },
      pages: this.#dashboardPages,
      mcpUrl: config.mcp_path,
      fleet,
    })
    const publicOrigin = publicOriginOfConfig(config)
    const shell = adminFilter(adminCredential(undefined), !credential.configured, publicOrigin)
    // The address rules first, as on /admin/: a refused address gets 403, not the admin
    // token's challenge (which would tell it an API is there).
    return [
      {
        path: `${path}api/`,
        filters: [...addressFilters, adminFilter(credential, true, publicOrigin), ...filters],
        handler,
      },
      { path, filters: [...addressFilters, shell, ...filters], handler },
    ]
  }

  /** Starts the admin listener (`admin_bind`, or `port` instead of its port), when there is one. */
  listen(port?: number): Promise<{ url: string } | undefined> {
    return this.#admin?.listen(port) ?? Promise.resolve(undefined)
  }

  /** Stops the admin listener (at the start of shutdown). */
  async closeAdmin(): Promise<void> {
    await this.#admin?.close()
  }

  /** Exports the last spans (after the chain drained). */
  async close(): Promise<void> {
    this.#dashboardDb?.close()
    this.#dashboardDb = undefined
    await this.#dashboardPages?.close()
    await this.tracer?.close()
  }
}

export interface AttachParts {
  context: ProxyContext
  gateway?: Gateway
  readiness: () => Promise<Readiness> | Readiness
  /** The config in force (Mode.runningConfig), when a reload may change it. */
  runningConfig?: () => Config
  /** Why the mode's hot reload would refuse a config (Mode.reloadRefusal), when it reloads. */
  reloadRefusal?: (next: Config) => string | undefined
  bus: EventBus
  /** Every sink of the bus (those with counters show in the metrics). */
  sinks: readonly Sink[]
  status: StatusBoard
  exchangesInFlight: () => number
  /** What the probes answer from: the admin listener serves them too. */
  probes: Operations
  /** Library-mode filters (they guard the admin API too). */
  filters: readonly HttpFilter[]
  /** `allow_ips` / `deny_ips`: every mount (admin API, dashboard, `/metrics`) obeys them. */
  addressFilters: readonly HttpFilter[]
  /** `[auth]`'s filters (address rules included), when it is configured. */
  authFilters?: readonly HttpFilter[]
}

/** Where mcp-proxy served the Prometheus text. */
const MCP_PROXY_METRICS = '/admin/metrics'

/**
 * `/admin/` on a gateway's main listener when the admin API is not served there: mcp-proxy
 * always served it there, so its users get a 404 that says where it is, or how to turn it on.
 */
function adminOffMount(
  placement: { own: { host: string; port: number } } | undefined,
  addressFilters: readonly HttpFilter[],
): Mount {
  const message =
    placement === undefined
      ? 'Not Found: the admin API is off; set [admin] enabled = true (with [admin] token) to serve it under /admin here, or admin_bind for its own listener'
      : 'Not Found: the admin API has its own listener (admin_bind), not this one'
  return {
    path: '/admin/',
    filters: addressFilters,
    handler: (_req, res) => {
      sendAdminRefusal(res, new PorticoError('not_found', { message }))
    },
  }
}

/** The admin API on its own listener (`admin_bind`, mcpr's key). */
class AdminServer {
  readonly #server: Server
  readonly #bind: { host: string; port: number }

  constructor(
    context: ProxyContext,
    mounts: Mount[],
    probes: Operations,
    bind: { host: string; port: number },
    workerSlot: string | undefined,
  ) {
    this.#bind = bind
    const route = createMountRouter(context, mounts, probes)
    // Which worker's breakers, caches and stats an operator reads (or clears) here.
    const handle: typeof route =
      workerSlot === undefined
        ? route
        : (req, res) => {
            res.setHeader('portico-worker', workerSlot)
            return route(req, res)
          }
    this.#server = createServer(
      { keepAliveTimeout: 5000, requestTimeout: 30_000, ...TCP_KEEPALIVE },
      handle,
    )
    continueWithin(this.#server, () => ADMIN_BODY_BYTES, handle)
    refuseExpectations(this.#server, workerSlot)
    refuseConnect(this.#server, workerSlot)
    answerParserRefusals(this.#server, context.logger, workerSlot)
  }

  async listen(port = this.#bind.port): Promise<{ url: string }> {
    this.#server.listen(port, this.#bind.host)
    await once(this.#server, 'listening')
    const address = this.#server.address() as AddressInfo
    const host = address.address.includes(':') ? `[${address.address}]` : address.address
    return { url: `http://${host}:${address.port}/admin` }
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return
    const closed = once(this.#server, 'close')
    this.#server.close()
    this.#server.closeAllConnections()
    await closed
  }
}

/** The origin `public_url` names, which the admin routes take as their own (a TLS proxy's). */
function publicOriginOfConfig(config: { public_url?: string | undefined }): string | undefined {
  return config.public_url === undefined ? undefined : new URL(config.public_url).origin
}
