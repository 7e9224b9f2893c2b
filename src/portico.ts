/**
 * createPortico(config): the composition root. Builds the runtime (upstream client, event bus
 * and sinks, the chain of middleware, the mode's terminal and routes) once from the validated
 * config, and returns something to listen with, to embed (`handler`), and to close gracefully.
 */

import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Authenticator } from './auth/authenticator.ts'
import { type Security, securityFromConfig } from './auth/setup.ts'
import { adminPrefix } from './config/gateway.ts'
import { parseConfigObject } from './config/load.ts'
import { adminTokenOf } from './config/operate.ts'
import { upstreamOrigins } from './config/origins.ts'
import { proxyName } from './config/proxy-name.ts'
import type { Config, ConfigInput } from './config/schema.ts'
import type { ProxyContext } from './context.ts'
import { reloadableCsp } from './csp/setup.ts'
import type { RotatableCredential } from './edge/admin-token.ts'
import { answeringOn, answerParserRefusals } from './edge/client-error.ts'
import { isIdleListener } from './edge/exchange.ts'
import { type HttpFilter, hostFilter, originFilter } from './edge/filters.ts'
import { hostCheck } from './edge/host.ts'
import type { Mode, Readiness } from './edge/mode.ts'
import type { ReloadOutcome, ReloadPart, ReloadSource } from './edge/reload.ts'
import {
  createRouter,
  type Filters,
  type Mount,
  type Operations,
  type RequestHandler,
} from './edge/router.ts'
import { PorticoError } from './errors.ts'
import type { Gateway } from './gateway/gateway.ts'
import type { gatewayMode } from './gateway/mode.ts'
import { markArrival } from './http/arrival.ts'
import { isLocalPeer } from './http/client-address.ts'
import { refuseConnect } from './http/connect-method.ts'
import { continueWithin, refuseExpectations } from './http/expect-continue.ts'
import { closeWithConnection } from './http/pipelined.ts'
import { SendWatch } from './http/send-timeout.ts'
import { TCP_KEEPALIVE } from './http/tcp-keepalive.ts'
import { isObject } from './jsonrpc/message.ts'
import type { SharedMetrics } from './metrics/metrics.ts'
import { globalChain } from './middleware/chain.ts'
import { checkedUserMiddleware, checkFunctions, checkSinks } from './middleware/user.ts'
import { EventBus, type Sink } from './observe/bus.ts'
import { Logger } from './observe/logger.ts'
import { StatusBoard } from './observe/status.ts'
import { stderrSink } from './observe/stderr-sink.ts'
import { preflightWarnings } from './operate/preflight.ts'
import { Operate } from './operate/setup.ts'
import { answering, compose, type Handler, type Middleware } from './pipeline/compose.ts'
import { type Identity, identityOf } from './pipeline/identity.ts'
import type { ResponseRewriter } from './pipeline/rewriter.ts'
import { type GatewayPasses, globalRateLimit } from './protect/rate-limit.ts'
import { sharedStoreOf } from './protect/redis-store.ts'
import { transparentMode } from './transparent/mode.ts'
import { HttpClient } from './upstream/http-client.ts'
import { type Clock, systemClock } from './util/clock.ts'
import { OpenList } from './util/open-list.ts'
import { doneOrAfter, within } from './util/within.ts'
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
  /** Hot reload: the file to watch and how to load it again (same flags and env). */
  reload?: ReloadSource
  /** Time for the traffic-protection policies (tests drive a hand-made clock). */
  clock?: Clock
  /**
   * Set by `portico run` in each worker of a cluster (`workers` > 1): the worker's slot, sent
   * as the `portico-worker` response header, and the metrics every process shares.
   */
  worker?: { slot: number; metrics?: SharedMetrics }
  /**
   * Gateway mode's builder, needed for a config with `backends`. The library's `createPortico`
   * (src/index.ts) passes it; `portico run` imports it only for such a config: its modules are
   * about 2 MB of a transparent proxy's memory at rest (bench/reports/2026-12-01-perf2.md).
   */
  gatewayMode?: typeof gatewayMode
}

/**
 * Ports to listen on instead of the config's: a cluster's worker started again listens where
 * its siblings do (see cluster/primary.ts, `port = 0`).
 */
