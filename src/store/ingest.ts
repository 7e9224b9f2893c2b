/**
 * The writer's one job: turn a batch of events into rows, in one transaction. Exchanges become
 * `exchanges` rows (stamped with their session and client), and update the per-minute rollups,
 * the sessions, the clients and, for schema methods, the schema snapshots and their history.
 * Events arrive already bounded (bound.ts); the tables clients can make grow (sessions,
 * clients) are capped per proxy (row-cap.ts).
 */

import type { Transaction } from 'better-sqlite3'
import type { ExchangeEvent, NotificationEvent, PorticoEvent } from '../observe/event.ts'
import { cutText, MAX_ERROR_MESSAGE } from './bound.ts'
import type { Db } from './open.ts'
import { COUNTED_KINDS, RollupBatch } from './rollup.ts'
import { RowCap } from './row-cap.ts'
import { SchemaRecorder } from './schema-recorder.ts'
import {
  MAX_SESSIONS_PER_PROXY,
  type SessionClient,
  type SessionDelta,
  SessionTracker,
} from './sessions.ts'
import { SseLinker } from './sse-link.ts'
import { StringIds } from './strings.ts'

/** `ok`, `error` (JSON-RPC error, tool error, HTTP failure) or `cancelled`. */
export function statusOf(outcome: ExchangeEvent['outcome']): 'ok' | 'error' | 'cancelled' {
  if (outcome === 'ok' || outcome === 'cancelled') return outcome
  return 'error'
}

const COUNTED = new Set(COUNTED_KINDS)
/** Distinct (name, version) clients one proxy may hold; retention frees room. */
export const MAX_CLIENTS_PER_PROXY = 10_000

export interface IngestorOptions {
  maxSessions?: number
  maxClients?: number
}

export class Ingestor {
  readonly #db: Db
  readonly #sessions: SessionTracker
  readonly #schema: SchemaRecorder
  readonly #strings: StringIds
  readonly #sse = new SseLinker()
  readonly #clientCap: RowCap
  readonly #insert
  readonly #touchProxy
  readonly #addDropped
  readonly #updateClient
  readonly #insertClient
  readonly #transaction: Transaction<
    (events: Iterable<PorticoEvent>, dropped: number, proxy?: string) => void
  >

  /** Takes over what `previous`, the ingestor of the store this one replaces, knew of sessions. */
  adopt(previous: Ingestor): void {
    this.#sessions.adopt(previous.#sessions)
  }

