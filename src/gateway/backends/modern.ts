/**
 * A Streamable HTTP backend reached in its own revision, 2026-07-28: no `initialize` and no
 * session. `server/discover` says what it serves; every request carries its client's envelope
 * in `_meta` (revision, capabilities, client info, log level) and the headers the revision
 * mirrors from the body (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`). One connection serves every
 * client session. What 2026-07-28 changed for a client, the gateway does here:
 *
 * - A call the backend needs input for answers `input_required`. A stateless client's call
 *   passes it on (the client retries with its answers, and the retry names the same tool, so
 *   it comes back here). A session's client cannot read it: the gateway asks the client each
 *   request over its session, as a 2025 backend would have, and retries the call with the
 *   answers and the backend's `requestState`, round after round (`MAX_ROUNDS`).
 * - Cancellation is closing the call's stream: the transport's signal does it, and no
 *   `notifications/cancelled` is sent (the revision has no client notifications on HTTP).
 * - List changes and resource updates arrive on one `subscriptions/listen` stream
 *   (`listen-stream.ts`), opened again whenever the resources subscribed change.
 *   `resources/subscribe` and `unsubscribe` are answered here: they change what that stream
 *   asks for.
 */
import { createHash } from 'node:crypto'
import { PorticoError } from '../../errors.ts'
import type { HeaderMap } from '../../http/headers.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../../jsonrpc/message.ts'
import {
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_LOG_LEVEL,
  META_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSION,
} from '../../protocol/classify.ts'
import {
  type HeaderParam,
  headerParamsOf,
  headerText,
  paramHeadersOf,
} from '../../protocol/param-headers.ts'
import type { SessionRef } from './backend.ts'
import { CAPABILITY_OF, type CallSink, type Pending, type ServerInfo } from './connection.ts'
import { HttpConnection, type HttpConnectionOptions } from './http.ts'
import { httpStatusOf } from './http-status.ts'
import { ListenStream } from './listen-stream.ts'

/** Rounds of input one call may ask a session's client for before it is given up. */
const MAX_ROUNDS = 16
/** Input requests one round may hold (a backend asking for more is refused, not buffered). */
const MAX_INPUT_REQUESTS = 64
/** Resources one backend's listen stream asks updates for. */
export const MAX_SUBSCRIBED = 1000
/**
 * Their URIs' length in all: each change sends the whole list again (the revision has no
 * subscribe request), so what one change costs the backend is bounded by this, not by the
 * square of the subscriptions.
 */
const MAX_SUBSCRIBED_CHARS = 64 * 1024
/** The `server/discover` key that names the server (2026-07-28 results carry it in `_meta`). */
const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo'
/** Tools whose marks one connection keeps; pages of tools/list one lookup reads. */
const MAX_MARKED_TOOLS = 10_000
const MAX_LOOKUP_PAGES = 50
/** A lookup takes at most this share of the call's deadline, and at most LOOKUP_MAX_MS. */
const LOOKUP_SHARE = 0.5
const LOOKUP_MAX_MS = 5000
/** How often one caller's lookups may run, and how many callers' times are kept. */
const LOOKUP_EVERY_MS = 60_000
const MAX_LOOKUP_CALLERS = 10_000

export interface ModernConnectionOptions extends HttpConnectionOptions {
  /** What the backend's `server/discover` said, when it was asked already (the era probe). */
  discovered?: ServerInfo
}

/** A call the backend needs the client's input for: what it asked, held until answered. */
interface InputRound {
  inputRequests: unknown
  requestState: unknown
}