export interface ListenAt {
  port: number
  /** The admin API's own listener (`admin_bind`). */
  adminPort?: number
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
  listen(at?: ListenAt): Promise<ListenResult>
  /** Whether the upstream(s) answer (what `/readyz` says), with the details. */
  readiness(): Promise<Readiness>
  /**
   * Reads the config file again and applies it as a hot reload does (SIGHUP): how it ended,
   * or undefined when this Portico has nothing to reload (no config file).
   */
  reloadConfig(): Promise<ReloadOutcome | undefined>
  /** Stops accepting, lets in-flight exchanges finish up to `drain_timeout`, flushes sinks. */
  close(): Promise<void>
}

/**
 * What `createPortico` needs beside the config for this one: gateway mode's builder for a config
 * with `backends`, imported then and only then (see `PorticoOptions.gatewayMode`).
 */
export async function modeOptionsFor(config: Config): Promise<Pick<PorticoOptions, 'gatewayMode'>> {
  if ((config.backends?.length ?? 0) === 0) return {}
  const { gatewayMode } = await import('./gateway/mode.ts')
  return { gatewayMode }
}

/** An embedding application's options, checked before anything is built (middleware/user.ts). */
function checkOptions(options: PorticoOptions): void {
  checkFunctions(options.middleware, 'middleware')
  checkFunctions(options.upstreamMiddleware, 'upstreamMiddleware')
  checkFunctions(options.filters, 'filters')
  checkSinks(options.sinks)
}