  constructor(db: Db, options: IngestorOptions = {}) {
    this.#db = db
    this.#sessions = new SessionTracker(db, options.maxSessions ?? MAX_SESSIONS_PER_PROXY)
    this.#schema = new SchemaRecorder(db)
    this.#strings = new StringIds(db)
    this.#clientCap = new RowCap(db, 'clients', options.maxClients ?? MAX_CLIENTS_PER_PROXY)
    this.#insert = db.prepare(INSERT_EXCHANGE)
    this.#touchProxy = db.prepare(
      `INSERT INTO proxies (name, first_seen, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen),
         first_seen = min(first_seen, excluded.first_seen)`,
    )
    this.#addDropped = db.prepare(
      `INSERT INTO proxies (name, first_seen, last_seen, dropped_events) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET dropped_events = dropped_events + excluded.dropped_events`,
    )
    this.#updateClient = db.prepare(
      `UPDATE clients SET last_seen = max(last_seen, @last), first_seen = min(first_seen, @first),
         user_agent = coalesce(user_agent, @userAgent)
       WHERE proxy = @proxy AND name = @name AND version = @version`,
    )
    this.#insertClient = db.prepare(
      `INSERT INTO clients (proxy, name, version, platform, user_agent, first_seen, last_seen)
       VALUES (@proxy, @name, @version, @platform, @userAgent, @first, @last)`,
    )
    this.#transaction = db.transaction(
      (events: Iterable<PorticoEvent>, dropped: number, proxy?: string) => {
        this.#strings.sync()
        this.#ingest(events)
        if (dropped > 0 && proxy) {
          const now = Date.now()
          this.#addDropped.run(proxy, now, now, dropped)
        }
      },
    )
  }

  /** Writes one batch atomically; `dropped` is how many events the proxy dropped meanwhile. */
  write(events: Iterable<PorticoEvent>, dropped = 0, proxy?: string): void {
    try {
      // Immediate: the write lock is taken first, so a prune of strings by another process
      // cannot commit between reading the strings generation and using cached ids.
      this.#transaction.immediate(events, dropped, proxy)
    } catch (error) {
      // Whatever the caches learned from this batch was rolled back with it.
      this.#strings.forget()
      this.#schema.forget()
      this.#sessions.forget()
      this.#clientCap.forget()
      throw error
    }
  }

  #ingest(events: Iterable<PorticoEvent>): void {
    const rollup = new RollupBatch()
    const sessions = new Map<string, SessionDelta>()
    const clients = new Map<string, ClientSighting>()
    /**
     * Each proxy's oldest and newest event of the batch: a call recorded late (a slow one, ended
     * after faster ones were written) is older than the proxy's first row written.
     */
    const proxies = new Map<string, { first: number; last: number }>()
    for (const event of events) {
      const seen = proxies.get(event.proxy)
      if (seen === undefined) proxies.set(event.proxy, { first: event.ts, last: event.ts })
      else {
        if (event.ts < seen.first) seen.first = event.ts
        if (event.ts > seen.last) seen.last = event.ts
      }
      if (event.type === 'notification') {
        this.#schema.notification(event)
        this.#notification(event, sessions)
        continue
      }
      this.#sse.seen(event)
      const linked = this.#sse.stream(event)
      const session = linked ? { id: linked, groupKey: null } : this.#sessions.resolve(event)
      const client = this.#sessions.clientOf(event, session?.id)
      const status = statusOf(event.outcome)
      this.#insertExchange(event, session?.id, client)
      if (session) trackSession(sessions, event, session, client, status)
      // Only identifying messages (initialize, modern requests) say who the client is, and a
      // live session's client once in a store opened anew (`adopt`).
      if (client && (event.client || this.#sessions.firstSighting(event.proxy, session?.id))) {
        sightClient(clients, event, client)
      }
      if (COUNTED.has(event.kind)) {
        rollup.add({
          proxy: event.proxy,
          ts: event.ts,
          method: event.method,
          targetKind: event.targetKind ?? '',
          name: event.name ?? '',
          error: status === 'error',
          latencyUs: event.durationUs,
          bytesIn: event.bytesIn,
          bytesOut: event.bytesOut,
        })
      }
      if (event.result !== undefined) this.#schema.exchange(event, session?.id)
    }
    rollup.save(this.#db)
    this.#sessions.save(sessions.values())
    for (const sighting of clients.values()) this.#saveClient(sighting)
    for (const [name, seen] of proxies) this.#touchProxy.run(name, seen.first, seen.last)
  }

  #saveClient(sighting: ClientSighting): void {
    if (this.#updateClient.run(sighting).changes > 0) return
    if (!this.#clientCap.allows(sighting.proxy)) return
    this.#insertClient.run(sighting)
    this.#clientCap.added(sighting.proxy)
  }

  /**
   * A server notification worth keeping (resource updated, list changed) becomes a row of kind
   * `notification` in its session's flow, named by the resource URI when it has one. It is not
   * a request, so it counts in no call totals; it does mark the session as seen.
   */
  #notification(event: NotificationEvent, sessions: Map<string, SessionDelta>): void {
    const uri = event.params?.uri
    const row: ExchangeEvent = {
      type: 'exchange',
      ts: event.ts,
      proxy: event.proxy,
      transport: event.transport ?? 'streamable-http',
      era: event.era ?? 'legacy',
      kind: 'notification',
      method: event.method,
      outcome: 'ok',
      httpStatus: 200,
      durationUs: 0,
      bytesIn: 0,
      bytesOut: event.bytes ?? 0,
      ...(typeof uri === 'string' ? { name: uri, targetKind: 'resource' as const } : {}),
      ...(event.backend === undefined ? {} : { backend: event.backend }),
      ...(event.sessionId === undefined ? {} : { sessionId: event.sessionId }),
    }
    // Without a session id there is no flow to place it in (a stateless listen stream), unless
    // it was sent on the stream of a legacy SSE session (sse-link.ts).
    const sessionId = event.sessionId ?? this.#sse.notification(event)
    const session = sessionId ? { id: sessionId, groupKey: null } : undefined
    const client = this.#sessions.clientOf(row, session?.id)
    this.#insertExchange(row, session?.id, client)
    if (session) trackSession(sessions, row, session, client, 'ok')
  }

  /** One row; positional arguments, as binding an array or object costs more per row. */
  #insertExchange(
    event: ExchangeEvent,
    sessionId: string | undefined,
    client: SessionClient | undefined,
  ): void {
    const text = this.#strings
    this.#insert.run(
      event.ts,
      text.id(event.proxy),
      sessionId ?? null,
      text.optional(client?.name),
      text.optional(client?.platform),
      text.id(event.era),
      text.id(event.transport),
      text.id(event.kind),
      text.id(event.method),
      text.optional(event.targetKind),
      text.optional(event.name),
      event.jsonrpcId === undefined ? null : String(event.jsonrpcId),
      text.id(event.outcome),
      event.errorCode ?? null,
      event.errorMessage === undefined ? null : cutText(event.errorMessage, MAX_ERROR_MESSAGE),
      text.optional(event.reason),
      event.httpStatus,
      event.durationUs,
      event.bytesIn,
      event.bytesOut,
      text.optional(event.subject),
      text.optional(event.authClient),
      text.optional(event.via),
    )
  }
}