export class ModernHttpConnection extends HttpConnection {
  readonly #options: ModernConnectionOptions
  /** The `_meta` of requests no client made (lists the gateway reads, subscriptions). */
  readonly #ownMeta: JsonObject
  /** Calls whose `input_required` answer is held for a session's client to fulfil. */
  readonly #held = new Map<number, InputRound>()
  /** A retry's id (a call sent again with the client's input) → the call it continues. */
  readonly #retries = new Map<string, number>()
  /** The gateway's requests to a client for a held call, by id → what takes the answer. */
  readonly #asked = new Map<string, (outcome: JsonObject) => void>()
  #nextAsk = 0
  /**
   * The arguments each tool marks `x-mcp-header`, as the backend itself lists them (its own
   * names and schema: the client-facing one may rename or hide them), learned from every
   * tools/list answer this connection carries and forgotten when the backend's tools change.
   */
  readonly #marks = new Map<string, readonly HeaderParam[]>()
  /**
   * Lookups of marks by caller (the digest of its identity headers): the one in flight, and
   * when the last one ended. A caller's tools may differ from another's, so each reads its own;
   * and each reads at most once a minute, however many calls of tools it did not find follow.
   */
  readonly #lookups = new Map<string, Promise<void>>()
  readonly #lookedUp = new Map<string, number>()
  /** Resources whose updates the listen stream asks for. */
  readonly #subscribed = new Set<string>()
  #subscribedChars = 0
  readonly #listen: ListenStream

  constructor(options: ModernConnectionOptions) {
    super(options)
    this.#options = options
    const init = options.initParams
    this.#ownMeta = {
      [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
      [META_CLIENT_CAPABILITIES]: isObject(init.capabilities) ? init.capabilities : {},
      ...(isObject(init.clientInfo) ? { [META_CLIENT_INFO]: init.clientInfo } : {}),
    }
    this.#listen = new ListenStream({
      post: (message, headers, signal) => this.postStream(message, headers, signal),
      headersOf: (message) => modernHeaders(message, this.#marks),
      filter: () => listenFilter(this.info?.capabilities, this.#subscribed),
      meta: this.#ownMeta,
      nextId: () => `listen-${++this.#nextAsk}`,
      deliver: (message) => {
        if (message.method === 'notifications/tools/list_changed') {
          this.#marks.clear()
          this.#lookedUp.clear()
        }
        this.onUnsolicited(message)
      },
      maxMessageBytes: options.maxMessageBytes,
    })
  }

  /**
   * Learns what the backend serves. `headers`: the identity of the call that opens it (a
   * backend that checks every caller's credentials, `forward_auth`, checks this one's too).
   */
  override async open(headers?: HeaderMap): Promise<ServerInfo> {
    this.info = this.#options.discovered ?? (await this.discover(headers))
    this.#listen.open()
    return this.info
  }