export function createPortico(input: Config | ConfigInput, options: PorticoOptions = {}): Portico {
  checkOptions(options)
  const config = parseConfigObject(input)
  const gatewayMode_ = (config.backends?.length ?? 0) > 0
  if (!config.upstream && !gatewayMode_) {
    throw new Error('createPortico: `upstream` (or `backends`) is required')
  }
  const logger = options.logger ?? new Logger({ level: config.log_level, json: config.json_logs })
  // The same warnings `portico check` prints (operate/preflight.ts): one list, so they agree.
  for (const warning of preflightWarnings(config)) logger.warn(warning)
  const bus = new EventBus({
    onSinkError: (sink, error) =>
      logger.warn('event sink failed', { sink: sink.name, error: String(error) }),
  })
  // Failures are logged at warn even with the access log off (stderr-sink.ts).
  // The access line is on for a terminal, and for JSON logs (a container's or a service's
  // stderr goes to a collector); `access_log` decides when set.
  const accessLog = config.access_log ?? (config.json_logs || process.stderr.isTTY === true)
  bus.addSink(stderrSink(logger, { accessLog }))
  for (const sink of options.sinks ?? []) bus.addSink(sink)
  const operate = new Operate({
    config,
    logger,
    proxy: proxyName(config),
    ...(options.worker?.metrics ? { sharedMetrics: options.worker.metrics } : {}),
    ...(options.worker ? { workerSlot: String(options.worker.slot) } : {}),
    ...(options.reload
      ? {
          configFile: options.reload.file,
          ...(options.reload.overrides ? { configOverrides: options.reload.overrides } : {}),
        }
      : {}),
  })
  for (const sink of operate.sinks) bus.addSink(sink)
  const http = new HttpClient({
    connectTimeoutMs: config.connect_timeout,
    headersTimeoutMs: config.request_timeout,
  })
  http.allowOrigins(upstreamOrigins(config))
  const status = new StatusBoard()
  // Counts read from policies a reload or an admin change replaces are read around the swap.
  const metrics = operate.metrics
  if (metrics !== undefined) status.watchSwaps(() => metrics.readCounts())
  const shared = sharedStoreOf(config.shared, logger)
  // Built before the mode: a hot reload (either mode's) applies a changed [csp] policy too.
  // Backends added over the admin API count as the widgets' own servers too (read when used).
  const csp = reloadableCsp(config, () => gateway?.addedBackendUrls() ?? [])
  const rewriters = [...csp.rewriters, ...(options.rewriters ?? [])]
  // What answers outside a call's chain pass (a GET stream's replay, the legacy SSE stream):
  // the chain's rewriters, then the roles' list filter once the security is built below.
  const outsideRewriters: ResponseRewriter[] = [...rewriters]
  const context: ProxyContext = {
    config,
    proxy: proxyName(config),
    http,
    bus,
    logger,
    status,
    // Attempt spans sit innermost, so each retry or hedge above them is its own span.
    attemptMiddleware: operate.upstreamMiddleware,
    ...(shared ? { shared } : {}),
    rewriters: outsideRewriters,
  }
  const clock = options.clock ?? systemClock
  const upstreamMiddleware = checkedUserMiddleware(
    options.upstreamMiddleware ?? [],
    'upstreamMiddleware',
  )
  const sendWatch = new SendWatch({
    timeoutMs: config.send_timeout,
    onCut: (socket, stalledMs) =>
      logger.warn('closed the connection of a client that took nothing for send_timeout', {
        client: socket.remoteAddress,
        ms: Math.round(stalledMs),
      }),
  })
  const reload = options.reload && {
    ...options.reload,
    parts: [
      csp.reload,
      clientTimeoutReload(http),
      sendTimeoutReload(sendWatch),
      // Built below, after the mode (the gateway names what roles judge); read at each reload.
      keysReload(
        () => security?.authenticator,
        (admits) => server.endStreamsNotAdmitted(admits, 'opened with a key the reload revoked'),
      ),
      adminTokenReload(operate.adminCredential),
    ],
  }
  let mode: Mode
  let gateway: Gateway | undefined
  if (gatewayMode_) {
    if (options.gatewayMode === undefined) {
      throw new Error(
        'createPortico: a config with `backends` needs gateway mode: import createPortico from the package entry (src/index.ts)',
      )
    }
    const built = options.gatewayMode(context, reload, upstreamMiddleware, clock)
    gateway = built.gateway
    mode = built
  } else {
    mode = transparentMode(context, config.upstream as string, upstreamMiddleware, clock, reload)
  }
  const rateLimit =
    config.proxy.rate_limit &&
    globalRateLimit(
      config.proxy.rate_limit,
      clock,
      shared,
      gateway && gatewayPasses(gateway, `${adminPrefix(config.proxy.separator)}call_tool`),
    )
  const security = securityFromConfig(
    config,
    logger,
    context.proxy,
    gateway && {
      itemNames: (kind, name) => gateway?.itemNames(kind, name),
      resourceNames: (uri) => gateway?.resourceNames(uri),
      canonicalUri: (uri) => gateway?.canonicalUri(uri),
    },
  )
  if (security?.listFilter !== undefined) outsideRewriters.push(security.listFilter)
  const middleware = globalChain({
    observe: operate.middleware,
    security: security?.middleware ?? [],
    user: checkedUserMiddleware(options.middleware ?? [], 'middleware'),
    protect: rateLimit ? [rateLimit] : [],
    rewriters,
  })
  const handle = answering(compose(middleware, mode.terminal), (error, call) =>
    logger.error('call failed', { method: call.method, error: String(error) }),
  )
  const user = options.filters ?? []
  const filters = filtersOf(config, security?.filters ?? [], user)
  const server = new PorticoServer(context, mode, handle, filters, security, operate, sendWatch)
  if (options.worker) server.workerSlot = String(options.worker.slot)
  server.mount(
    operate.attach({
      context,
      ...(gateway ? { gateway } : {}),
      readiness: () => mode.readiness(true),
      ...(mode.reloadRefusal ? { reloadRefusal: mode.reloadRefusal } : {}),
      ...(mode.runningConfig ? { runningConfig: mode.runningConfig } : {}),
      bus,
      sinks: [...(options.sinks ?? []), ...operate.sinks],
      status,
      exchangesInFlight: () => server.inFlight,
      probes: server.probes,
      filters: user,
      addressFilters: security?.addressFilters ?? [],
      ...(security?.authenticator ? { authFilters: security.filters } : {}),
    }),
  )
  return server
}

/**
 * A reload that changes the static keys (`[auth] tokens`, `api_keys`, `[security]
 * admin_token`) and nothing else of authentication puts the new set in force for the next
 * request: a leaked key is revoked, or a new one added, without a restart (nginx reloads its
 * `auth_basic_user_file` the same way). Requests already admitted finish; a stream that only
 * listens (a GET stream, a legacy SSE session's) opened with a revoked key is ended then, as it
 * could carry the server's messages to whoever holds the key for hours; the key's next request
 * is refused. Any other change to `[auth]` or `[security]` still refuses
 * the whole reload (edge/reload.ts `securityOf`).
 */
