/**
 * Session resolution in the writer: which session an exchange belongs to, and which client
 * that session is. Legacy sessions are named by the `Mcp-Session-Id` header (or the legacy SSE
 * `sessionId`). Requests without one (2026-07-28 stateless requests, stateless legacy servers)
 * are grouped by client identity: the same client (`_meta` client info, else User-Agent) of the
 * same verified caller (token subject or API key name, when authenticated) with no gap over
 * IDLE_GAP_MS forms one Portico session, whose id starts with `~`.
 *
 * Session ids come from clients, so a made-up one must not create a row: a session row is
 * created only by an exchange that succeeded (a made-up id gets 404 from the server), and at
 * most `maxSessions` rows per proxy exist (`RowCap`); refused sessions keep their rows in
 * `exchanges`, only the session summary is missing.
 */
import { createHash } from 'node:crypto'
import type { ExchangeEvent } from '../observe/event.ts'
import type { Db } from './open.ts'
import { platformOf } from './platform.ts'
import { RowCap } from './row-cap.ts'

export const IDLE_GAP_MS = 30 * 60_000
/** Sessions rows one proxy may hold; retention frees room. */
export const MAX_SESSIONS_PER_PROXY = 100_000
const CACHE_LIMIT = 20_000

export interface SessionClient {
  name: string
  version?: string
  platform: string
}

/** What one batch changes in a session row. */
export interface SessionDelta {
  proxy: string
  id: string
  groupKey: string | null
  era: string
  client?: SessionClient
  userAgent?: string
  protocolVersion?: string
  startedAt: number
  lastSeenAt: number
  endedAt?: number
  calls: number
  errors: number
  /** An exchange of the batch succeeded (HTTP status below 400): the session exists. */
  established: boolean
}

const JSON_RPC_KINDS = new Set(['request', 'notification', 'response'])

export class SessionTracker {
  readonly #groups = new Map<string, { id: string; last: number }>()
  /** Stateless legacy clients send clientInfo once (initialize); later requests only a UA. */
  readonly #clientByAgent = new Map<string, string>()
  readonly #clients = new Map<string, SessionClient | null>()
  readonly #findGroup
  readonly #findClient
  readonly #update
  readonly #insert
  readonly #cap: RowCap

  /** Clients taken over from a previous store (`adopt`) not yet listed in this one. */
  readonly #carried = new Set<string>()

  /** Forgets what it cached from rows a rolled-back transaction took back. */
  forget(): void {
    this.#groups.clear()
    this.#clientByAgent.clear()
    this.#clients.clear()
    this.#carried.clear()
    this.#cap.forget()
  }

