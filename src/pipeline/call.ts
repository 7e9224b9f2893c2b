/**
 * A `Call` is one client→server JSON-RPC message, decoded once and classified once: what every
 * middleware, the terminal step and the recorder work on. It is immutable by convention: a
 * middleware that changes the message passes a new call to `next` (`withMessage`), so the
 * original bytes are forwarded only while nobody changed the message.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { askUncoded, forwardHeaders, type HeaderMap, type RequestInfo } from '../http/headers.ts'
import {
  type Decoded,
  encodeValues,
  type JsonRpcId,
  type JsonRpcMessage,
  type MessageKind,
} from '../jsonrpc/message.ts'
import {
  type ClientInfo,
  clientInfoOf,
  type Era,
  eraOf,
  modernVersionOf,
  requestedVersionOf,
  type Target,
  targetOf,
} from '../protocol/classify.ts'
import type { Identity } from './identity.ts'
import { CallLifetime } from './lifetime.ts'
import type { CallSignal } from './signal.ts'
import { formatTraceparent, type TraceContext } from './trace-context.ts'

/** How the client reached Portico: Streamable HTTP, or the legacy HTTP+SSE transport. */
export type ClientTransport = 'streamable-http' | 'sse'

/** What the chain learned about a call, for the recorder (and metrics, later tracing). */
export interface CallNotes {
  /** Gateway backend that served the call. */
  backend?: string
  /**
   * The tool search mode's `call_tool` ran for this call: its record, audit line and metrics
   * name that tool, as a direct call's would (they named `call_tool` for every tool).
   */
  ranTool?: string
  /**
   * The response cache's count of resource updates when this read missed it: an update on its
   * way makes its answer one not to keep (protect/cache.ts).
   */
  cacheUpdates?: number
  /** Portico's reason when the call failed on Portico's side (a `Reason`, see errors.ts). */
  reason?: string
  /** HTTP status the upstream answered with. */
  upstreamStatus?: number
  /** Session id an `initialize` answer created (the request had none yet). */
  sessionId?: string
  /** Traffic protection: answered from the response cache, or shared with an identical call. */
  cache?: 'hit' | 'miss' | 'coalesced'
  /** Traffic protection: milliseconds spent waiting for a concurrency slot. */
  queuedMs?: number
  /** Traffic protection: attempts repeated after a failure, and extra hedged attempts. */
  retries?: number
  hedges?: number
  /** Traffic protection: the circuit breaker transition this call caused. */
  breaker?: 'open' | 'half_open' | 'closed' | 'ejected'
  /**
   * The client cancelled it (transparent mode: its `notifications/cancelled` named the call):
   * an answer that never comes is that cancel's outcome, not the upstream's failure.
   */
  cancelled?: boolean
  /**
   * A request of the server's went to the client for this call (sampling, elicitation, roots):
   * its answer depends on the client's, so it is not the upstream's alone to cache or share.
   */
  askedClient?: boolean
  /**
   * A gateway backend related something to the client for this call (progress, a log line, a
   * request): an attempt is answering, as a streamed answer's first message says in
   * transparent mode, so hedging sends no more attempts.
   */
  related?: boolean
  /**
   * The highest progress value relayed to the client for this call (gateway): later attempts
   * (hedges, retries, a failover to another backend) relay only higher ones, as MCP requires
   * progress to increase.
   */
  progress?: number
  /**
   * The request id of the attempt whose request went to the client (a hedge's own id, or the
   * call's): that attempt holds the client's answer, so only its answer may win a hedge race.
   */
  askedBy?: JsonRpcId
  /**
   * Told when `askedClient` is set (coalescing lets the calls waiting on this one go): an
   * object with a method, not a closure made for every call.
   */
  askedClientWatcher?: { clientAsked(): void }
  /** The call's outcome, JSON-RPC error code and HTTP status, once its answer is written. */
  outcome?: string
  errorCode?: number
  httpStatus?: number
}

