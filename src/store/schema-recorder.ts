/**
 * Schema capture, store part: keeps the latest answer of each schema method per proxy in
 * `schema_snapshots` and appends what changed to `schema_changes` (first capture, items added,
 * removed or modified, server identity updates, `list_changed` notifications).
 */
import { isObject, type JsonObject } from '../jsonrpc/message.ts'
import type { ExchangeEvent, NotificationEvent } from '../observe/event.ts'
import { truncationOf } from './bound.ts'
import type { Db } from './open.ts'
import {
  cursorOf,
  diffItems,
  diffServer,
  hashOf,
  ItemsPager,
  itemsOf,
  LIST_METHODS,
  listMethodOfNotification,
  newerRevision,
  type SchemaChange,
  SERVER_METHODS,
  serverIdentity,
  serverPayload,
  sortItems,
} from './schema-capture.ts'

interface Snapshot {
  hash: string
  payload: JsonObject | JsonObject[]
}

export class SchemaRecorder {
  readonly #db: Db
  readonly #pager = new ItemsPager()
  readonly #snapshots = new Map<string, Snapshot | null>()
  #changesSinceTrim = 0

  constructor(db: Db) {
    this.#db = db
  }

  /** Looks at a successful answer of a schema method. */
  exchange(event: ExchangeEvent, sessionId: string | undefined): void {
    const result = event.result
    if (result === undefined || event.outcome !== 'ok') return
    const truncated = truncationOf(result)
    if (truncated !== undefined) {
      this.#notCaptured(event.proxy, event.method, event.ts, truncated)
      return
    }
    if (SERVER_METHODS.has(event.method)) {
      this.#capture(event.proxy, event.method, event.ts, serverPayload(event.method, result))
      return
    }
    const items = itemsOf(event.method, result)
    if (items === undefined) return
    const more = typeof result.nextCursor === 'string' && result.nextCursor !== ''
    const key = `${event.proxy}\0${sessionId ?? ''}\0${event.method}`
    const outcome = this.#pager.page(key, cursorOf(event.params), items, more)
    if (outcome === undefined) return
    if ('tooLarge' in outcome)
      this.#notCaptured(event.proxy, event.method, event.ts, outcome.tooLarge)
    else
      this.#capture(event.proxy, event.method, event.ts, sortItems(event.method, outcome.complete))
  }

  /** A `list_changed` notification: recorded in the history, the snapshot marked stale. */
  notification(event: NotificationEvent): void {
    const method = listMethodOfNotification(event.method)
    if (method === undefined) return
    this.#change(event.proxy, event.ts, method, { change: 'list_changed' })
    this.#db
      .prepare('UPDATE schema_snapshots SET stale = 1 WHERE proxy = ? AND method = ?')
      .run(event.proxy, method)
  }