function keysReload(
  authenticator: () => Authenticator | undefined,
  endStreams: (admits: (identity: Identity) => boolean) => void,
): ReloadPart {
  return {
    // Inside `[auth]` and `[security]`, whose own rule judges them: no top-level key of its own.
    keys: [],
    fixed: () => [],
    prepare(next) {
      const target = authenticator()
      if (target === undefined) return () => {}
      const apply = target.prepareKeys(next)
      return () => {
        apply()
        endStreams((identity) => target.stillAdmits(identity))
      }
    },
    changed: keyChanges,
  }
}

/** Which key lists changed, by name (never a key): `auth.api_keys`, … */
function keyChanges(running: Config, next: Config): string[] {
  const changes: string[] = []
  const differ = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b)
  if (differ(running.auth?.tokens, next.auth?.tokens)) changes.push('auth.tokens')
  if (differ(running.auth?.api_keys, next.auth?.api_keys)) changes.push('auth.api_keys')
  if (differ(running.security?.admin_token, next.security?.admin_token)) {
    changes.push('security.admin_token')
  }
  return changes
}

/**
 * The admin token (`[security] admin_token`, or `[admin] token`) guards the admin API,
 * `/metrics` and the dashboard as well as the admin tools: a reload that rotates it puts the new
 * one in force there too, and the old one is refused from the next request. Adding or removing
 * it is refused (edge/reload.ts `securityOf`): whether there is one decides how those routes are
 * guarded.
 */
function adminTokenReload(credential: RotatableCredential): ReloadPart {
  return {
    // `[security]` has its own rule (securityOf); `[admin]` stays fixed but for its token.
    keys: ['admin'],
    fixed: (running, next) =>
      JSON.stringify({ ...running.admin, token: undefined }) !==
        JSON.stringify({ ...next.admin, token: undefined }) ||
      (running.admin.token === undefined) !== (next.admin.token === undefined)
        ? ['admin']
        : [],
    prepare(next) {
      const token = adminTokenOf(next)
      return () => {
        if (token !== undefined && credential.configured) credential.rotate(token)
      }
    },
    changed: (running, next) => (running.admin.token !== next.admin.token ? ['admin.token'] : []),
  }
}

/**
 * `request_timeout` is also the shared HTTP client's deadline for requests that carry none of
 * their own (forwarded non-MCP traffic, GET streams): a reload that changes it sets that too,
 * or those would keep the start's.
 */
function clientTimeoutReload(http: HttpClient): ReloadPart {
  return {
    keys: ['request_timeout'],
    fixed: () => [],
    prepare: (next) => () => http.setHeadersTimeout(next.request_timeout),
  }
}

/**
 * What the global rate limit lets through in gateway mode: search mode's `call_tool` (judged by
 * the tool it names), and a stateless retry resuming a parked call, directly or through
 * `call_tool` (matched by the tool it names).
 */
function gatewayPasses(gateway: Gateway, callTool: string): GatewayPasses {
  return {
    callTool,
    resumes: (call) => {
      if (call.target?.name !== callTool) return gateway.inputs.resumes(call)
      const params = 'params' in call.message ? call.message.params : undefined
      const args = isObject(params) ? params.arguments : undefined
      const named = isObject(args) && typeof args.name === 'string' ? args.name : undefined
      return named !== undefined && gateway.inputs.resumes(call, named)
    },
    toolNames: (name) => gateway.itemNames('tool', name),
  }
}

/** `send_timeout` applies to the next sweep of a reload that changes it. */
function sendTimeoutReload(watch: SendWatch): ReloadPart {
  return {
    keys: ['send_timeout'],
    fixed: () => [],
    prepare: (next) => () => watch.setTimeout(next.send_timeout),
  }
}

/**
 * Portico's own HTTP filters (Host, Origin, then client address rules and authentication),
 * then the embedding application's.
 */
