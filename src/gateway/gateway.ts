/**
 * The gateway runtime: the live set of backends (replaced atomically on hot reload), client
 * sessions, routing of client-facing names and URIs to a backend, merged lists with the
 * gateway cursor and a bounded wait per backend, and merged capabilities.
 */

import {
  type BackendConfig,
  backendsSchema,
  compositeShadowedBy,
  type GatewayProxyConfig,
  namingProblems,
  resourceAliasProblems,
} from '../config/gateway.ts'
import { MAX_CONFIG_DEPTH } from '../config/load.ts'
import { nameRuleProblems } from '../config/name-rules.ts'
import { originsOf, upstreamOrigins } from '../config/origins.ts'
import { PROTECT_KEYS, protectOf, routingProblems } from '../config/protect.ts'
import type { Config } from '../config/schema.ts'
import { PorticoError } from '../errors.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from '../jsonrpc/message.ts'
import type { Logger } from '../observe/logger.ts'
import type { StatusBoard } from '../observe/status.ts'
import { type Call, withMessage } from '../pipeline/call.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import { CallLifetime } from '../pipeline/lifetime.ts'
import { MessageReply } from '../pipeline/reply.ts'
import { CallController, type SignalLike } from '../pipeline/signal.ts'
import { answerIdentity } from '../protect/identity.ts'
import { OutlierGroup } from '../protect/outlier.ts'
import { UpstreamProtection } from '../protect/policies.ts'
import type { RedisStore } from '../protect/redis-store.ts'
import { paramHeaderMismatch } from '../protocol/param-headers.ts'
import { resolvedUris } from '../protocol/resource-uri.ts'
import type { HttpClient } from '../upstream/http-client.ts'
import { type Clock, systemClock } from '../util/clock.ts'
import { clipped } from '../util/format.ts'
import { nestedDeeperThan } from '../util/json-depth.ts'
import { KeyedThrottle } from '../util/keyed-throttle.ts'
import { lookupTable } from '../util/lookup-table.ts'
import { within } from '../util/within.ts'
import {
  answerUnrouted,
  type Backend,
  type BackendCall,
  type BackendDeps,
  gatewaySession,
  type SessionRef,
} from './backends/backend.ts'
import type { Connection, ServerInfo } from './backends/connection.ts'
import { HttpBackend } from './backends/http-backend.ts'
import { StdioBackend } from './backends/stdio.ts'
import { BackendCatalog, type ItemKind } from './catalog.ts'
import { keepWellFormed } from './item-shape.ts'
import { ListCache } from './list-cache.ts'
import {
  type BackendInfo,
  type BackendPage,
  decodeCursor,
  invalidCursor,
  type ListMethod,
  mergeCapabilities,
  mergeInstructions,
  mergePages,
} from './merge.ts'
import { InputBridge } from './mrtr.ts'
import { looksShortened } from './names.ts'
import { Routing } from './routing.ts'
import { LIST_CHANGED_WINDOW_MS, type NotificationObserver, SessionStore } from './sessions.ts'

export interface GatewayDeps {
  logger: Logger
  http: HttpClient
  /** Told of backend notifications worth recording (resource updates, list changes). */
  observe?: NotificationObserver
  /** Middleware of every backend's per-upstream chain (library mode). */
  upstreamMiddleware?: readonly Middleware[]
  /** Per-attempt observers (tracing), innermost in every backend's chain. */
  attemptMiddleware?: readonly Middleware[]
  /** Time for the traffic-protection policies (tests drive it). */
  clock?: Clock
  /** `[shared]`: the Redis the backends' caches and rate limits share with other replicas. */
  shared?: RedisStore | undefined
  /** Where the backends' policies report: told when a change swaps them (`swapping`). */
  status?: Pick<StatusBoard, 'swapping'>
}

export interface Route {
  backend: Backend
  /** The backend's own name or URI. */
  local: string
}

/** A backend turning healthy or unhealthy (`/admin/backends/{name}/health/history`). */
export interface HealthTransition {
  backend: string
  healthy: boolean
  /** ISO time of the change. */
  at: string
}

/** Health transitions kept per backend (mcp-proxy keeps the last 100). */
const HISTORY = 100
/**
 * Backends whose histories are kept: those of removed backends go first past it (backends
 * added and removed at runtime under new names must not grow the table for ever).
 */
const HISTORIES = 1000
/** Backends coming up within this long of each other are announced to clients once. */
const ANNOUNCE_DEBOUNCE_MS = 100
const LIST_CHANGED_NOTICES = [
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]

/** Pages of a backend's tools/list read to learn one tool's annotations. */
const MAX_LOOKUP_PAGES = 50

export class Gateway {
  readonly sessions: SessionStore
  /** Parked calls of stateless clients waiting for their `input_required` answers. */
  readonly inputs = new InputBridge()
  readonly #deps: GatewayDeps
  #config: Config
  #backends = new Map<string, Backend>()
  /** Failover, canary and mirror roles (routing.ts), rebuilt with the backend map. */
  #routing: Routing = new Routing([])
  /** Ejection groups by failover group, kept across reloads. */
  readonly #groups = new Map<string, OutlierGroup>()
  readonly #closers: Array<() => void> = []
  readonly #listeners = new Set<Listener>()
  /** Exposed resource URI → how many listen streams want its updates, and its subscription. */
  readonly #watched = new Map<string, Watch>()
  /** Backends added at runtime (admin API, admin tool): kept when the file is reloaded. */
  readonly #added = new Map<string, BackendConfig>()
  /** The last change to the backends, settled or not (`#oneAtATime`). */
  #changing: Promise<unknown> = Promise.resolve()
  /** Backends a reload replaced or removed, finishing their calls before they close. */
  readonly #retiring = new Set<Backend>()
  /** Last health per backend, and the ring of transitions. */
  readonly #healthy = new Map<string, boolean>()
  /** Each backend's own last HISTORY transitions: one busy backend cannot push out the others'. */
  readonly #history = new Map<string, HealthTransition[]>()
  #announceTimer: NodeJS.Timeout | undefined
  /** Malformed list items already logged (each once). */
  readonly #itemsReported = new Set<string>()
  /** Backends down or failed since they were last up: their recovery is announced. */
  readonly #recovering = new Set<string>()
  /** Backends a merged list went out without (failed, or still starting at `list_timeout`). */
  readonly #leftOut = new Set<string>()
  /**
   * List pages being fetched, by backend and cache key: a caller asking for one already on its
   * way waits for it. Without this, ten clients listing a backend of 100,000 tools at once had
   * it fetched, parsed and checked ten times (pages over the cache's bound are never kept),
   * holding every other client's calls for seconds. Bounded by the pages in flight.
   */
  readonly #pagesInFlight = new Map<string, Promise<BackendPage>>()
  /** Bumped whenever the backends' tools may have changed (reload, list_changed). */
  #toolsVersion = 0
  /**
   * The whole global chain (set by the mode once composed): calls the gateway makes on a
   * client's behalf (search mode's `call_tool`) pass the same middleware as direct calls.
   */
  reenter: Handler | undefined
  /**
   * The config file as last read and applied (reload.ts): what a reload compares the file
   * with, apart from anything an embedding application set in code (a port, a logger).
   */
  fileConfig: Config
  /** The gateway's own backend session: stateless calls, capabilities, listen streams. */
  readonly session: SessionRef = gatewaySession((backend, message, from) =>
    this.#deliver(backend, message, from),
  )