  /**
   * Asks `server/discover`; fails unless the backend serves 2026-07-28. The failure keeps the
   * backend's own words (a 2025 server's refusal), for `HttpBackend` to tell the eras apart.
   */
  async discover(headers?: HeaderMap): Promise<ServerInfo> {
    const response = await this.request(
      'server/discover',
      {},
      { timeoutMs: this.#options.startupTimeoutMs, ...(headers === undefined ? {} : { headers }) },
    ).catch((error: unknown) => {
      // Refused outright with a status (a 2025 server's 400, 404 or 405): said as the revision
      // it lacks. Whether that tells the backend's revision is `revealsLegacy`'s to judge.
      const status = httpStatusOf(error)
      if (status === undefined || !(error instanceof PorticoError)) throw error
      const data = isObject(error.data) ? error.data : {}
      const said = error.message.replace(/^Backend \S+ (\(\S+\) )?/, '')
      const legacy = isLegacyRefusal(status, data.jsonRpcBody === true)
      throw notModern(this.backend, `server/discover ${said}`, legacy, status)
    })
    const result = response.result
    const versions = isObject(result) ? result.supportedVersions : undefined
    // Answered, but not as a 2026-07-28 server: a JSON-RPC error (a 2025 server's method not
    // found), or a result without the revision. Either tells the revision.
    if (!isObject(result) || !Array.isArray(versions)) {
      throw notModern(this.backend, response.error?.message ?? 'no server/discover result', true)
    }
    if (!versions.includes(MODERN_PROTOCOL_VERSION)) {
      const served = versions.slice(0, 5).map((version) => String(version).slice(0, 40))
      throw notModern(this.backend, `it serves ${served.join(', ')}`, true)
    }
    const info: ServerInfo = { protocolVersion: MODERN_PROTOCOL_VERSION }
    if (isObject(result.capabilities)) info.capabilities = result.capabilities
    if (typeof result.instructions === 'string') info.instructions = result.instructions
    const meta = result._meta
    const serverInfo = isObject(meta) ? meta[META_SERVER_INFO] : undefined
    if (isObject(serverInfo)) info.serverInfo = serverInfo
    return info
  }

  protected override async transmit(message: JsonRpcMessage, pending?: Pending): Promise<void> {
    if (!('method' in message)) {
      this.#answered(message as JsonRpcResponse)
      return
    }
    // No notification goes to a 2026-07-28 server over HTTP: a call is cancelled by closing
    // its stream (the call's signal), and the revision defines no others.
    if (pending === undefined) return
    if (message.method === 'resources/subscribe' || message.method === 'resources/unsubscribe') {
      this.#subscription(message as JsonRpcRequest, pending)
      return
    }
    let outgoing = this.#enveloped(message as JsonRpcRequest, pending.sink)
    const tool = message.method === 'tools/call' ? message.params?.name : undefined
    if (typeof tool === 'string' && !this.#marks.has(tool)) await this.#lookUpMarks(pending)
    for (let round = 1; ; round++) {
      let held: InputRound | undefined
      try {
        const headers = modernHeaders(outgoing, this.#marks)
        const response = await this.post(outgoing, pending, headers)
        await this.consume(response, pending)
      } finally {
        held = this.#held.get(pending.id)
        this.#held.delete(pending.id)
        if (typeof outgoing.id === 'string') this.#retries.delete(outgoing.id)
      }
      // Answered otherwise after all (a result after it on the stream), or failed (an HTTP
      // error status around it): nothing is asked of the client for a call that ended.
      if (held === undefined || pending.settled) return
      if (round > MAX_ROUNDS) {
        throw new PorticoError('backend_failed', {
          message: `Backend ${this.backend} still asked for input after ${MAX_ROUNDS} rounds`,
          data: { backend: this.backend },
        })
      }
      const inputResponses = await this.#ask(held, pending)
      // The same request again under a new id (the revision's rule for a retry), carrying the
      // answers and the backend's state as it gave it.
      const id = `${pending.id}.${round}`
      this.#retries.set(id, pending.id)
      const params: JsonObject = { ...outgoing.params, inputResponses }
      if (held.requestState !== undefined) params.requestState = held.requestState
      else delete params.requestState
      outgoing = { jsonrpc: '2.0', id, method: outgoing.method, params }
    }
  }

  protected override callIdOf(id: unknown): number {
    return typeof id === 'string' ? (this.#retries.get(id) ?? -1) : super.callIdOf(id)
  }

  /** This connection serves every client: a call's stream may only speak of that call. */
  protected override get ownStreamsOnly(): boolean {
    return true
  }

  /**
   * An `input_required` answer to a session's call is held for `transmit` to fulfil; anything
   * else ends the call (a retry's answer under the call's own id). A response that came on
   * another call's stream is not taken: this connection serves every client, and a backend
   * answering one call with another's id would hand one client's answer to another. A
   * tools/list page teaches the tools' marks (`#learnMarks`).
   */
  protected override settle(pending: Pending, response: JsonRpcResponse, related?: Pending): void {
    if (related !== undefined && related !== pending) return
    const result = response.result
    if (pending.method === 'tools/list' && isObject(result)) this.#learnMarks(result)
    if (
      isObject(result) &&
      result.resultType === 'input_required' &&
      pending.sink?.statelessMeta === undefined
    ) {
      this.#held.set(pending.id, {
        inputRequests: result.inputRequests,
        requestState: result.requestState,
      })
      return
    }
    pending.resolve(response.id === pending.id ? response : { ...response, id: pending.id })
  }

  protected override answersLater(pending: Pending): boolean {
    return this.#held.has(pending.id)
  }

  /** Learns the marks of the tools one tools/list page lists (bounded). */
  #learnMarks(page: JsonObject): void {
    if (!Array.isArray(page.tools)) return
    for (const tool of page.tools) {
      if (!isObject(tool) || typeof tool.name !== 'string') continue
      if (!this.#marks.has(tool.name) && this.#marks.size >= MAX_MARKED_TOOLS) continue
      this.#marks.set(tool.name, headerParamsOf(tool.inputSchema))
    }
  }

  /**
   * Reads the backend's tools/list, as the caller sees it, before a call of a tool whose marks
   * are not known: the backend refuses (-32020) a call without the `Mcp-Param-*` headers its
   * tool marks. Bounded: MAX_LOOKUP_PAGES pages within LOOKUP_SHARE of the call's deadline (the
   * call keeps the rest), one read at a time per caller, at most once a minute per caller. A
   * lookup that fails or does not find the tool leaves the call to go without them.
   */
  #lookUpMarks(pending: Pending): Promise<void> {
    const caller = callerKey(pending.headers)
    const inFlight = this.#lookups.get(caller)
    if (inFlight !== undefined) return inFlight
    const last = this.#lookedUp.get(caller)
    if (last !== undefined && Date.now() - last < LOOKUP_EVERY_MS) return Promise.resolve()
    const budget = Math.min(LOOKUP_MAX_MS, this.#options.timeoutMs * LOOKUP_SHARE)
    const lookup = this.#readTools(pending.headers, Date.now() + budget).finally(() => {
      this.#lookups.delete(caller)
      if (this.#lookedUp.size >= MAX_LOOKUP_CALLERS) this.#lookedUp.clear()
      this.#lookedUp.set(caller, Date.now())
    })
    this.#lookups.set(caller, lookup)
    return lookup
  }

  async #readTools(headers: HeaderMap | undefined, deadline: number): Promise<void> {
    let cursor: unknown
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      const left = deadline - Date.now()
      if (left <= 0) return
      const response = await this.request(
        'tools/list',
        typeof cursor === 'string' ? { cursor } : {},
        { timeoutMs: left, ...(headers === undefined ? {} : { headers }) },
      ).catch(() => undefined)
      const result = response?.result
      if (!isObject(result)) return
      cursor = result.nextCursor
      if (typeof cursor !== 'string') return
    }
  }

  /** The request with its client's envelope in `_meta` (the client's own keys kept). */
  #enveloped(message: JsonRpcRequest, sink: CallSink | undefined): JsonRpcRequest {
    const envelope = this.#envelopeFor(sink)
    const params = message.params ?? {}
    const meta = params._meta
    return {
      ...message,
      params: { ...params, _meta: isObject(meta) ? { ...meta, ...envelope } : envelope },
    }
  }

  #envelopeFor(sink: CallSink | undefined): JsonObject {
    const stateless = sink?.statelessMeta
    if (stateless !== undefined) {
      return { ...stateless, [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION }
    }
    const session = sessionOf(sink?.owner)
    if (session === undefined) return this.#ownMeta
    const init = session.initParams
    const envelope: JsonObject = {
      [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
      [META_CLIENT_CAPABILITIES]: isObject(init.capabilities) ? init.capabilities : {},
      // A 2025 session gets a server's log lines until it sets a level; the revision sends
      // none unless asked, so a session that set none asks for all (its filter still applies).
      [META_LOG_LEVEL]: session.logLevel?.() ?? 'debug',
    }
    if (isObject(init.clientInfo)) envelope[META_CLIENT_INFO] = init.clientInfo
    return envelope
  }

  /**
   * Asks the call's client each request of an `input_required` answer, over its session (the
   * call's sink relays them as a 2025 backend's requests), and collects the answers by key.
   */
  async #ask(round: InputRound, pending: Pending): Promise<JsonObject> {
    const requests = round.inputRequests
    const keys = isObject(requests) ? Object.keys(requests) : []
    if (keys.length > MAX_INPUT_REQUESTS) {
      throw this.#cannotAsk(
        `asked for ${keys.length} inputs at once (at most ${MAX_INPUT_REQUESTS})`,
      )
    }
    // Every request is checked before any goes out: the client is never asked for a call
    // that then fails on the next one.
    const asks: Array<{ key: string; method: string; params: JsonObject }> = []
    for (const key of keys) {
      const ask = (requests as JsonObject)[key]
      if (!isObject(ask) || typeof ask.method !== 'string' || !(ask.method in CAPABILITY_OF)) {
        throw this.#cannotAsk(`asked for input with a request that is not one a client answers`)
      }
      const method = ask.method
      const sink = pending.sink
      if (sink === undefined || !(sink.accepts?.(method) ?? true)) {
        throw this.#cannotAsk(
          `asked for ${method}, which this client cannot answer (it declared no ${CAPABILITY_OF[method]} capability)`,
        )
      }
      asks.push({ key, method, params: isObject(ask.params) ? ask.params : {} })
    }
    const answers: JsonObject = {}
    const ids = asks.map(() => `ask-${++this.#nextAsk}`)
    const asking = asks.map(({ key, method, params }, index) =>
      this.#askOne(ids[index] as string, method, params, pending).then((result) => {
        answers[key] = result
      }),
    )
    try {
      await Promise.all(asking)
    } catch (error) {
      // One was refused (or the call ended): the others are withdrawn, not left waiting for
      // answers nothing will take.
      for (const id of ids) this.#withdraw(id, pending)
      throw error
    }
    return answers
  }

  /** Stops waiting for the client's answer to `id`, and tells the client (false: not asked). */
  #withdraw(id: string, pending: Pending): boolean {
    if (!this.#asked.delete(id)) return false
    // The client is told to stop asking its user (the relay translates the id).
    this.receive(
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } },
      pending,
    )
    return true
  }

  /** One request to the call's client; settles with its result, or fails with the call. */
  #askOne(id: string, method: string, params: JsonObject, pending: Pending): Promise<JsonObject> {
    return new Promise<JsonObject>((resolve, reject) => {
      const signal = pending.signal
      const onAbort = () => {
        if (this.#withdraw(id, pending)) reject(new PorticoError('cancelled'))
      }
      this.#asked.set(id, (outcome) => {
        signal?.removeEventListener('abort', onAbort)
        if (isObject(outcome.result)) resolve(outcome.result)
        else reject(this.#refused(method, outcome.error))
      })
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      this.receive({ jsonrpc: '2.0', id, method, params }, pending)
    })
  }

  /** The client's answer to one of the gateway's requests (`Connection.answer` sends it here). */
  #answered(response: JsonRpcResponse): void {
    const key = String(response.id)
    const take = this.#asked.get(key)
    if (take === undefined) return
    this.#asked.delete(key)
    take(response as unknown as JsonObject)
  }

  #cannotAsk(what: string): PorticoError {
    return new PorticoError('backend_failed', {
      message: `Backend ${this.backend} ${what}`,
      data: { backend: this.backend },
    })
  }

  #refused(method: string, error: unknown): PorticoError {
    const said = isObject(error) && typeof error.message === 'string' ? `: ${error.message}` : ''
    return new PorticoError('backend_failed', {
      message: `The client did not answer the ${method} backend ${this.backend} asked for${said.slice(0, 300)}`,
      data: { backend: this.backend },
    })
  }

  /**
   * A subscription changes what the listen stream asks for, answered at once: the revision has
   * no subscribe request, and the backend learns of it when the stream is opened again.
   */
  #subscription(message: JsonRpcRequest, pending: Pending): void {
    const uri = message.params?.uri
    const respond = (response: Omit<JsonRpcResponse, 'jsonrpc' | 'id'>) =>
      this.settle(pending, { jsonrpc: '2.0', id: pending.id, ...response } as JsonRpcResponse)
    if (typeof uri !== 'string') {
      respond({ error: { code: -32602, message: 'resources/subscribe needs a "uri"' } })
      return
    }
    if (!this.info?.capabilities || !isObject(this.info.capabilities.resources)) {
      respond({ error: { code: -32601, message: `Backend ${this.backend} has no resources` } })
      return
    }
    if (this.info.capabilities.resources.subscribe !== true) {
      respond({
        error: { code: -32601, message: `Backend ${this.backend} offers no resource updates` },
      })
      return
    }
    if (message.method === 'resources/unsubscribe') {
      if (this.#subscribed.delete(uri)) this.#subscribedChars -= uri.length
    } else if (!this.#subscribed.has(uri)) {
      const full =
        this.#subscribed.size >= MAX_SUBSCRIBED ||
        this.#subscribedChars + uri.length > MAX_SUBSCRIBED_CHARS
      if (full) {
        respond({
          error: {
            code: -32603,
            message: `Backend ${this.backend} has as many resources subscribed as its listen stream carries (${MAX_SUBSCRIBED} URIs, ${MAX_SUBSCRIBED_CHARS / 1024} KiB of them)`,
          },
        })
        return
      }
      this.#subscribed.add(uri)
      this.#subscribedChars += uri.length
    } else {
      respond({ result: {} })
      return
    }
    respond({ result: {} })
    this.#listen.reopenSoon()
  }

  override close(): Promise<void> {
    this.#listen.close()
    return super.close()
  }
}