function filtersOf(
  config: Config,
  guards: readonly HttpFilter[],
  user: readonly HttpFilter[],
): Filters {
  const host = hostFilter({
    listen: config.host,
    allowed: config.allowed_hosts,
    ...(config.public_url ? { publicUrl: config.public_url } : {}),
  })
  const hosts = [host]
  return {
    mcp: [...hosts, originFilter(config.allowed_origins), ...guards, ...user],
    other: [
      ...hosts,
      originFilter(config.allowed_origins, { unsafeOnly: true }),
      ...guards,
      ...user,
    ],
  }
}

/** Whether `host` is one of the listener's names (edge/host.ts; any, where none are checked). */
function listenerNamed(config: Config, host: string | undefined): boolean {
  const check = hostCheck({
    listen: config.host,
    allowed: config.allowed_hosts,
    ...(config.public_url ? { publicUrl: config.public_url } : {}),
  })
  return check === undefined || check(host)
}

/**
 * Client connection bounds: slow headers (slowloris) and dripped bodies are cut off, idle
 * keep-alive connections closed; checked every second (Node's default is every 30 s).
 */
function serverOptions(config: Config) {
  return {
    maxHeaderSize: config.max_header_size,
    headersTimeout: config.client_header_timeout,
    requestTimeout: Math.max(config.client_request_timeout, config.client_header_timeout),
    keepAliveTimeout: config.keepalive_timeout,
    connectionsCheckingInterval: 1000,
    ...TCP_KEEPALIVE,
  }
}

/** See the request handler: errors of an answer already ended or destroyed. */
function ignoreAnswerError(): void {}

/**
 * How long, once the drain's deadline cut the calls still running, their handlers get to end and
 * record them (an aborted upstream request settles within a turn or two; a stdio child's
 * cancellation may take longer, and the stop must not wait for it).
 */
const CUT_CALLS_GRACE_MS = 1000
/** How long a stop waits for the gateway's backends to take the cancels of the calls it cut. */
const CUT_NOTICE_MS = 500

/** How often a drain looks again for streams whose calls are all answered. */
const DRAIN_RECHECK_MS = 100
/**
 * How often listening streams are checked for an expired token: a stream outlives its token
 * by at most this (the clock tolerance aside), for a walk over the open answers.
 */
const EXPIRY_SWEEP_MS = 1000

const CUT_MESSAGE =
  'Portico is shutting down: the call was still running at the end of drain_timeout'

class PorticoServer implements Portico {
  readonly handler: RequestHandler
  readonly #context: ProxyContext
  readonly #mode: Mode
  readonly #operate: Operate
  readonly #mounts: Mount[] = []
  #server: Server | undefined
  #adminUrl: string | undefined
  #serving = true
  #listenCalled = false
  #closing: Promise<void> | undefined
  #inFlight = 0
  /** Answers in progress, so a drain can end the idle streams among them (why a list: OpenList). */
  readonly #open = new OpenList<ServerResponse>()
  #idle: (() => void) | undefined
  readonly #security: Security | undefined
  /**
   * Ends listening streams whose token expired (`#sweepExpiredStreams`). This and the send
   * watch run from the start, not from `listen`: an embedder may serve `handler` from its own
   * server and never call `listen` (its streams outlived their tokens).
   */
  #expirySweep: NodeJS.Timeout | undefined
  /** Cuts clients that stop reading their answers (`send_timeout`). */
  readonly #sendWatch: SendWatch
  /** In a cluster: this worker's slot, named on every answer (`portico-worker`). */
  workerSlot: string | undefined
  /** What the probes answer from (the admin listener serves them too). */
  readonly probes: Operations