  constructor(config: Config, deps: GatewayDeps) {
    this.#config = config
    this.fileConfig = config
    this.#deps = deps
    this.sessions = new SessionStore({
      ttlMs: config.proxy.session_ttl,
      max: config.proxy.max_sessions,
      perClient: config.proxy.max_sessions_per_client,
      onClose: (session) => {
        for (const backend of this.#backends.values()) backend.release(session.key)
      },
    })
    for (const backendConfig of config.backends ?? []) {
      this.#backends.set(backendConfig.name, this.#create(backendConfig))
    }
    this.#reroute()
    for (const backend of this.#backends.values()) {
      if (backend.config.start === 'eager') backend.start()
    }
  }

  /** Where sessions report the backend notifications they deliver (see GatewayDeps). */
  get observe(): NotificationObserver | undefined {
    return this.#deps.observe
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

  get logger(): Logger {
    return this.#deps.logger
  }

  get routing(): Routing {
    return this.#routing
  }

  /** Backends serving their own names (not failover, canary or mirror backends). */
  #visible(): Backend[] {
    return this.backends().filter((backend) => !this.#routing.hidden(backend.name))
  }

  /**
   * Rebuilds the routing roles and the ejection groups' sizes from the backend map, and forgets
   * what it kept of backends and groups no longer in it: backends added and removed under new
   * names (an admin API, per-deploy names) left a group and a health entry each, for ever. A
   * retiring backend keeps the group it holds; a backend added later under that name starts
   * a group of its own.
   */
  #reroute(): void {
    this.#routing = new Routing(this.backends())
    const sizes = new Map<string, number>()
    for (const backend of this.#backends.values()) {
      const key = this.#routing.groupOf(backend.name, backend.config)
      sizes.set(key, (sizes.get(key) ?? 0) + 1)
    }
    for (const [key, group] of this.#groups) {
      const size = sizes.get(key)
      if (size === undefined) this.#groups.delete(key)
      else group.size = size
    }
    for (const [name, healthy] of this.#healthy) {
      if (this.#backends.has(name)) continue
      // Removed: it serves no more, said as a transition, so that the history of a name
      // removed and added again alternates as a health history should.
      if (healthy) this.#recordTransition(name, false)
      this.#healthy.delete(name)
    }
    for (const name of this.#leftOut) if (!this.#backends.has(name)) this.#leftOut.delete(name)
  }

  /** A backend's protection: its own tables, else the top level's (protect.ts). */
  #protect(config: BackendConfig, previous?: UpstreamProtection): UpstreamProtection {
    const clock = this.#deps.clock ?? systemClock
    const key = this.#routing.groupOf(config.name, config)
    let group = this.#groups.get(key)
    if (group === undefined) {
      group = new OutlierGroup(clock)
      this.#groups.set(key, group)
    }
    group.size = (this.#config.backends ?? []).filter(
      (b) => (b.failover_for ?? b.canary_of ?? b.name) === key,
    ).length
    return new UpstreamProtection(config.name, protectOf(config, this.#config), {
      clock,
      logger: this.#deps.logger,
      coalesce: this.#config.performance.coalesce_requests,
      group,
      shared: this.#deps.shared,
      previous,
      // The backend's transport, not the client's: a legacy SSE backend's answers share a
      // stream, a Streamable HTTP one's do not, whichever way its client came.
      sharedAnswerStream: config.transport === 'sse',
    })
  }

  backend(name: string): Backend | undefined {
    return this.#backends.get(name)
  }

  #create(config: BackendConfig, previous?: UpstreamProtection): Backend {
    let backend: Backend | undefined
    const deps: BackendDeps = {
      logger: this.#deps.logger,
      http: this.#deps.http,
      separator: this.#config.proxy.separator,
      requestTimeoutMs: this.#config.request_timeout,
      maxMessageBytes: this.#config.max_response_body_size,
      listCacheTtlMs: this.#config.proxy.list_cache_ttl,
      gatewaySession: this.session,
      sessionTtlMs: this.#config.proxy.session_ttl,
      upstreamMiddleware: this.#deps.upstreamMiddleware ?? [],
      attemptMiddleware: this.#deps.attemptMiddleware ?? [],
      protect: (backendConfig) => this.#protect(backendConfig, previous),
      // Only the backend serving the name speaks for it: one a change replaced or removed,
      // closing, made the name's health "down" while its replacement served.
      onState: (name, state) => {
        if (this.#backends.get(name) === backend) this.#noteState(name, state)
      },
    }
    backend =
      config.transport === 'stdio' ? new StdioBackend(config, deps) : new HttpBackend(config, deps)
    return backend
  }

  /** The backend serving a client-facing tool or prompt name, with its own name. */
  routeName(kind: ItemKind, name: string): Route {
    // Longer than any name the gateway shows: refused before a filter pattern runs over it.
    if (name.length > MAX_ROUTED_NAME) throw unknown(kind, name)
    for (const backend of this.#backends.values()) {
      if (!backend.catalog.owns(name) || this.#routing.hidden(backend.name)) continue
      const local = backend.catalog.resolve(kind, name)
      if (local !== undefined) return { backend, local }
    }
    throw unknown(kind, name)
  }

  /**
   * Routes a tool or prompt name as `routeName`, knowing every shortened name first. A name too
   * long or with characters clients refuse is listed shortened (`…_1a2b3c4d`, names.ts), and
   * only a listing tells which backend name it stands for: a client calling it before any
   * listing since start (it kept the name from an earlier session) has the backend's list read
   * first (its pages, bounded; `checkAnnotations` reads the same way), instead of the shortened name being
   * sent to the backend as if it were its own.
   */
  async routeListed(
    kind: 'tool' | 'prompt',
    name: string,
    session: SessionRef,
    origin: Call,
  ): Promise<Route> {
    if (name.length <= MAX_ROUTED_NAME && looksShortened(name)) {
      for (const backend of this.#backends.values()) {
        if (this.#routing.hidden(backend.name)) continue
        if (!backend.catalog.mayBeUnreadShortName(kind, name)) continue
        await this.#readNames(backend, kind, session, origin)
      }
    }
    return this.routeName(kind, name)
  }

  /**
   * Reads a backend's tools or prompts list through (at most MAX_LOOKUP_PAGES pages a call), so
   * its catalog knows every shortened name and, for tools, every annotation verdict.
   */
  async #readNames(
    backend: Backend,
    kind: 'tool' | 'prompt',
    session: SessionRef,
    origin: Call,
  ): Promise<void> {
    const { catalog } = backend
    const capabilities = backend.info()?.capabilities
    // A backend without tools (prompts) has no names of that kind to read.
    if (
      capabilities !== undefined &&
      !isObject(capabilities[kind === 'tool' ? 'tools' : 'prompts'])
    ) {
      catalog.namesRead(kind)
      return
    }
    const method = kind === 'tool' ? 'tools/list' : 'prompts/list'
    // Each lookup reads at most MAX_LOOKUP_PAGES pages, on from where the last one stopped:
    // a longer list is read through over a few calls, and no call reads more than its share.
    let cursor = catalog.resumeAt(kind)
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const listed = await this.#page(backend, method, cursor, session, origin)
      const items = listed.result?.[kind === 'tool' ? 'tools' : 'prompts']
      if (Array.isArray(items)) {
        catalog.sawNames(kind, items)
        for (const item of items) {
          if (!isObject(item)) continue
          if (kind === 'tool') catalog.tool(item)
          else catalog.prompt(item)
        }
      }
      // Refused at the start (it lists nothing of this kind): read. A cursor refused (it
      // expired since the last lookup) or a failure to answer: read again from the start.
      if (listed.refused && cursor === undefined) break
      if (listed.error !== undefined) {
        catalog.pauseAt(kind, undefined)
        return
      }
      const next = listed.result?.nextCursor
      if (typeof next !== 'string') break
      cursor = next
      if (page === MAX_LOOKUP_PAGES - 1) {
        catalog.pauseAt(kind, next)
        return
      }
    }
    catalog.namesRead(kind)
  }

  /**
   * The names of what `name` routes to: `exposed`, the name clients see (an aliased tool's
   * original name routes to the alias's tool), and `original`, its namespaced own name; or
   * undefined when nothing routes it. Roles judge a call under both (auth/policy.ts).
   */
  itemNames(kind: ItemKind, name: string): { exposed: string; original: string } | undefined {
    try {
      const { backend, local } = this.routeName(kind, name)
      return {
        exposed: backend.catalog.exposedName(local, kind),
        original: backend.catalog.namespacedName(local),
      }
    } catch {
      return undefined
    }
  }

  /**
   * Refuses a tool call that `hide_destructive` / `read_only_only` filter out, as an unknown
   * tool, like the name filters. A tool not yet seen in a listing is looked up in the
   * backend's tools/list first (its pages, bounded), so a client that calls without listing
   * cannot slip past the filter; one the backend does not list is refused.
   */
  async checkAnnotations(
    route: Route,
    name: string,
    session: SessionRef,
    origin: Call,
  ): Promise<void> {
    const { catalog } = route.backend
    if (!catalog.filtersAnnotations) return
    if (this.#listsPerCaller(route.backend, session, origin)) {
      // What this caller's own listing says: its own process (`isolation = "session"`) or a
      // backend told who asks may list a tool otherwise than it did to another caller, and a
      // verdict shared across callers let one caller's read-only tool open another's
      // destructive one of the same name.
      const shown = await this.#ownVerdict(route.backend, route.local, session, origin)
      if (!shown) throw unknown('tool', name)
      return
    }
    if (catalog.annotationVerdict(route.local) === undefined) {
      await this.#readNames(route.backend, 'tool', session, origin)
    }
    if (catalog.annotationVerdict(route.local) !== true) throw unknown('tool', name)
  }

  /** Whether `backend` may list otherwise for this caller than for others (see `#page`). */
  #listsPerCaller(backend: Backend, session: SessionRef, origin: Call): boolean {
    return backend.listScope(session) !== '' || origin.identity !== undefined
  }

  /**
   * Whether the caller's own listing of `backend` (its view's pages, cached as lists are) has
   * `local` as a tool the annotation filters let through; false when it lists no such tool.
   */
  async #ownVerdict(
    backend: Backend,
    local: string,
    session: SessionRef,
    origin: Call,
  ): Promise<boolean> {
    let cursor: string | undefined
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const listed = await this.#page(backend, 'tools/list', cursor, session, origin)
      const tools = listed.result?.tools
      const tool = Array.isArray(tools)
        ? tools.find((item) => isObject(item) && item.name === local)
        : undefined
      if (isObject(tool)) return backend.catalog.annotationsShown(tool.annotations)
      const next = listed.result?.nextCursor
      if (listed.error !== undefined || typeof next !== 'string') return false
      cursor = next
    }
    return false
  }

  /**
   * Refuses (400, -32020) a 2026-07-28 call whose `Mcp-Param-*` headers disagree with the
   * arguments its tool marks `x-mcp-header` (SEP-2243): a router in front of the gateway that
   * read them would act on another value than the tool gets. A tool not yet listed is looked
   * up in its backend's tools/list first (bounded, as for `checkAnnotations`).
   */
  async checkParamHeaders(
    route: Route,
    args: unknown,
    session: SessionRef,
    origin: Call,
  ): Promise<void> {
    const { catalog } = route.backend
    let declared = catalog.headerParams(route.local)
    if (declared === undefined) {
      await this.#readNames(route.backend, 'tool', session, origin)
      declared = catalog.headerParams(route.local)
    }
    if (declared === undefined) {
      // Its listing could not be read whole (too long, or it failed): what the tool marks is
      // not known. Headers the call carries cannot be checked, so it is refused; a call with
      // none gives a router in front nothing to act on, and goes.
      if (!Object.keys(origin.headers).some((name) => name.startsWith('mcp-param-'))) return
      throw new PorticoError('header_mismatch', {
        message:
          "Header mismatch: the tool's Mcp-Param-* headers cannot be checked (its backend's tools/list could not be read whole)",
      })
    }
    if (declared.length === 0) return
    const mismatch = paramHeaderMismatch(declared, args, origin.headers)
    if (mismatch !== undefined) {
      throw new PorticoError('header_mismatch', { message: `Header mismatch: ${mismatch}` })
    }
  }

  routeUri(uri: string): Route {
    if (uri.length <= MAX_ROUTED_URI) {
      for (const backend of this.#backends.values()) {
        if (!backend.catalog.ownsUri(uri) || this.#routing.hidden(backend.name)) continue
        const local = backend.catalog.resolveUri(uri)
        if (local !== undefined) return { backend, local }
      }
    }
    const shown = clipped(uri)
    throw new PorticoError('invalid_params', {
      message: `Unknown resource: ${shown}`,
      data: { uri: shown },
    })
  }

  /**
   * The names of the resource `uri` routes to, when an alias renames it: `exposed`, the URI
   * clients see (the alias), and `original`, its namespaced URI (still routed). Undefined for a
   * resource no alias renames, or a URI nothing routes. Roles judge a resource under both
   * (auth/policy.ts), so neither name is a way around a rule written for the other.
   */
  resourceNames(uri: string): { exposed: string; original: string } | undefined {
    // Most configs rename no resource: no routing (nor its refusal) for every URI judged.
    if (!this.#aliasesResources()) return undefined
    const route = this.#routeIfAny(uri)
    if (route === undefined) return undefined
    const { catalog } = route.backend
    if (!catalog.aliasesResources) return undefined
    const exposed = catalog.exposeUri(route.local)
    const original = catalog.namespacedUri(route.local)
    return exposed === original ? undefined : { exposed, original }
  }

  /**
   * The client-facing names of what `uri` routes to, as its backend would read it: each
   * spelling of the backend's URI resolved (`resolvedUris`), named again as clients see it (`exposed`: its
   * alias, else namespaced) and namespaced (`original`). Roles judge a URI under it too (auth/policy.ts
   * `CanonicalUri`). Undefined for a URI nothing routes.
   */
  canonicalUri(uri: string): Array<{ exposed: string; original: string }> | undefined {
    const route = this.#routeIfAny(uri)
    if (route === undefined) return undefined
    const { catalog } = route.backend
    const resolved = resolvedUris(route.local)
    return (resolved.length === 0 ? [route.local] : resolved).map((spelling) => ({
      exposed: catalog.exposeUri(spelling),
      original: catalog.namespacedUri(spelling),
    }))
  }

  /** `routeUri`'s route, or undefined where it would refuse (for judging, not serving). */
  #routeIfAny(uri: string): Route | undefined {
    try {
      return this.routeUri(uri)
    } catch {
      return undefined
    }
  }

  #aliasesResources(): boolean {
    for (const backend of this.#backends.values()) {
      if (backend.catalog.aliasesResources) return true
    }
    return false
  }

  /** The one name a listen stream's interest in a resource is counted under (see `#watch`). */
  #watchKey(uri: string): string {
    return this.resourceNames(uri)?.exposed ?? uri
  }

  /**
   * One merged page of a list. Without a cursor every backend is asked; with one, only the
   * backends that had more. Each page is a call through the backend's chain, bounded by
   * `list_timeout`; a backend that fails or exceeds it is left out (and logged), the others
   * are returned.
   */
  async list(
    method: ListMethod,
    params: JsonObject | undefined,
    session: SessionRef,
    origin: Call,
  ): Promise<JsonObject> {
    const cursor = params?.cursor
    if (cursor !== undefined && typeof cursor !== 'string') throw invalidCursor()
    const position = cursor === undefined ? undefined : decodeCursor(cursor, method)
    // Own keys only: a backend named `constructor` is not "in" every cursor.
    const targets = this.#visible().filter((b) => !position || Object.hasOwn(position, b.name))
    // A cursor whose backends are all gone (removed by a reload) or never were (forged).
    if (position !== undefined && targets.length === 0) throw invalidCursor()
    const pages = await Promise.all(
      targets.map((backend) =>
        this.#page(backend, method, position?.[backend.name], session, origin),
      ),
    )
    // The first page leaves out a backend that fails (the others still list); a later page
    // cannot: an empty page without a cursor would tell the client the list is complete.
    if (position !== undefined) refuseFailedPage(pages)
    return mergePages(method, pages)
  }

  async #page(
    backend: Backend,
    method: ListMethod,
    cursor: string | undefined,
    session: SessionRef,
    origin: Call,
  ): Promise<BackendPage> {
    const message = {
      jsonrpc: '2.0' as const,
      id: origin.id ?? 0,
      method,
      ...(cursor === undefined ? {} : { params: { cursor } }),
    }
    // Per principal and what the backend is told of it (its claim headers): see answerIdentity.
    const view = origin.identity === undefined ? '' : answerIdentity(origin)
    const key = ListCache.key(method, cursor, view, backend.listScope(session))
    const cached = backend.lists.get(key, Date.now())
    if (cached !== undefined) return { catalog: backend.catalog, result: cached }
    const shared = `${backend.name}\u0000${key}`
    const running = this.#pagesInFlight.get(shared)
    if (running !== undefined) return running
    const fetching = this.#fetchPage(backend, method, cursor, session, origin, key, message)
    this.#pagesInFlight.set(shared, fetching)
    void fetching.finally(() => this.#pagesInFlight.delete(shared))
    return fetching
  }

  /**
   * Fetches one page for every caller of that view asking for it meanwhile (`#page`): its own
   * call, not ended by the first caller leaving (the others still wait for it; the page's own
   * deadline, list_timeout, ends it).
   */
  async #fetchPage(
    backend: Backend,
    method: ListMethod,
    cursor: string | undefined,
    session: SessionRef,
    origin: Call,
    key: string,
    message: JsonRpcRequest,
  ): Promise<BackendPage> {
    // Its own call: own deadline, own notes, own lifetime (ended when the page is in). The
    // deadline is the whole page's: each attempt gets it (`timeoutMs`), and the page's signal
    // ends retries, hedges and the attempt in flight when it passes.
    const limitMs = this.#config.proxy.list_timeout
    const controller = new CallController()
    const call: BackendCall = {
      ...withMessage(origin, message),
      signal: controller.signal,
      notes: {},
      lifetime: new CallLifetime(),
      timeoutMs: limitMs,
      ref: session,
      sinkFor: undefined,
    }
    const generation = backend.lists.generation
    try {
      const reply = await within(limitMs, backend.handle(call), () => {
        const late = new PorticoError('upstream_timeout', {
          message: `Backend ${backend.name} did not answer ${method} within ${limitMs} ms`,
          data: { backend: backend.name },
        })
        controller.abort(late)
        return late
      })
      const response = reply instanceof MessageReply ? await reply.json() : undefined
      if (isObject(response?.result)) {
        backend.listed = true
        const result = keepWellFormed(method, response.result, (label, problem) =>
          this.#leftOutItem(backend.name, method, label, problem),
        )
        // What each tool may be sent twice for (its annotations), whatever the backend's
        // role: a failover or canary of it moves a failed read-only call on by them, and a
        // role given by a reload or the admin API must not wait for a chain built anew.
        if (method === 'tools/list') backend.protection.hints.learn(result)
        // A backend that names the page it was asked for as the next one would have a client
        // read the same page for ever: its list ends here.
        if (cursor !== undefined && result.nextCursor === cursor) {
          delete result.nextCursor
          this.#deps.logger.warn(`${method}: backend ${backend.name} named the same page again`, {
            backend: backend.name,
          })
        }
        const capabilities = backend.info()?.capabilities
        // Measured once, when kept (the page is then served from here for list_cache_ttl).
        const bytes = JSON.stringify(result).length
        backend.lists.set(key, method, result, generation, capabilities, Date.now(), bytes)
        return { catalog: backend.catalog, result }
      }
      // A backend without this capability answers -32601: it simply has nothing to list.
      return {
        catalog: backend.catalog,
        error: response?.error?.message ?? 'no result',
        ...(response?.error ? { refused: true } : {}),
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      this.#deps.logger.warn(`${method}: backend ${backend.name} left out`, {
        backend: backend.name,
        error: message,
      })
      backend.noteFailure(`${method}: ${message}`)
      this.#leftOut.add(backend.name)
      return { catalog: backend.catalog, error: message }
    } finally {
      call.lifetime.end()
    }
  }

  /** Logs a malformed list item once (per backend, list, item and reason; bounded). */
  #leftOutItem(backend: string, method: ListMethod, label: string, problem: string): void {
    const said = `${backend}\u0000${method}\u0000${label}\u0000${problem}`
    if (this.#itemsReported.has(said) || this.#itemsReported.size >= MAX_ITEMS_REPORTED) return
    this.#itemsReported.add(said)
    this.#deps.logger.warn(`${method}: backend ${backend}'s item ${label} left out: ${problem}`, {
      backend,
    })
  }

  /**
   * What the backends said in `initialize`, as known now: a client's `initialize` never waits
   * for a backend still starting (issue 18). Lazy backends that never ran are not started for it.
   */
  infos(): BackendInfo[] {
    return this.#visible().map((backend): BackendInfo => {
      const info: ServerInfo | undefined = backend.info()
      const out: BackendInfo = { name: backend.name }
      if (info?.capabilities) out.capabilities = info.capabilities
      if (info?.instructions) out.instructions = info.instructions
      return out
    })
  }

  /** Whether an eager backend has not said what it serves yet (still starting, or retrying). */
  #anyStarting(): boolean {
    return this.#visible().some((b) => b.config.start === 'eager' && b.info() === undefined)
  }

  /**
   * Waits (up to `list_timeout`) until these eager backends have started or failed. Not one
   * that gives each client session a process of its own (stdio, `isolation = "session"`): it
   * has nothing to start before a client comes, as at start-up, and opening the gateway's own
   * session there ran a process no client owned, which took a `max_processes` place for good.
   */
  async started(names: readonly string[]): Promise<void> {
    const timeoutMs = this.#config.proxy.list_timeout
    await Promise.allSettled(
      names
        .map((name) => this.#backends.get(name))
        .filter((backend) => backend?.config.start === 'eager')
        .filter((backend) => (backend as Backend).config.isolation !== 'session')
        .map((backend) => within(timeoutMs, (backend as Backend).connection(this.session))),
    )
  }

  /**
   * The merged capabilities and instructions for a client's `initialize`, at once. While an
   * eager backend is still starting, prompts and resources are announced anyway (with
   * `listChanged`): the client then lists them, and is told to list again when the backend
   * comes up (`#noteState`), instead of waiting for the slowest backend before it can start.
   */
  capabilities(): { capabilities: JsonObject; instructions?: string } {
    const infos = this.infos()
    const instructions = mergeInstructions(infos, this.#config.proxy.instructions)
    return {
      capabilities: mergeCapabilities(infos, { assumeLists: this.#anyStarting() }),
      ...(instructions !== undefined ? { instructions } : {}),
    }
  }

  /**
   * Records a healthy/unhealthy transition (a backend that has not started yet is neither).
   * A backend that comes up after a merged list went out without it (a slow starter past
   * `list_timeout`, one that failed and restarted) brings its lists: clients list again.
   */
  #noteState(name: string, state: Backend['state']): void {
    if (state === 'idle' || state === 'starting') return
    const healthy = state === 'up'
    // Down or failed, as opposed to closed (a reload replacing it announces on its own).
    if (state === 'down' || state === 'failed') this.#recovering.add(name)
    else if (state === 'closed') this.#recovering.delete(name)
    if (this.#healthy.get(name) === healthy) return
    this.#healthy.set(name, healthy)
    this.#recordTransition(name, healthy)
    if (!healthy) return
    // Clients that got a list without this backend are told to list again now that it is up;
    // so are those that listed it before it went down (it may come back with other tools, and
    // its own announcements are not passed on until someone lists it again).
    const leftOut = this.#leftOut.delete(name)
    if (this.#recovering.delete(name) || leftOut) this.#announceSoon()
  }

  #recordTransition(name: string, healthy: boolean): void {
    let transitions = this.#history.get(name)
    if (transitions === undefined) {
      transitions = []
      this.#history.set(name, transitions)
      if (this.#history.size > HISTORIES) this.#forgetRemovedHistories()
    }
    transitions.push({ backend: name, healthy, at: new Date().toISOString() })
    if (transitions.length > HISTORY) transitions.shift()
  }

  /** The oldest removed backends' histories, until the table is back to HISTORIES. */
  #forgetRemovedHistories(): void {
    for (const name of this.#history.keys()) {
      if (this.#history.size <= HISTORIES) return
      if (!this.#backends.has(name)) this.#history.delete(name)
    }
  }

  /** Tells every client session and listen stream that the lists changed. */
  announceListChanges(): void {
    for (const method of LIST_CHANGED_NOTICES) {
      for (const session of this.sessions.values()) session.send({ jsonrpc: '2.0', method })
      this.notifyListeners(method)
    }
  }

  /** One announcement for backends coming up together (start-up, a restart of several). */
  #announceSoon(): void {
    if (this.#announceTimer !== undefined) return
    if (this.sessions.size === 0 && this.#listeners.size === 0) return
    this.#announceTimer = setTimeout(() => {
      this.#announceTimer = undefined
      this.announceListChanges()
    }, ANNOUNCE_DEBOUNCE_MS)
    this.#announceTimer.unref()
  }

  /**
   * Changes when the backends' tool lists may have changed (discovery re-indexes then): the
   * gateway's own count (reloads, runtime changes, shared backends' announcements) and each
   * backend's (a per-session process announces on its session only).
   */
  get toolsVersion(): number {
    let version = this.#toolsVersion
    for (const backend of this.#backends.values()) version += backend.toolsChanges
    return version
  }

  /** Health transitions of one backend, oldest first. */
  history(name: string): HealthTransition[] {
    return [...(this.#history.get(name) ?? [])]
  }

  /** The URLs of the HTTP backends added at run time (the widget CSP's own servers too). */
  addedBackendUrls(): string[] {
    const urls: string[] = []
    for (const backend of this.#added.values())
      if (backend.url !== undefined) urls.push(backend.url)
    return urls
  }

  /** Whether `name` was added at runtime (not from the config file). */
  isAdded(name: string): boolean {
    return this.#added.has(name)
  }

  /**
   * Adds (or, with `replace`, replaces) a backend at runtime with the same chain and middleware
   * as the file's backends. It survives reloads of the file until removed (a file backend of
   * the same name takes its place). Throws `invalid_params` with the reason when refused.
   */
  addBackend(input: unknown, replace = false): Promise<BackendConfig> {
    return this.#oneAtATime(() => this.#addBackend(input, replace))
  }

  async #addBackend(input: unknown, replace: boolean): Promise<BackendConfig> {
    // What no file could say (a file's values nest at most MAX_CONFIG_DEPTH): deeper, it broke
    // `/admin/config` and every call of the backend added, the walks overflowing.
    if (nestedDeeperThan(input, MAX_CONFIG_DEPTH)) {
      throw new PorticoError('invalid_params', {
        message: `Invalid backend: nested deeper than ${MAX_CONFIG_DEPTH} levels`,
      })
    }
    // The file's rules for one backend, its table's and the list's (a url for http, a command
    // for stdio, the url's scheme, expose or hide): what `portico check` would refuse is refused.
    const parsed = backendsSchema.safeParse([input])
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const path = issue?.path.slice(1) ?? []
      const where = path.length ? `${path.join('.')}: ` : ''
      throw new PorticoError('invalid_params', {
        message: `Invalid backend: ${where}${issue?.message ?? 'invalid'}`,
      })
    }
    const config = parsed.data[0] as BackendConfig
    const exists = this.#backends.has(config.name)
    if (exists && !replace) {
      throw new PorticoError('invalid_params', {
        message: `Backend '${config.name}' already exists`,
      })
    }
    if (!exists && replace) {
      throw new PorticoError('not_found', { message: `Backend '${config.name}' not found` })
    }
    const others = (this.#config.backends ?? []).filter((b) => b.name !== config.name)
    const separator = this.#config.proxy.separator
    // The running backends passed these checks: a problem now is the new backend's, whichever
    // backend it is filed under (an ambiguous prefix is filed under the longer name).
    const known = new Set(namingProblems(others, separator).map((p) => `${p.index} ${p.message}`))
    const problem =
      namingProblems([...others, config], separator).find(
        (p) => !known.has(`${p.index} ${p.message}`),
      ) ?? resourceAliasProblems([...others, config], separator)[0]
    const shadowed = compositeShadowedBy(this.#config.composite_tools, config, separator)
    // A rule the file let through (no backend had this name then) that names it with the
    // other separator would match nothing once it has one: a deny would deny nothing.
    const foreignRule = nameRuleProblems({
      ...this.#config,
      backends: [...others, config],
    }).find((p) => p.message.includes(`names backend ${config.name} with`))
    if (foreignRule !== undefined) {
      throw new PorticoError('invalid_params', {
        message: `Invalid backend: ${foreignRule.path.map(String).join('.')}: ${foreignRule.message}`,
      })
    }
    if (
      problem !== undefined ||
      shadowed !== undefined ||
      (!config.namespace && others.length > 0)
    ) {
      throw new PorticoError('invalid_params', {
        message: `Invalid backend: ${problem?.message ?? shadowed ?? 'namespace = false needs a single backend'}`,
      })
    }
    if (config.name === 'portico') {
      throw new PorticoError('invalid_params', {
        message: 'Invalid backend: "portico" is reserved',
      })
    }
    refuseRouting([...others, config])
    await this.#apply({ ...this.#config, backends: [...others, config] })
    // Kept across reloads only once it runs: a backend apply refused is not added.
    this.#added.set(config.name, config)
    return config
  }

  /** Removes a backend (a file backend comes back when the file is reloaded). */
  removeBackend(name: string): Promise<boolean> {
    return this.#oneAtATime(() => this.#removeBackend(name))
  }

  async #removeBackend(name: string): Promise<boolean> {
    if (!this.#backends.has(name)) return false
    const backends = (this.#config.backends ?? []).filter((b) => b.name !== name)
    // A canary, mirror or failover whose primary left would serve in its place, unasked.
    const dependent = backends.find(
      (b) => b.mirror_of === name || b.failover_for === name || b.canary_of === name,
    )
    if (dependent !== undefined) {
      throw new PorticoError('invalid_params', {
        message: `Backend '${name}' is the primary of '${dependent.name}': remove '${dependent.name}' first`,
      })
    }
    this.#added.delete(name)
    await this.#apply({ ...this.#config, backends })
    return true
  }

  /**
   * Applies a new validated config: removed backends close, new ones start, changed ones
   * are replaced; untouched backends keep their processes and every client session.
   * Backends added at runtime are kept unless the new config has one of the same name.
   */
  apply(input: Config): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    return this.#oneAtATime(() => this.#apply(input))
  }

  /**
   * Runs one change to the backends once the changes before it are done: an admin add, replace
   * or remove, or a reload. Each awaits the backends it replaced closing (hundreds of
   * milliseconds for a stdio process), and each must start from the state the one before
   * left: a DELETE that ran while a PUT of the same backend was closing the old one was undone
   * when the PUT recorded its backend as added (the next reload started it again), and a reload
   * meanwhile, finding the replaced backend neither in the file nor yet recorded, removed it.
   */
  #oneAtATime<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#changing.then(change)
    this.#changing = run.catch(() => {})
    return run
  }

  /**
   * Why applying `next` would be refused for a backend added at runtime that no longer fits it
   * (as `apply` refuses it), or undefined: what `PUT /admin/config` says before writing.
   */
  addedClash(next: Config): string | undefined {
    try {
      refuseAddedClashes(this.#withAdded(next), this.#added)
      return undefined
    } catch (error) {
      if (error instanceof PorticoError) return error.message
      throw error
    }
  }

  async #apply(input: Config): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const next = this.#withAdded(input)
    refuseAddedClashes(next, this.#added)
    this.#toolsVersion++
    const before = this.#backends
    const after = new Map<string, Backend>()
    const added: string[] = []
    const changed: string[] = []
    // What every backend is built with besides its own table: a change to it changes them all.
    const sharedChanged = sharedOf(next) !== sharedOf(this.#config)
    const unchanged = (config: BackendConfig): boolean => {
      const current = before.get(config.name)
      return current !== undefined && !sharedChanged && sameBackend(current.config, config)
    }
    refuseUnbuildable(
      (next.backends ?? []).filter((config) => !unchanged(config)),
      next,
    )
    const running = { config: this.#config, added: new Map(this.#added) }
    this.#forgetReplacedAdded(input)
    this.#config = next
    // The backends this replaces or removes may still serve the calls they hold (`#retire`).
    this.#allowOrigins(before.values())
    try {
      for (const config of next.backends ?? []) {
        const current = before.get(config.name)
        if (current !== undefined && unchanged(config)) {
          after.set(config.name, current)
          continue
        }
        // The same server with other tables: the policies whose tables did not change keep their state.
        const previous =
          current !== undefined && sameServer(current.config, config)
            ? current.protection
            : undefined
        const backend = this.#create(config, previous)
        if (current !== undefined) backend.carryOver(current)
        after.set(config.name, backend)
        if (current) changed.push(config.name)
        else added.push(config.name)
      }
    } catch (error) {
      // Nothing of it applies: the running config stays in force, as it was (a later reload or
      // add must not find this one half in place and fail the same way).
      for (const [name, backend] of after) if (before.get(name) !== backend) void backend.close()
      this.#config = running.config
      this.#added.clear()
      for (const [name, config] of running.added) this.#added.set(name, config)
      this.#allowOrigins(before.values())
      throw error
    }
    for (const config of next.backends ?? []) {
      if (config.start === 'eager' && before.get(config.name) !== after.get(config.name))
        after.get(config.name)?.start()
    }
    const removed = [...before.keys()].filter((name) => !after.has(name))
    const swap = () => {
      this.#backends = after
      this.#reroute()
    }
    if (this.#deps.status === undefined) swap()
    else this.#deps.status.swapping(swap)
    const gone = [...before.entries()]
      .filter(([name, backend]) => after.get(name) !== backend)
      .map(([, backend]) => backend)
    // A backend with calls in flight finishes them (up to `drain_timeout`) in the background;
    // the others are closed before this returns, as before.
    const closing: Array<Promise<void>> = []
    for (const backend of gone) {
      const retired = this.#retire(backend)
      if (!backend.busy) closing.push(retired)
    }
    await Promise.allSettled(closing)
    return { added, removed, changed }
  }

  /**
   * Closes a backend no longer routed to, once the calls it was serving are done. Never
   * rejects: a busy backend's retirement runs unawaited, and a failure to close is only logged.
   */
  async #retire(backend: Backend): Promise<void> {
    this.#retiring.add(backend)
    try {
      await backend.idle(this.#config.drain_timeout)
      backend.protection.close()
      await backend.close()
    } catch (error) {
      this.#deps.logger.warn(`backend ${backend.name} did not close cleanly`, {
        backend: backend.name,
        error: error instanceof Error ? error.message : String(error),
      })
    } finally {
      this.#retiring.delete(backend)
      this.#allowOrigins()
    }
  }

  /**
   * Only configured upstreams are contacted: the config's, and those of backends still
   * finishing their calls after a reload replaced or removed them (`still`, `#retiring`).
   */
  #allowOrigins(still: Iterable<Backend> = []): void {
    const finishing = [...this.#retiring, ...still].map((backend) => backend.config.url)
    this.#deps.http.allowOrigins([...upstreamOrigins(this.#config), ...originsOf(finishing)])
  }

  /** `input` with the backends added at runtime that it does not name itself. */
  #withAdded(input: Config): Config {
    const own = input.backends ?? []
    const kept = [...this.#added.values()].filter(
      (added) => !own.some((b) => b.name === added.name),
    )
    return kept.length === 0 ? input : { ...input, backends: [...own, ...kept] }
  }

  /** A backend the file now names is the file's: no longer one added at runtime. */
  #forgetReplacedAdded(input: Config): void {
    for (const backend of input.backends ?? []) {
      const added = this.#added.get(backend.name)
      if (added !== undefined && added !== backend) this.#added.delete(backend.name)
    }
  }

  /**
   * Adds a stateless `subscriptions/listen` stream: it receives the list changes and resource
   * updates it asked for until `signal` aborts. Returns the subset of the filter honoured.
   */
  async listen(
    filter: JsonObject,
    write: (message: JsonObject) => void,
    signal: SignalLike,
  ): Promise<JsonObject> {
    // Refused rather than acknowledged and never fed (the client would wait for ever).
    if (this.#listeners.size >= MAX_LISTENERS) {
      throw new PorticoError('too_many_sessions', {
        message: 'Too many listen streams open: try again later',
        headers: { 'retry-after': '5' },
      })
    }
    const honoured: JsonObject = {}
    const listener: Listener = { methods: new Set(), uris: new Map(), write }
    for (const [key, method] of Object.entries(LISTEN_KEYS)) {
      if (filter[key] !== true) continue
      honoured[key] = true
      listener.methods.add(method)
    }
    const wanted = Array.isArray(filter.resourceSubscriptions) ? filter.resourceSubscriptions : []
    for (const uri of wanted.slice(0, 100)) {
      if (typeof uri !== 'string' || listener.uris.has(uri)) continue
      const key = await this.#watch(uri)
      if (key !== undefined) listener.uris.set(uri, key)
    }
    if (listener.uris.size > 0) honoured.resourceSubscriptions = [...listener.uris.keys()]
    const stop = () => {
      this.#listeners.delete(listener)
      for (const [uri, key] of listener.uris) this.#unwatch(uri, key)
    }
    if (signal.aborted || this.#listeners.size >= MAX_LISTENERS) stop()
    else {
      this.#listeners.add(listener)
      signal.addEventListener('abort', stop, { once: true })
    }
    return honoured
  }

  /**
   * A backend's list change, told to the listen streams and recorded once a window: a backend
   * announcing thousands a second wrote each to every stream (a ping took seconds) and a row
   * each to the store. Sessions coalesce theirs alike (sessions.ts); caches were dropped at once.
   */
  #announceSoonToListeners(backend: string, method: string): void {
    this.#listChangesHeld.add(`${backend}\u0000${method}`)
    if (this.#listChangesTimer !== undefined) return
    this.#listChangesTimer = setTimeout(() => {
      this.#listChangesTimer = undefined
      const held = [...this.#listChangesHeld]
      this.#listChangesHeld.clear()
      const methods = new Set<string>()
      for (const key of held) {
        const [from, changed] = key.split('\u0000') as [string, string]
        this.#deps.observe?.({ backend: from, method: changed })
        methods.add(changed)
      }
      for (const changed of methods) this.notifyListeners(changed)
    }, LIST_CHANGED_WINDOW_MS)
    this.#listChangesTimer.unref()
  }

  readonly #listChangesHeld = new Set<string>()
  #listChangesTimer: NodeJS.Timeout | undefined

  notifyListeners(method: string): void {
    for (const listener of this.#listeners) {
      if (listener.methods.has(method)) listener.write({ jsonrpc: '2.0', method })
    }
  }

  /**
   * Counts a listen stream's interest in a resource. The first one subscribes the gateway's
   * session; streams that come while that subscribe is in flight wait for its outcome (each
   * counted at once, so a stream that stops meanwhile cannot unsubscribe the others).
   */
  async #watch(uri: string): Promise<string | undefined> {
    // Counted under the alias whichever name the stream used: one stream's leaving under one
    // name must not unsubscribe the backend while another still listens under the other. The
    // key is returned and kept by the stream, as a reload may rename the resource meanwhile.
    const key = this.#watchKey(uri)
    let watch = this.#watched.get(key)
    if (watch === undefined) {
      watch = { count: 0, subscribed: this.#subscribeOwnSession(uri) }
      this.#watched.set(key, watch)
    }
    watch.count++
    if (await watch.subscribed) return key
    watch.count--
    if (this.#watched.get(key) === watch) this.#watched.delete(key)
    return undefined
  }

  async #subscribeOwnSession(uri: string): Promise<boolean> {
    try {
      const { backend, local } = this.routeUri(uri)
      // The gateway's own session joins the backend first: the backend's updates reach it only
      // then, even when a client session already subscribed the backend to this resource (a
      // stateless client that never sent initialize gives no other occasion to join).
      const connection = await backend.connection(this.session)
      const key = this.session.key
      // Another's subscribe covers it: that one's outcome is this one's (a session's refused
      // subscribe must not leave the stream counted as subscribed to nothing).
      if (!backend.track(key, local, true)) {
        if ((await backend.subscribing.get(local)) === undefined) return true
        backend.track(key, local, false)
        return false
      }
      const outcome = connection
        .request('resources/subscribe', { uri: local }, { timeoutMs: backend.timeoutMs })
        .then(
          (response) => response.error ?? undefined,
          () => ({ code: -32603, message: 'not subscribed' }),
        )
      backend.subscribing.set(local, outcome)
      const refused = await outcome
      if (backend.subscribing.get(local) === outcome) backend.subscribing.delete(local)
      if (refused === undefined) return true
      backend.track(key, local, false)
      return false
    } catch {
      return false
    }
  }

  /** A stream's interest in `uri` ends; `key` is what `#watch` counted it under. */
  #unwatch(uri: string, key: string): void {
    const watch = this.#watched.get(key)
    if (watch === undefined || --watch.count > 0) return
    this.#watched.delete(key)
    try {
      const { backend, local } = this.routeUri(uri)
      if (!backend.track(this.session.key, local, false)) return
      void backend
        .connection(this.session)
        .then((c) =>
          c.request('resources/unsubscribe', { uri: local }, { timeoutMs: backend.timeoutMs }),
        )
        .catch(() => {})
    } catch {
      // The backend is gone (hot reload): nothing to unsubscribe from.
    }
  }

  /** What backends send the gateway's own session unprompted. */
  #deliver(backend: string, message: JsonRpcRequest | JsonRpcNotification, from: Connection): void {
    if ('id' in message) {
      answerUnrouted(from, message)
      return
    }
    if (message.method.endsWith('/list_changed')) {
      const source = this.#backends.get(backend)
      source?.listChanged(message.method)
      if (source?.listed !== true) return
      this.#announceSoonToListeners(backend, message.method)
      // A connection every session shares (a shared process, a 2026-07-28 backend): every
      // session's merged lists hold its items, whether read through it or from the cache.
      if (!source.dedicated) {
        for (const session of this.sessions.values()) {
          session.send({ jsonrpc: '2.0', method: message.method })
        }
      }
      return
    }
    const uri = message.params?.uri
    if (message.method !== 'notifications/resources/updated' || typeof uri !== 'string') return
    const source = this.#backends.get(backend)
    const catalog = source?.catalog
    if (catalog === undefined) return
    const exposed = catalog.exposeUri(uri)
    source?.resourceUpdated(uri, exposed)
    // An aliased resource is also routed under its namespaced URI: a stream that asked under
    // that name gets the update under it, as it asked.
    const names = [...new Set([exposed, catalog.namespacedUri(uri)])]
    this.#updates.push(`${backend}\u0000${exposed}`, { backend, exposed, names, message })
  }

  /**
   * A resource's updates to the listen streams and the store, about one a window per resource
   * (the first at once), as sessions do theirs (sessions.ts).
   */
  readonly #updates = new KeyedThrottle<ListenedUpdate>(LIST_CHANGED_WINDOW_MS, (update) => {
    const { backend, exposed, names, message } = update
    this.#deps.observe?.({ backend, method: message.method, params: { uri: exposed } })
    for (const listener of this.#listeners) {
      for (const name of names) {
        if (!listener.uris.has(name)) continue
        listener.write({ ...message, params: { ...message.params, uri: name } } as JsonObject)
      }
    }
  })

  /** Registers cleanup to run at close (the config watcher). */
  onClose(closer: () => void): void {
    this.#closers.push(closer)
  }

  /** Ends every backend call in flight with `error` (a drain's deadline). */
  async cut(error: PorticoError): Promise<void> {
    const all = [...this.#backends.values(), ...this.#retiring]
    await Promise.all(all.map((backend) => backend.cut(error)))
  }

  async close(): Promise<void> {
    clearTimeout(this.#announceTimer)
    clearTimeout(this.#listChangesTimer)
    this.#updates.clear()
    for (const closer of this.#closers.splice(0)) closer()
    this.inputs.close()
    this.sessions.closeAll()
    const all = [...this.#backends.values(), ...this.#retiring]
    for (const backend of all) backend.protection.close()
    await Promise.allSettled(all.map((backend) => backend.close()))
  }
}

/** Listen streams' interest in one resource, and whether the gateway's session subscribed. */
/** A backend's `notifications/resources/updated`, with the names listen streams may know it by. */
interface ListenedUpdate {
  backend: string
  exposed: string
  names: string[]
  message: JsonRpcNotification
}

interface Watch {
  count: number
  subscribed: Promise<boolean>
}

interface Listener {
  methods: Set<string>
  /** Exposed resource URIs whose updates this stream wants → the key its interest counts under. */
  uris: Map<string, string>
  write(message: JsonObject): void
}

/** `subscriptions/listen` filter keys the gateway honours → the notification each enables. */
const LISTEN_KEYS: Readonly<Record<string, string>> = lookupTable({
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
})

/**
 * Bounds on what a client asks to be routed. Names shown to clients are at most 64 characters
 * (names.ts shortens longer ones); a name or URI past these is unknown, refused before the
 * `expose_*`/`hide_*` patterns run over it (a client could send megabytes: globs take time
 * linear in the length, util/glob.ts, but a `re:` pattern is the operator's regular expression
 * and may backtrack).
 */
const MAX_ROUTED_NAME = 256
/** Malformed list items logged at most (a backend could list thousands). */
const MAX_ITEMS_REPORTED = 1000

/** `subscriptions/listen` streams open at once. */
const MAX_LISTENERS = 10_000
const MAX_ROUTED_URI = 8192

function unknown(kind: ItemKind, name: string): PorticoError {
  return new PorticoError('invalid_params', { message: `Unknown ${kind}: ${clipped(name)}` })
}

/**
 * The part of the config every backend is built with besides its own table (names.ts, the
 * protection defaults, the timeouts and bounds `#create` passes): the separator, the
 * top-level protection tables, `[performance]`, `request_timeout`, `max_response_body_size`
 * and `list_cache_ttl`. A hot reload that changes it replaces every backend.
 */
function sharedOf(config: Config): string {
  return JSON.stringify([
    config.proxy.separator,
    protectOf({}, config),
    config.performance,
    config.request_timeout,
    config.max_response_body_size,
    config.proxy.list_cache_ttl,
  ])
}

function sameBackend(a: BackendConfig, b: BackendConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Whether two configs of a backend name the same server, built the same way, and differ at
 * most in their protection tables: then a policy's state (an open breaker, cached answers)
 * is still about the server it will serve. Any other change starts every policy afresh.
 */
function sameServer(a: BackendConfig, b: BackendConfig): boolean {
  return sameBackend(withoutTables(a), withoutTables(b))
}

function withoutTables(config: BackendConfig): BackendConfig {
  const rest: Record<string, unknown> = { ...config }
  for (const key of PROTECT_KEYS) delete rest[key]
  return rest as BackendConfig
}

/**
 * Refuses a change before it touches anything when one of the backends it would build cannot
 * be built: a `re:` filter pattern that compiles alone but not beside the others (two groups of
 * one name). Half a change applied would leave some backends replaced and the rest not.
 */
function refuseUnbuildable(backends: readonly BackendConfig[], config: Config): void {
  for (const backend of backends) {
    try {
      new BackendCatalog(backend, config.proxy.separator)
    } catch (error) {
      throw new PorticoError('invalid_params', {
        message: `Invalid backend ${backend.name}: ${error instanceof Error ? error.message : String(error)}`,
      })
    }
  }
}

/**
 * A reloaded file meets the backends added at runtime, which `addBackend` checked against the
 * file of then: the same naming, resource-alias, routing and composite checks run on the
 * merged list, and a problem with a runtime backend refuses the reload whole (two resources
 * under one URI, a name the separator splits, a mirror of a backend the file removed, which
 * would serve clients as a backend of its own, would otherwise be served).
 */
function refuseAddedClashes(next: Config, added: ReadonlyMap<string, BackendConfig>): void {
  if (added.size === 0) return
  const backends = next.backends ?? []
  const separator = next.proxy.separator
  const isAdded = (index: unknown): boolean => {
    const backend = typeof index === 'number' ? backends[index] : undefined
    return backend !== undefined && added.get(backend.name) === backend
  }
  const problems = [
    ...namingProblems(backends, separator),
    ...resourceAliasProblems(backends, separator).map((p) => ({ ...p, index: p.path[0] })),
    ...routingProblems(backends).map((p) => ({ ...p, message: `${p.key}: ${p.message}` })),
    ...backends.flatMap((backend, index) => {
      const message = compositeShadowedBy(next.composite_tools, backend, separator)
      return message === undefined ? [] : [{ index, message }]
    }),
  ]
  const problem = problems.find((p) => isAdded(p.index))
  if (problem === undefined) return
  const name = backends[problem.index as number]?.name
  throw new PorticoError('invalid_params', {
    message: `Backend '${name}', added at runtime, no longer fits the file: ${problem.message}. Remove it (DELETE /admin/backends/{name}) or change the file`,
  })
}

/** The routing rules `portico check` applies to a file, applied to a change made at runtime. */
function refuseRouting(backends: readonly BackendConfig[]): void {
  const problem = routingProblems(backends)[0]
  if (problem === undefined) return
  const name = backends[problem.index]?.name
  throw new PorticoError('invalid_params', {
    message: `Invalid backend: '${name}' ${problem.key}: ${problem.message}`,
  })
}

/** A later page of a list fails as a whole when one of its backends fails to give its part. */
function refuseFailedPage(pages: readonly BackendPage[]): void {
  const failed = pages.find((page) => page.error !== undefined)
  if (failed === undefined) return
  const backend = failed.catalog.name
  // The backend refused its part of the cursor (stale, or forged): the cursor is invalid.
  if (failed.refused) {
    throw new PorticoError('invalid_params', {
      message: `Invalid cursor: backend ${backend} refused it (${failed.error})`,
      data: { backend },
    })
  }
  throw new PorticoError('backend_failed', {
    message: `Backend ${backend} did not give the next page: ${failed.error}`,
    data: { backend },
  })
}
