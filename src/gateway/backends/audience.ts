/**
 * Who hears what a backend connection shared by every client session sends outside any call
 * (a shared stdio process, a 2026-07-28 HTTP backend): for each resource, the sessions
 * subscribed to it there. A resource update is its subscribers'; a list change is every
 * session's news, which the gateway tells (its connections hand it list changes, not this);
 * anything else sent outside a call is one client's by nature, and nothing tells whose, so
 * nobody gets it.
 */
import { PorticoError } from '../../errors.ts'
import type { JsonRpcNotification } from '../../jsonrpc/message.ts'
import type { SessionRef } from './backend.ts'

/** Sessions remembered at most (the gateway's own `max_sessions` bounds them first). */
const MAX_SESSIONS = 100_000
/** The gateway's own session (stateless listen streams): bounded by `subscribed` alone. */
const GATEWAY_SESSION = '*'

export interface AudienceLimits {
  /** Resources subscribed at most through the shared connection. */
  subscribed: number
  /** Of those, what one client session may hold: one client cannot take them all. */
  perSession: number
}

export class SharedAudience {
  readonly #limits: AudienceLimits
  /** Client session → how many resources it is subscribed to here. */
  readonly #held = new Map<string, number>()
  /** Client sessions that used the shared connection: they receive its unrelated messages. */
  readonly #sessions = new Map<string, SessionRef>()
  /** Resource URI → client sessions subscribed to it through the shared connection. */
  readonly #subscribers = new Map<string, Set<string>>()

  constructor(limits: AudienceLimits) {
    this.#limits = limits
  }

  /** `session` used the shared connection: it hears the backend's news from now on. */
  join(session: SessionRef): void {
    if (this.#sessions.size < MAX_SESSIONS) this.#sessions.set(session.key, session)
  }

  /**
   * Records a resource (un)subscription. Returns whether the backend must be told: the first
   * subscriber in, or the last one out. A subscription past the limits is refused (thrown),
   * never accepted without being recorded.
   */
  track(sessionKey: string, uri: string, subscribe: boolean): boolean {
    const keys = this.#subscribers.get(uri) ?? new Set<string>()
    const before = keys.size
    if (subscribe) {
      if (!keys.has(sessionKey)) {
        this.#refuseBeyondLimits(sessionKey, keys.size === 0)
        keys.add(sessionKey)
        this.#count(sessionKey, 1)
      }
    } else if (keys.delete(sessionKey)) this.#count(sessionKey, -1)
    if (keys.size === 0) this.#subscribers.delete(uri)
    else this.#subscribers.set(uri, keys)
    return subscribe ? before === 0 && keys.size === 1 : before === 1 && keys.size === 0
  }

  #refuseBeyondLimits(sessionKey: string, newResource: boolean): void {
    const { subscribed, perSession } = this.#limits
    if (newResource && this.#subscribers.size >= subscribed) {
      throw new PorticoError('invalid_params', {
        message: `This backend has ${subscribed} resources subscribed already: unsubscribe one first`,
      })
    }
    if (sessionKey !== GATEWAY_SESSION && (this.#held.get(sessionKey) ?? 0) >= perSession) {
      throw new PorticoError('invalid_params', {
        message: `This session holds ${perSession} resource subscriptions on this backend (at most ${perSession}): unsubscribe one first`,
      })
    }
  }

  #count(sessionKey: string, by: number): void {
    const held = (this.#held.get(sessionKey) ?? 0) + by
    if (held > 0) this.#held.set(sessionKey, held)
    else this.#held.delete(sessionKey)
  }

  /** The session ended: returns the resources nobody is subscribed to any more. */
  release(sessionKey: string): string[] {
    this.#sessions.delete(sessionKey)
    this.#held.delete(sessionKey)
    const dropped: string[] = []
    for (const [uri, keys] of this.#subscribers) {
      if (keys.delete(sessionKey) && keys.size === 0) {
        this.#subscribers.delete(uri)
        dropped.push(uri)
      }
    }
    return dropped
  }

  /**
   * Takes over `other`'s sessions and subscriptions: a backend replaced by a reload (or the
   * admin API) keeps its subscribers, and its new process is subscribed again for them.
   */
  copyFrom(other: SharedAudience): void {
    for (const [key, session] of other.#sessions) this.#sessions.set(key, session)
    for (const [key, held] of other.#held) this.#held.set(key, held)
    for (const [uri, keys] of other.#subscribers) this.#subscribers.set(uri, new Set(keys))
  }

  /** The resources someone is subscribed to (a restarted connection subscribes them again). */
  subscribed(): Iterable<string> {
    return this.#subscribers.keys()
  }

  /** Who gets `message`, sent outside any call. */
  of(message: JsonRpcNotification): SessionRef[] {
    const params = message.params
    if (message.method !== 'notifications/resources/updated' || typeof params?.uri !== 'string') {
      return []
    }
    const keys = this.#subscribers.get(params.uri) ?? new Set()
    return [...keys].flatMap((key) => this.#sessions.get(key) ?? [])
  }
}