  constructor(
    context: ProxyContext,
    mode: Mode,
    handle: Handler,
    filters: Filters,
    security: Security | undefined,
    operate: Operate,
    sendWatch: SendWatch,
  ) {
    this.#context = context
    this.#sendWatch = sendWatch
    this.#mode = mode
    this.#security = security
    this.#operate = operate
    this.probes = {
      isServing: () => this.#serving,
      isReady: async (detailed) => mode.readiness(detailed),
      // The local admin surface: a loopback client, not everyone behind a same-host proxy, and
      // asking by one of the listener's names: a DNS-rebinding page's request comes from the
      // browser's loopback peer under its own name (the probe answers it, without details).
      isLocal: (req) =>
        (security?.isLocal ?? isLocalPeer)(req) && listenerNamed(context.config, req.headers.host),
      filters: security?.probeFilters ?? [],
      version: VERSION,
    }
    const route = createRouter(context, mode.routes(handle), filters, this.probes, {
      // The same array `mount` adds to: mounts are attached after the server is built.
      mounts: this.#mounts,
      ...(security === undefined
        ? {}
        : {
            publicRoutes: security.routes,
            publicFilters: security.addressFilters,
            mcpPaths: security.mcpPaths,
          }),
    })
    this.#sendWatch.start(() => this.#open.items())
    this.#expirySweep = this.#sweepExpiredStreams()
    this.handler = (req: IncomingMessage, res: ServerResponse) => {
      markArrival(req)
      // Draining: every answer closes its connection, so clients reconnect elsewhere (closing
      // idle keep-alive connections at once would race with a request already on its way).
      if (!this.#serving) res.setHeader('connection', 'close')
      if (this.workerSlot !== undefined) res.setHeader('portico-worker', this.workerSlot)
      this.#inFlight++
      const open = this.#open.add(res)
      const answering = answeringOn(req.socket)
      answering.add(res)
      res.once('close', () => {
        open.remove()
        answering.delete(res)
        this.#onClose()
      })
      // A write after the answer ended (a timer racing an end) is a bug to fix, not a reason
      // to stop serving everyone: without a listener Node makes it an uncaught exception.
      res.on('error', ignoreAnswerError)
      closeWithConnection(req, res)
      route(req, res)
    }
  }

  async readiness(): Promise<Readiness> {
    return this.#mode.readiness(true)
  }

  reloadConfig(): Promise<ReloadOutcome | undefined> {
    return this.#mode.reloadConfig?.() ?? Promise.resolve(undefined)
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

  async listen(at?: ListenAt): Promise<ListenResult> {
    // One listener per Portico: a second would be forgotten by close() (and keep the process
    // alive), one after close() could never be closed.
    if (!this.#serving) {
      throw new Error('listen() after close(): create another Portico to listen again')
    }
    if (this.#listenCalled) {
      throw new Error('listen() was called already: a Portico listens once')
    }
    this.#listenCalled = true
    try {
      return await this.#listen(at)
    } catch (error) {
      // A port in use: the caller may try another.
      this.#listenCalled = false
      throw error
    }
  }

  async #listen(at?: ListenAt): Promise<ListenResult> {
    const { host } = this.#context.config
    const port = at?.port ?? this.#context.config.port
    // Issuer discovery first: a Portico that cannot verify tokens must not start serving.
    await this.#security?.ready()
    // Shared state is optional: waited for briefly, so the first calls find it connected.
    await this.#context.shared?.connected()
    const server = createServer(serverOptions(this.#context.config), this.handler)
    server.maxConnections = this.#context.config.max_connections
    const logger = this.#context.logger
    answerParserRefusals(server, logger, this.workerSlot)
    continueWithin(server, () => this.#context.config.max_request_body_size, this.handler)
    refuseExpectations(server, this.workerSlot)
    refuseConnect(server, this.workerSlot)
    server.listen(port, host)
    await once(server, 'listening')
    this.#server = server
    const address = server.address() as AddressInfo
    const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address
    const url = `http://${shownHost}:${address.port}${this.#context.config.mcp_path}`
    const admin = await this.#operate.listen(at?.adminPort).catch((error: unknown) => {
      server.close()
      this.#server = undefined
      throw error
    })
    this.#adminUrl = admin?.url
    this.#security?.listening(url)
    return {
      host: address.address,
      port: address.port,
      url,
      ...(admin ? { admin: admin.url } : {}),
    }
  }

  /**
   * Drains, then stops: health probes answer 503 `draining` and new requests 503
   * `shutting_down` while the listener stays open for them; idle streams (GET SSE listeners)
   * end at once; in-flight calls finish up to `drain_timeout`.
   */
  close(): Promise<void> {
    // A second close() (concurrent or later) resolves when the first is done, not before.
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#serving = false
    const server = this.#server
    this.#endIdleStreams()
    await this.#drain(this.#context.config.drain_timeout)
    await this.#cutCalls()
    // The admin listener outlives the drain, so operators can watch it.
    await this.#operate.closeAdmin()
    this.#sendWatch.stop()
    clearInterval(this.#expirySweep)
    server?.close()
    server?.closeAllConnections()
    try {
      await this.#mode.close()
      // The calls just cut, and the streams the mode just closed, end and record themselves
      // before the recorder closes: a call cut by the drain's end is kept (bounded wait).
      await this.#context.bus.settled(CUT_CALLS_GRACE_MS)
      // The sinks' last batches and the tracer's last spans go out side by side: each may wait
      // for its receiver (5 s at most), and one after the other a shutdown took their sum.
      await Promise.all([this.#context.bus.close(), this.#operate.close()])
    } finally {
      await this.#context.http.destroy()
      await this.#context.shared?.close()
    }
  }

  /**
   * Ends the streams that listen for server messages whose caller would not be admitted now (a
   * reload revoked their key, their token expired): the client's next request is refused, or
   * verified again with a fresh token. Returns how many. A legacy SSE session's stream that
   * still owes answers to calls admitted before is left until they are written (requests
   * already admitted finish); the sweep, which judges both, ends it within a second after.
   */
  endStreamsNotAdmitted(admits: (identity: Identity) => boolean, why: string): number {
    let ended = 0
    for (const res of this.#open.items()) {
      const identity = isIdleListener(res) ? identityOf(res.req) : undefined
      if (identity === undefined || admits(identity) || res.writableEnded) continue
      res.end()
      ended++
    }
    if (ended > 0) this.#context.logger.info(`ended streams ${why}`, { streams: ended })
    return ended
  }

  /**
   * Checks the listening streams every EXPIRY_SWEEP_MS for a caller whose token expired: such a
   * stream went on carrying the server's messages for as long as the connection lasted, hours
   * past the token's life; and for one whose key a reload revoked while it still carried
   * answers. Undefined without authentication.
   */
  #sweepExpiredStreams(): NodeJS.Timeout | undefined {
    const authenticator = this.#security?.authenticator
    if (authenticator === undefined) return undefined
    const timer = setInterval(() => {
      const now = Date.now()
      this.endStreamsNotAdmitted(
        (identity) => !authenticator.hasExpired(identity, now),
        'whose token expired',
      )
      // A revoked key's stream that was still carrying answers when the reload came.
      this.endStreamsNotAdmitted(
        (identity) => authenticator.stillAdmits(identity, now),
        'opened with a key the reload revoked',
      )
    }, EXPIRY_SWEEP_MS)
    timer.unref()
    return timer
  }

  /**
   * Streams that listen for server messages end once nothing of theirs is in flight: at once,
   * but a legacy session's stream when its calls' answers are written.
   */
  #endIdleStreams(): void {
    for (const res of this.#open.items()) if (isIdleListener(res)) res.end()
  }

  /**
   * Waits for the answers in progress, up to `timeoutMs`; streams that carry calls' answers are
   * looked at again as those calls end (the check is the drain's alone, never the traffic's).
   */
  async #drain(timeoutMs: number): Promise<void> {
    if (this.#inFlight === 0) return
    const wait = doneOrAfter(timeoutMs)
    this.#idle = wait.done
    const recheck = setInterval(() => this.#endIdleStreams(), DRAIN_RECHECK_MS)
    try {
      await wait.promise
    } finally {
      clearInterval(recheck)
    }
  }

  /**
   * The drain's deadline passed with calls still running: their upstream requests end with
   * `shutting_down`, so each call still gets an answer with its id (an error event on an SSE
   * answer, a 503 on one not started) before the connections close; cut without it, an SSE
   * client whose stream ended with no answer waited for its own timeout. Bounded.
   */
  async #cutCalls(): Promise<void> {
    if (this.#inFlight === 0) return
    const wait = doneOrAfter(CUT_CALLS_GRACE_MS)
    this.#idle = wait.done
    const error = new PorticoError('shutting_down', { message: CUT_MESSAGE })
    // The gateway's cancels to HTTP backends go through the pools the cut below destroys: they
    // are sent first (bounded: a backend that does not take them is not waited for).
    await within(CUT_NOTICE_MS, this.#mode.cut?.(error) ?? Promise.resolve()).catch(() => {})
    await this.#context.http.cut(error)
    await wait.promise
  }
}
