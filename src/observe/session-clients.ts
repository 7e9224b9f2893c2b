/**
 * The client of each session, for sinks that name it on every call: a legacy session's client
 * names itself in its `initialize` only (a 2026-07-28 request carries it on every request).
 * Remembered per session id, bounded, the oldest forgotten first.
 */
import type { ClientInfo } from '../protocol/classify.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import type { ExchangeEvent } from './event.ts'

const MAX_SESSIONS = 10_000

export class SessionClients {
  readonly #clients = new BoundedMap<string, ClientInfo>(MAX_SESSIONS)

  /** The event's client: its own, else the one its session's `initialize` named. */
  of(event: ExchangeEvent): ClientInfo | undefined {
    if (event.sessionId === undefined) return event.client
    if (event.client !== undefined) {
      this.#clients.set(event.sessionId, event.client)
      return event.client
    }
    return this.#clients.get(event.sessionId)
  }
}