interface ClientSighting {
  proxy: string
  name: string
  version: string
  platform: string
  userAgent: string | null
  first: number
  last: number
}

function sightClient(
  clients: Map<string, ClientSighting>,
  event: ExchangeEvent,
  client: SessionClient,
): void {
  const key = `${event.proxy}\0${client.name}\0${client.version ?? ''}`
  const seen = clients.get(key)
  if (seen) {
    seen.first = Math.min(seen.first, event.ts)
    seen.last = Math.max(seen.last, event.ts)
    return
  }
  clients.set(key, {
    proxy: event.proxy,
    name: client.name,
    version: client.version ?? '',
    platform: client.platform,
    userAgent: event.userAgent ?? null,
    first: event.ts,
    last: event.ts,
  })
}

function trackSession(
  sessions: Map<string, SessionDelta>,
  event: ExchangeEvent,
  session: { id: string; groupKey: string | null },
  client: SessionClient | undefined,
  status: string,
): void {
  const key = `${event.proxy}\0${session.id}`
  let delta = sessions.get(key)
  if (delta === undefined) {
    delta = {
      proxy: event.proxy,
      id: session.id,
      groupKey: session.groupKey,
      era: event.era,
      startedAt: event.ts,
      lastSeenAt: event.ts,
      calls: 0,
      errors: 0,
      established: false,
    }
    sessions.set(key, delta)
  }
  if (event.httpStatus < 400) delta.established = true
  delta.startedAt = Math.min(delta.startedAt, event.ts)
  delta.lastSeenAt = Math.max(delta.lastSeenAt, event.ts)
  if (client && !delta.client) delta.client = client
  if (event.userAgent && !delta.userAgent) delta.userAgent = event.userAgent
  // The version agreed on: an `initialize` result's, not the one the client asked for.
  const agreed = event.method === 'initialize' ? event.result?.protocolVersion : undefined
  if (typeof agreed === 'string' && agreed !== '') delta.protocolVersion = agreed
  else if (event.protocolVersion && !delta.protocolVersion) {
    delta.protocolVersion = event.protocolVersion
  }
  if (event.kind === 'request') {
    delta.calls++
    if (status === 'error') delta.errors++
  }
  // A successful DELETE on the MCP endpoint ends the session.
  if (event.kind === 'http' && event.method === 'DELETE' && event.httpStatus < 400) {
    delta.endedAt = event.ts
  }
  // So does the end of a legacy HTTP+SSE session's stream (its row is written when it ends):
  // the session lives as long as its stream, and a POST to it afterwards is refused. Its row
  // counted as active for five more minutes, a client reconnecting every minute as five.
  if (event.kind === 'stream' && event.transport === 'sse' && event.httpStatus < 400) {
    delta.endedAt = event.ts + Math.round(event.durationUs / 1000)
  }
}

const INSERT_EXCHANGE = `INSERT INTO exchange_rows (ts, proxy, session_id, client_name, platform,
  era, transport, kind, method, target_kind, name, jsonrpc_id, outcome, error_code,
  error_message, reason, http_status, latency_us, bytes_in, bytes_out, subject, auth_client, via)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