/**
 * What a listen stream asks for: the list changes the backend declared it announces, and the
 * subscribed resources' updates; undefined when there is nothing to listen for.
 */
function listenFilter(
  capabilities: JsonObject | undefined,
  subscribed: ReadonlySet<string>,
): JsonObject | undefined {
  const announces = (kind: string) => {
    const capability = capabilities?.[kind]
    return isObject(capability) && capability.listChanged === true
  }
  const filter: JsonObject = {}
  if (announces('tools')) filter.toolsListChanged = true
  if (announces('prompts')) filter.promptsListChanged = true
  if (announces('resources')) filter.resourcesListChanged = true
  if (subscribed.size > 0) filter.resourceSubscriptions = [...subscribed]
  return Object.keys(filter).length === 0 ? undefined : filter
}

/** The headers 2026-07-28 mirrors from a request's body. */
function modernHeaders(
  message: JsonRpcRequest,
  marks: ReadonlyMap<string, readonly HeaderParam[]>,
): HeaderMap {
  const headers: HeaderMap = {
    'mcp-protocol-version': MODERN_PROTOCOL_VERSION,
    'mcp-method': message.method,
  }
  const params = message.params
  const name =
    message.method === 'tools/call' || message.method === 'prompts/get'
      ? params?.name
      : message.method === 'resources/read'
        ? params?.uri
        : undefined
  if (typeof name === 'string') headers['mcp-name'] = headerText(name)
  if (message.method === 'tools/call' && typeof name === 'string') {
    const declared = marks.get(name)
    if (declared !== undefined && declared.length > 0) {
      Object.assign(headers, paramHeadersOf(declared, params?.arguments))
    }
  }
  return headers
}

