/**
 * The cloud / webhook sink (mcpr's `[cloud]`): every exchange and recorded notification as a
 * JSON envelope (mcpr's v1 shape: `{v, ts, server, kind, payload}`), POSTed in batches of
 * `batch_size` or every `flush_interval_ms` to any endpoint, with `Authorization: Bearer
 * <token>` when a token is set. Built on BatchPoster: bounded buffer, retries with backoff,
 * drops counted, the proxy never waits. Payloads carry what the metrics see (method, tool,
 * backend, outcome, latency, bytes, session, client) and never params, results or headers.
 */
import type { ClientInfo } from '../protocol/classify.ts'
import { clipText } from '../util/format.ts'
import { BatchPoster, jsonArray } from './batch-post.ts'
import type { Sink } from './bus.ts'
import type { ExchangeEvent, NotificationEvent, PorticoEvent } from './event.ts'
import { SessionClients } from './session-clients.ts'
import type { PipeStats, StatsSource } from './status.ts'

export interface WebhookOptions {
  url: string
  token?: string
  /** Copied into every envelope (mcpr's server slug). */
  server?: string
  batchSize?: number
  flushIntervalMs?: number
  maxBuffer?: number
  maxAttempts?: number
  backoffMs?: number
  onError?: (message: string) => void
  /** Sink name in metrics and logs. */
  name?: string
}

export interface Envelope {
  v: 1
  ts: string
  server: string
  kind: 'request' | 'notification'
  payload: Record<string, unknown>
}

export interface WebhookSink extends Sink, StatsSource {}

export function webhookSink(options: WebhookOptions): WebhookSink {
  const server = options.server ?? ''
  // Each envelope is written into its batch's bytes as it comes: nothing per event waits for
  // the batch (objects would be copied by every young-generation GC for up to the interval).
  const poster = new BatchPoster({
    name: options.name ?? 'webhook',
    url: options.url,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    batchSize: options.batchSize ?? 100,
    flushIntervalMs: options.flushIntervalMs ?? 5000,
    maxBuffer: options.maxBuffer ?? 10_000,
    maxAttempts: options.maxAttempts ?? 3,
    backoffMs: options.backoffMs ?? 1000,
    format: jsonArray('[', ']'),
    ...(options.onError ? { onError: options.onError } : {}),
  })
  const clients = new SessionClients()
  return {
    name: poster.name,
    write(events) {
      for (const event of events) {
        poster.push(JSON.stringify(envelopeOf(event, server, clients)))
      }
    },
    pipeStats: (): PipeStats => poster.pipeStats(),
    close: () => poster.close(),
  }
}

/** `clients` names the client of a session's later calls (its `initialize` named it once). */
export function envelopeOf(
  event: PorticoEvent,
  server: string,
  clients?: SessionClients,
): Envelope {
  return {
    v: 1,
    ts: new Date(event.ts).toISOString(),
    server,
    kind: event.type === 'exchange' ? 'request' : 'notification',
    payload:
      event.type === 'exchange'
        ? exchangePayload(event, clients?.of(event) ?? event.client)
        : notificationPayload(event),
  }
}

function exchangePayload(
  e: ExchangeEvent,
  client: ClientInfo | undefined,
): Record<string, unknown> {
  return {
    kind: e.kind === 'http' || e.kind === 'stream' ? 'http' : 'mcp',
    proxy: e.proxy,
    request_id: e.jsonrpcId === undefined ? null : clipped(e.jsonrpcId),
    session_id: e.sessionId === undefined ? null : clipText(e.sessionId),
    method: clipText(e.method),
    name: e.name === undefined ? null : clipText(e.name),
    target_kind: e.targetKind ?? null,
    backend: e.backend ?? null,
    transport: e.transport,
    outcome: e.outcome,
    reason: e.reason ?? null,
    error_code: e.errorCode ?? null,
    http_status: e.httpStatus,
    upstream_status: e.upstreamStatus ?? null,
    latency_us: e.durationUs,
    first_byte_us: e.firstByteUs ?? null,
    bytes_in: e.bytesIn,
    bytes_out: e.bytesOut,
    client_name: client?.name === undefined ? null : clipText(client.name),
    client_version: client?.version === undefined ? null : clipText(client.version),
    user_agent: e.userAgent === undefined ? null : clipText(e.userAgent),
  }
}

/**
 * An id as the client chose it, at most 256 characters (clipText): an event of megabytes,
 * times the buffer's bound, while the endpoint is slow, is memory lost.
 */
function clipped(id: string | number): string | number {
  return typeof id === 'string' ? clipText(id) : id
}

function notificationPayload(e: NotificationEvent): Record<string, unknown> {
  return {
    proxy: e.proxy,
    method: clipText(e.method),
    session_id: e.sessionId === undefined ? null : clipText(e.sessionId),
    backend: e.backend ?? null,
  }
}
