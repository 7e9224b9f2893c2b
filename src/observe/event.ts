/**
 * The exchange event: one record per client↔upstream exchange, published off the hot path.
 * It carries everything the sinks (stderr, SQLite store, metrics) need, so no sink ever has
 * to look at the proxy's internals.
 */
import type { JsonObject, JsonRpcId } from '../jsonrpc/message.ts'
import type { ClientInfo, Era } from '../protocol/classify.ts'
import type { Outcome } from '../protocol/summarize.ts'

export type { Outcome }

export type ExchangeKind = 'request' | 'notification' | 'response' | 'stream' | 'http'

export type Transport = 'streamable-http' | 'sse' | 'stdio' | 'http'

export interface ExchangeEvent {
  type: 'exchange'
  /** Unix epoch milliseconds when Portico received the request. */
  ts: number
  /** Name of the proxy that recorded the exchange (several may share one store). */
  proxy: string
  /** Gateway backend that served it; absent in transparent mode. */
  backend?: string
  transport: Transport
  era: Era
  kind: ExchangeKind
  /** JSON-RPC method, or `GET`/`DELETE`/… for non-JSON-RPC HTTP exchanges. */
  method: string
  /** Tool name, prompt name or resource URI. */
  name?: string
  targetKind?: 'tool' | 'prompt' | 'resource'
  jsonrpcId?: JsonRpcId
  sessionId?: string
  protocolVersion?: string
  client?: ClientInfo
  userAgent?: string
  /** Who called, as authentication verified it (token subject or API key name); never a token. */
  subject?: string
  /** The OAuth client the caller's token was issued to. */
  authClient?: string
  /** The client's address as the socket saw it (audit: who called). */
  clientAddress?: string
  /** `'tunnel'` when the request came through the tunnel (a relay); absent for local traffic. */
  via?: 'tunnel'
  /** HTTP path for non-MCP exchanges (widgets, OAuth metadata). */
  path?: string
  outcome: Outcome
  errorCode?: number
  errorMessage?: string
  /** Portico's `reason` when Portico itself produced the error (upstream_timeout, …). */
  reason?: string
  /** Status Portico sent to the client. */
  httpStatus: number
  /** Status the upstream sent, absent when it never answered. */
  upstreamStatus?: number
  /** Microseconds from request receipt to the first response byte sent to the client. */
  firstByteUs?: number
  /** Microseconds from request receipt to the end of the exchange. */
  durationUs: number
  bytesIn: number
  bytesOut: number
  /** Traffic protection: a cache hit or miss, or an answer shared with an identical call. */
  cache?: 'hit' | 'miss' | 'coalesced'
  /** Traffic protection: milliseconds waited for a concurrency slot. */
  queuedMs?: number
  /** Traffic protection: retries and extra hedged attempts made for this call. */
  retries?: number
  hedges?: number
  /** Traffic protection: the breaker transition (or ejection) this call caused. */
  breaker?: 'open' | 'half_open' | 'closed' | 'ejected'
  /**
   * Request `params` and response `result` of schema-bearing methods only (`initialize`,
   * `server/discover`, the four list methods), so the store can capture schema and sessions.
   */
  params?: JsonObject
  result?: JsonObject
}

/** A server→client notification worth recording (list changes, resource updates). */
export interface NotificationEvent {
  type: 'notification'
  ts: number
  proxy: string
  backend?: string
  sessionId?: string
  /** Client-facing transport and era of the stream it was sent on. */
  transport?: Transport
  era?: Era
  method: string
  params?: JsonObject
  /** Size of the notification as sent to the client. */
  bytes?: number
}

export type PorticoEvent = ExchangeEvent | NotificationEvent

/** Methods whose request params and result are attached to the event for schema capture. */
export const SCHEMA_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'server/discover',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'prompts/list',
])

/** Server notifications recorded as NotificationEvents. */
export const RECORDED_NOTIFICATIONS: ReadonlySet<string> = new Set([
  'notifications/tools/list_changed',
  'notifications/resources/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/updated',
])