/** A caller's key for lookups: the digest of its identity headers (never the token itself). */
function callerKey(headers: HeaderMap | undefined): string {
  if (headers === undefined) return ''
  return createHash('sha256').update(JSON.stringify(headers)).digest('base64url')
}

/** The session a call's sink belongs to (relay sinks are owned by their client session). */
function sessionOf(owner: object | string | undefined): SessionRef | undefined {
  if (typeof owner !== 'object' || owner === null) return undefined
  return 'initParams' in owner && 'key' in owner ? (owner as SessionRef) : undefined
}

/**
 * A backend that did not take `server/discover` as a 2026-07-28 server. `legacy`: its answer
 * says it serves the 2025 revisions (http-backend.ts then gives it sessions); else it said
 * nothing about its revision (a refusal any request would get).
 */
function notModern(backend: string, why: string, legacy: boolean, status?: number): PorticoError {
  const said = legacy
    ? `does not serve ${MODERN_PROTOCOL_VERSION}`
    : 'did not say which MCP revision it serves'
  return new PorticoError('backend_failed', {
    message: `Backend ${backend} ${said}: ${why.slice(0, 300)}`,
    data: { backend, legacy, ...(status === undefined ? {} : { status }) },
  })
}

/**
 * Whether a status answering `server/discover` tells a server without it: 404 or 405, an
 * answer without a response (2xx, 3xx), or another 4xx whose body is a JSON-RPC error (a 2025
 * server's "no session"); not "later" (408, 429), not credentials (401, 403), not a failing
 * server (5xx), and not a 400 without a JSON-RPC body (an auth layer's `invalid_request`).
 */
function isLegacyRefusal(status: number, jsonRpcBody: boolean): boolean {
  if (status >= 500 || CREDENTIALS_OR_LATER.includes(status)) return false
  return status < 400 || status === 404 || status === 405 || jsonRpcBody
}

const CREDENTIALS_OR_LATER: readonly number[] = [401, 403, 408, 429]

/** A probe refused for its credentials: one made with a caller's may be answered. */
export function refusedCredentials(error: unknown): boolean {
  if (!(error instanceof PorticoError) || !isObject(error.data)) return false
  return error.data.status === 401 || error.data.status === 403
}

/** Whether a failed `server/discover` showed the backend serves the 2025 revisions. */
export function revealsLegacy(error: unknown): boolean {
  return error instanceof PorticoError && isObject(error.data) && error.data.legacy === true
}