  /**
   * An answer too large or too deep to record: said once in the history (not again while it
   * stays the latest change), and the snapshot is left as it was rather than replaced by a cut.
   */
  #notCaptured(proxy: string, method: string, ts: number, reason: string): void {
    if (!SERVER_METHODS.has(method) && LIST_METHODS[method] === undefined) return
    const last = this.#db
      .prepare<[string, string], { change: string; detail: string | null }>(
        'SELECT change, detail FROM schema_changes WHERE proxy = ? AND method = ? ORDER BY id DESC LIMIT 1',
      )
      .get(proxy, method)
    if (last?.change === 'not_captured' && last.detail === reason) return
    this.#change(proxy, ts, method, { change: 'not_captured', detail: reason })
  }

  #capture(proxy: string, method: string, ts: number, captured: JsonObject | JsonObject[]): void {
    const previous = this.#snapshot(proxy, method)
    const same = sameServer(previous, captured)
    const payload = same ?? captured
    const hash = hashOf(payload)
    if (previous?.hash === hash) {
      this.#db
        .prepare(
          'UPDATE schema_snapshots SET captured_at = ?, stale = 0 WHERE proxy = ? AND method = ?',
        )
        .run(ts, proxy, method)
      return
    }
    // The same server, a newer revision negotiated: kept for the report, not a change.
    if (same === undefined) {
      for (const change of changesOf(method, previous, payload))
        this.#change(proxy, ts, method, change)
    }
    this.#db
      .prepare(
        'INSERT OR REPLACE INTO schema_snapshots (proxy, method, captured_at, hash, payload, stale) VALUES (?, ?, ?, ?, ?, 0)',
      )
      .run(proxy, method, ts, hash, JSON.stringify(payload))
    this.#snapshots.set(`${proxy}\0${method}`, { hash, payload })
  }

  /**
   * Forgets the cached snapshots: a rolled-back transaction took back the rows they came from,
   * and a cached hash of an answer never committed would hide that answer's change next time.
   */
  forget(): void {
    this.#snapshots.clear()
  }

  #snapshot(proxy: string, method: string): Snapshot | undefined {
    const key = `${proxy}\0${method}`
    let snapshot = this.#snapshots.get(key)
    if (snapshot === undefined) {
      const row = this.#db
        .prepare<[string, string], { hash: string; payload: string }>(
          'SELECT hash, payload FROM schema_snapshots WHERE proxy = ? AND method = ?',
        )
        .get(proxy, method)
      snapshot = row ? { hash: row.hash, payload: JSON.parse(row.payload) } : null
      this.#snapshots.set(key, snapshot)
    }
    return snapshot ?? undefined
  }

  #change(proxy: string, ts: number, method: string, change: SchemaChange): void {
    this.#db
      .prepare(
        'INSERT INTO schema_changes (proxy, detected_at, method, change, item, detail) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(proxy, ts, method, change.change, change.item ?? null, change.detail ?? null)
    // Bounded per proxy: a server announcing list_changed in a loop adds a row each time.
    // Every so often the oldest past the bound go (one indexed delete, not one per insert).
    if (++this.#changesSinceTrim >= TRIM_EVERY) {
      this.#changesSinceTrim = 0
      this.#db
        .prepare(
          `DELETE FROM schema_changes WHERE proxy = ? AND id <= (
             SELECT id FROM schema_changes WHERE proxy = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
        )
        .run(proxy, proxy, MAX_CHANGES_PER_PROXY)
    }
  }
}

/** Changes kept per proxy at most (the newest), and how many inserts between two trims. */
const MAX_CHANGES_PER_PROXY = 10_000
const TRIM_EVERY = 100

function changesOf(
  method: string,
  previous: Snapshot | undefined,
  payload: JsonObject | JsonObject[],
): SchemaChange[] {
  if (Array.isArray(payload)) {
    const kind = LIST_METHODS[method]?.kind ?? 'item'
    if (previous === undefined || !Array.isArray(previous.payload)) {
      return [
        { change: 'initial', item: `${payload.length} ${kind}${payload.length === 1 ? '' : 's'}` },
      ]
    }
    const changes = diffItems(method, previous.payload, payload)
    return changes.length > 0 ? changes : [{ change: 'updated' }]
  }
  const info = isObject(payload.serverInfo) ? payload.serverInfo : {}
  const label = [info.name, info.version].filter((v) => typeof v === 'string').join(' ')
  if (previous === undefined || Array.isArray(previous.payload)) {
    return [{ change: 'initial', ...(label ? { item: label } : {}) }]
  }
  return [
    {
      change: 'updated',
      ...(label ? { item: label } : {}),
      detail: diffServer(previous.payload, payload),
    },
  ]
}

/**
 * The snapshot to keep when a server's `initialize` or `server/discover` answer is the one
 * before but for the revision its client negotiated: the one before, with the newer of the two
 * revisions (no change recorded when that is the one before); undefined when it changed (or is
 * a list).
 */
function sameServer(
  previous: Snapshot | undefined,
  captured: JsonObject | JsonObject[],
): JsonObject | undefined {
  if (previous === undefined || Array.isArray(previous.payload) || Array.isArray(captured)) {
    return undefined
  }
  const before = serverIdentity(previous.payload)
  if (hashOf(before) !== hashOf(serverIdentity(captured))) return undefined
  const revision = newerRevision(previous.payload.protocolVersion, captured.protocolVersion)
  return revision === previous.payload.protocolVersion || revision === undefined
    ? previous.payload
    : { ...previous.payload, protocolVersion: revision as string }
}