export interface Call {
  readonly message: JsonRpcMessage
  readonly kind: MessageKind
  /** The JSON-RPC id of a request. */
  readonly id?: JsonRpcId
  readonly method?: string
  readonly target?: Target
  readonly era: Era
  readonly sessionId?: string
  readonly protocolVersion?: string
  readonly client?: ClientInfo
  readonly transport: ClientTransport
  /** True when the message came in a JSON-RPC batch. */
  readonly batched: boolean
  /** The client's request headers (read-only; never forwarded blindly to other hosts). */
  readonly headers: IncomingHttpHeaders
  readonly request: RequestInfo
  /** Who is calling, as the authentication filter verified it; undefined when auth is off. */
  readonly identity: Identity | undefined
  /**
   * Aborted when the client goes away or the call is cancelled (a cheap CallSignal, see
   * signal.ts; `asAbortSignal()` gives a real one to APIs that insist).
   */
  readonly signal: CallSignal
  /** Annotations for the recorder; shared by every copy of the call made along the chain. */
  readonly notes: CallNotes
  /** Ends when the call's answer is complete (shared by every copy of the call). */
  readonly lifetime: CallLifetime
  /** Overrides the upstream's configured timeout for this call (gateway list fan-out). */
  readonly timeoutMs?: number
  /** The upstream the call is sent to, inside an upstream's chain (a backend's name). */
  readonly upstream?: string
  /**
   * The number of the extra attempt hedging sent (1, 2, …); undefined for the call's own. A
   * hedge is speculative: it takes a free concurrency slot or none, never a queue place.
   */
  readonly hedge?: number
  /**
   * W3C trace context of the span this call runs in (set by tracing; the client's, when it sent
   * one that is not sampled): sent upstream as the `traceparent` header and, to gateway
   * backends, in `params._meta.traceparent` (`traceparentOf`).
   */
  readonly trace?: TraceContext
  /**
   * What the caller may see, when authorization restricts it: set on calls to tools that list
   * on the caller's behalf (tool discovery), so their answers leave out what it may not use.
   * Undefined: everything.
   */
  readonly visible?: (kind: 'tool' | 'resource' | 'prompt', name: string) => boolean
  /**
   * Legacy HTTP+SSE only: the terminal calls it once the upstream accepted the POSTed message,
   * so Portico can answer the client's POST while the response is still to come on the stream.
   */
  readonly forwarded?: () => void
  /**
   * A `tools/call` the gateway makes on a client's behalf (search mode's `call_tool`, a
   * composite's members; gateway/reenter.ts). The outer call already spent the caller's
   * budgets that count requests rather than tools (`[proxy.rate_limit]` in all, per client,
   * per session): the inner call must not spend them again.
   */
  readonly onBehalf?: boolean
  /**
   * A call made on a client's behalf that is judged as the client's own request: `call_tool`'s
   * inner call, made "exactly as a direct call". It spends the request budgets, and `call_tool`
   * itself spends none: a call its target's rule refuses (a role, a `per_tool` limit) then
   * spends nothing, as a direct call refused so does. A composite's members do not (the
   * composite call spent them once).
   */
  readonly countsAsRequest?: boolean
  /**
   * Where a call made on a client's behalf writes the messages related to it (progress, log
   * lines, the backend's requests for input): the outer call's answer, which the client reads.
   * Answered as one JSON message, the inner call had them sent to the session's GET stream, and
   * a client without one waited for its elicitation until the backend's deadline.
   */
  readonly relatedTo?: (message: Record<string, unknown>) => boolean
  /**
   * Filled by the gateway's copy of a call for one backend (`BackendCall`: the session it runs
   * for, where the backend's related messages go). Declared here only so that every call has
   * the slots from the start (see `classify`).
   */
  readonly ref?: unknown
  readonly sinkFor?: unknown
}

/**
 * A 2026-07-28 `subscriptions/listen`: a stream that lasts until the client closes it, as a
 * GET stream does. No call deadline and no concurrency slot apply to it (each cut every listen
 * at the deadline, or let a few idle listeners starve every real call).
 */
export function isListenStream(call: Call): boolean {
  return call.method === 'subscriptions/listen'
}

/** The exact bytes a message arrived with, while it is unchanged (keyed by the message object). */
const RAW = new WeakMap<object, Buffer>()

/** The original bytes of the call's message, or undefined once a middleware replaced it. */
export function rawBytesOf(call: Call): Buffer | undefined {
  return RAW.get(call.message)
}

/**
 * The bytes a call is forwarded with: as they came, or its message written again. One that
 * cannot be written (nested too deeply) is the client's invalid params: never the upstream's
 * bad response, which a client could send again and again to open the breaker for everyone.
 */
export function forwardedBytesOf(call: Call): Buffer {
  return rawBytesOf(call) ?? Buffer.from(encodeValues(call.message))
}