  /**
   * Takes over what `previous` learned of the live sessions (their clients, their groups):
   * the store was opened anew at the same path (deleted or moved aside while Portico ran), and
   * a session's client, said once in its `initialize`, is in no row of the new store.
   */
  adopt(previous: SessionTracker): void {
    for (const [key, client] of previous.#clients) {
      if (client === null) continue
      remember(this.#clients, key, client)
      this.#carried.add(key)
    }
    for (const [key, value] of previous.#clientByAgent) remember(this.#clientByAgent, key, value)
    for (const [key, group] of previous.#groups) remember(this.#groups, key, group)
  }

  /** Whether a session's client was taken over (`adopt`) and is not listed here yet; once. */
  firstSighting(proxy: string, sessionId: string | undefined): boolean {
    if (sessionId === undefined || this.#carried.size === 0) return false
    return this.#carried.delete(`${proxy}\0${sessionId}`)
  }

  constructor(db: Db, maxSessions = MAX_SESSIONS_PER_PROXY) {
    this.#findGroup = db.prepare<[string, string], { session_id: string; last_seen_at: number }>(
      'SELECT session_id, last_seen_at FROM sessions WHERE proxy = ? AND group_key = ? ORDER BY last_seen_at DESC LIMIT 1',
    )
    this.#update = db.prepare(UPDATE_SESSION)
    this.#insert = db.prepare(INSERT_SESSION)
    this.#cap = new RowCap(db, 'sessions', maxSessions)
    this.#findClient = db.prepare<
      [string, string],
      { client_name: string | null; client_version: string | null; platform: string | null }
    >(
      'SELECT client_name, client_version, platform FROM sessions WHERE proxy = ? AND session_id = ?',
    )
  }

  /** The session of an exchange, with its group key when Portico formed it; undefined when none. */
  resolve(event: ExchangeEvent): { id: string; groupKey: string | null } | undefined {
    if (event.sessionId) return { id: event.sessionId, groupKey: null }
    if (!JSON_RPC_KINDS.has(event.kind)) return undefined
    const key = this.#groupKeyOf(event)
    const cacheKey = `${event.proxy}\0${key}`
    let group = this.#groups.get(cacheKey)
    if (group === undefined) {
      const row = this.#findGroup.get(event.proxy, key)
      if (row) group = { id: row.session_id, last: row.last_seen_at }
    }
    if (group === undefined || event.ts - group.last > IDLE_GAP_MS) {
      const digest = createHash('sha1').update(`${event.proxy}\0${key}\0${event.ts}`).digest('hex')
      group = { id: `~${digest.slice(0, 12)}`, last: event.ts }
    }
    group.last = Math.max(group.last, event.ts)
    remember(this.#groups, cacheKey, group)
    return { id: group.id, groupKey: key }
  }

  #groupKeyOf(event: ExchangeEvent): string {
    // Who called, as authentication verified it: two users of one client app are two sessions.
    const who = event.subject === undefined ? '' : `\0sub:${event.subject}`
    const agentKey = `${event.proxy}\0${event.userAgent ?? ''}${who}`
    if (event.client) {
      const key = `client:${event.client.name}/${event.client.version ?? ''}${who}`
      // Only a request that was served names the client of the later ones: a refused one (a
      // batched initialize) says nothing about who sends them.
      if (event.userAgent && event.errorCode === undefined && event.httpStatus < 400) {
        remember(this.#clientByAgent, agentKey, key)
      }
      return key
    }
    return this.#clientByAgent.get(agentKey) ?? `ua:${event.userAgent ?? 'unknown'}${who}`
  }

  /** The client of a session: from the event itself, else what the session recorded before. */
  clientOf(event: ExchangeEvent, sessionId: string | undefined): SessionClient | undefined {
    if (event.client) {
      const client = {
        name: event.client.name,
        platform: platformOf(event.client.name, event.userAgent),
        ...(event.client.version ? { version: event.client.version } : {}),
      }
      if (sessionId) remember(this.#clients, `${event.proxy}\0${sessionId}`, client)
      return client
    }
    if (!sessionId) return undefined
    const key = `${event.proxy}\0${sessionId}`
    let client = this.#clients.get(key)
    if (client === undefined) {
      const row = this.#findClient.get(event.proxy, sessionId)
      client = row?.client_name
        ? {
            name: row.client_name,
            platform: row.platform ?? 'unknown',
            ...(row.client_version ? { version: row.client_version } : {}),
          }
        : null
      // Unknown clients are cached too (one lookup per session, not per row); an `initialize`
      // seen later replaces the entry above.
      remember(this.#clients, key, client)
    }
    return client ?? undefined
  }

  /**
   * Applies the batch's session changes: existing sessions are updated; a new one is inserted
   * only when established and within the proxy's cap.
   */
  save(deltas: Iterable<SessionDelta>): void {
    for (const d of deltas) {
      const row = {
        proxy: d.proxy,
        id: d.id,
        groupKey: d.groupKey,
        era: d.era,
        clientName: d.client?.name ?? null,
        clientVersion: d.client?.version ?? null,
        platform: d.client?.platform ?? (d.userAgent ? platformOf(undefined, d.userAgent) : null),
        userAgent: d.userAgent ?? null,
        protocolVersion: d.protocolVersion ?? null,
        startedAt: d.startedAt,
        lastSeenAt: d.lastSeenAt,
        endedAt: d.endedAt ?? null,
        calls: d.calls,
        errors: d.errors,
      }
      if (this.#update.run(row).changes > 0) continue
      if (!d.established || !this.#cap.allows(d.proxy)) continue
      this.#insert.run(row)
      this.#cap.added(d.proxy)
    }
  }

  /** New sessions refused by the per-proxy cap since the writer started. */
  get refused(): number {
    return this.#cap.refused
  }
}

const INSERT_SESSION = `
INSERT INTO sessions (proxy, session_id, group_key, era, client_name, client_version, platform,
  user_agent, protocol_version, started_at, last_seen_at, ended_at, calls, errors)
VALUES (@proxy, @id, @groupKey, @era, @clientName, @clientVersion, @platform, @userAgent,
  @protocolVersion, @startedAt, @lastSeenAt, @endedAt, @calls, @errors)`

/** Every SET expression reads the row's old values (SQLite), so `platform` sees the old client. */
const UPDATE_SESSION = `
UPDATE sessions SET
  platform = CASE WHEN client_name IS NULL AND @clientName IS NOT NULL
    THEN @platform ELSE coalesce(platform, @platform) END,
  client_name = coalesce(client_name, @clientName),
  client_version = coalesce(client_version, @clientVersion),
  user_agent = coalesce(user_agent, @userAgent),
  protocol_version = coalesce(protocol_version, @protocolVersion),
  started_at = min(started_at, @startedAt),
  last_seen_at = max(last_seen_at, @lastSeenAt),
  ended_at = coalesce(@endedAt, ended_at),
  calls = calls + @calls,
  errors = errors + @errors
WHERE proxy = @proxy AND session_id = @id`

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= CACHE_LIMIT && !map.has(key)) map.clear()
  map.set(key, value)
}