/**
 * The headers a call is forwarded with: the client's end-to-end ones, its trace context, and
 * `accept-encoding: identity`. Portico reads MCP answers (SSE events, list filters, CSP
 * rewriting, outcomes), and a gzip body it passed on undecoded would be read as garbage; on
 * loopback or a LAN compression saves little for JSON-RPC.
 */
export function upstreamHeadersOf(call: Call): HeaderMap {
  const headers = forwardHeaders(call.headers, call.request)
  askUncoded(headers)
  const traceparent = traceparentOf(call)
  if (traceparent !== undefined) headers.traceparent = traceparent
  return headers
}

/** The `traceparent` text a call is sent upstream with, if it runs in a trace. */
export function traceparentOf(call: Call): string | undefined {
  return call.trace === undefined ? undefined : formatTraceparent(call.trace)
}

/** A copy of the call carrying another message (its target is classified again). */
export function withMessage(call: Call, message: JsonRpcMessage): Call {
  const target = targetOf(message)
  const next: Call = { ...call, message }
  return target ? { ...next, target, method: target.method } : next
}

export interface CallSource {
  headers: IncomingHttpHeaders
  request: RequestInfo
  signal: CallSignal
  transport: ClientTransport
  /** The session named by the transport (legacy SSE: the `sessionId` query parameter). */
  sessionId?: string
  /** The whole body: kept as the message's bytes when the body is a single message. */
  body?: Buffer
  /** The identity the HTTP filters verified for the request. */
  identity?: Identity | undefined
}

/** One classified Call per message of a decoded body. */
export function buildCalls(decoded: Decoded, source: CallSource): Call[] {
  const headers = source.headers
  const session = source.sessionId ?? headerOf(headers, 'mcp-session-id')
  const headerVersion = headerOf(headers, 'mcp-protocol-version')
  const calls = decoded.messages.map((message, index) =>
    classify(
      message,
      decoded.kinds[index] ?? 'request',
      decoded.batch,
      session,
      headerVersion,
      source,
    ),
  )
  const only = decoded.messages[0]
  // A message decoding replaced (a malformed answer's stand-in) is sent as it now is.
  if (!decoded.batch && decoded.invalid === undefined && source.body !== undefined && only)
    RAW.set(only, source.body)
  return calls
}

function classify(
  message: JsonRpcMessage,
  kind: MessageKind,
  batched: boolean,
  session: string | undefined,
  headerVersion: string | undefined,
  source: CallSource,
): Call {
  const target = targetOf(message)
  const version = modernVersionOf(message) ?? requestedVersionOf(message) ?? headerVersion
  const client = clientInfoOf(message)
  const era = eraOf(message, headerVersion, session)
  // A stateless (2026-07-28) request is served statelessly whatever `Mcp-Session-Id` it carries:
  // the modern spec has a server ignore that header, and a session's stream would push the
  // backend's requests to a client that cannot answer them. The legacy SSE transport's session
  // is its stream (where every answer goes), so it stays.
  const sessionId = era === 'modern' && source.sessionId === undefined ? undefined : session
  // Built with every field present so calls share one shape (monomorphic reads downstream).
  return {
    message,
    kind,
    id: kind === 'request' && 'id' in message && message.id !== null ? message.id : undefined,
    method: target?.method,
    target,
    era,
    sessionId,
    protocolVersion: version,
    client,
    transport: source.transport,
    batched,
    headers: source.headers,
    request: source.request,
    identity: source.identity,
    signal: source.signal,
    notes: {},
    lifetime: new CallLifetime(),
    // Present (undefined) from the start, so that copies setting them (`{ ...call, upstream }`,
    // `{ ...call, trace }`, the gateway's `{ ...call, ref, sinkFor }`) keep the calls' one shape
    // and V8's fast clone path. A copy that adds a property the original lacks is not only
    // slower: on Node 20 and 22 every such copy, and all it points to, survived V8's young
    // collections (perf2 log step 36; test/unit/call-shape.test.ts).
    upstream: undefined,
    timeoutMs: undefined,
    trace: undefined,
    visible: undefined,
    forwarded: undefined,
    onBehalf: undefined,
    relatedTo: undefined,
    ref: undefined,
    sinkFor: undefined,
  } as Call
}

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

export type { ClientInfo, Era, Identity, RequestInfo, Target }

/** Notes that a request of the server's went to the client for this call (see `askedClient`). */
export function noteAskedClient(notes: CallNotes): void {
  if (notes.askedClient === true) return
  notes.askedClient = true
  notes.askedClientWatcher?.clientAsked()
}
