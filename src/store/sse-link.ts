/**
 * Legacy HTTP+SSE (2024-11-05) names its session in the URL the client POSTs to, which the
 * server announces on the GET stream only after that stream opened. So the POSTs' rows carry
 * the session, while the stream's own row (recorded when it ends) and the notifications sent
 * on it arrive without one. The writer links them here, from what it has seen:
 *
 * - a stream row belongs to the SSE session, from the same User-Agent, whose first POST came
 *   while the stream was open (the closest to the stream's start when several did);
 * - a notification belongs to the one SSE session whose stream is still open; with several
 *   open it is left unlinked rather than guessed.
 *
 * Bounded: at most MAX_OPEN sessions tracked per proxy (the oldest go first), none idle for
 * longer than IDLE_MS.
 */
import type { ExchangeEvent, NotificationEvent } from '../observe/event.ts'

const MAX_OPEN = 1000
const IDLE_MS = 30 * 60_000

interface SseSession {
  id: string
  first: number
  last: number
  userAgent: string | undefined
}

export class SseLinker {
  /** Per proxy, SSE sessions whose stream has not ended yet, oldest first. */
  readonly #open = new Map<string, SseSession[]>()

  /** Notes a POST of an SSE session (transport `sse`, with its session id). */
  seen(event: ExchangeEvent): void {
    if (event.transport !== 'sse' || event.sessionId === undefined || event.kind === 'stream')
      return
    const list = this.#list(event.proxy, event.ts)
    const known = list.find((s) => s.id === event.sessionId)
    if (known) {
      known.first = Math.min(known.first, event.ts)
      known.last = Math.max(known.last, event.ts)
      return
    }
    if (list.length >= MAX_OPEN) list.shift()
    list.push({ id: event.sessionId, first: event.ts, last: event.ts, userAgent: event.userAgent })
  }

  /** The session of an SSE stream row without one; the session's stream is then over. */
  stream(event: ExchangeEvent): string | undefined {
    if (event.transport !== 'sse' || event.kind !== 'stream' || event.sessionId !== undefined) {
      return undefined
    }
    const list = this.#open.get(event.proxy)
    if (!list) return undefined
    const end = event.ts + event.durationUs / 1000
    let best: SseSession | undefined
    for (const session of list) {
      if (session.first < event.ts || session.first > end) continue
      if (event.userAgent && session.userAgent && event.userAgent !== session.userAgent) continue
      if (best === undefined || session.first < best.first) best = session
    }
    if (best === undefined) return undefined
    list.splice(list.indexOf(best), 1)
    return best.id
  }

  /** The session of a notification sent on an SSE stream, when only one stream is open. */
  notification(event: NotificationEvent): string | undefined {
    if (event.transport !== 'sse' || event.sessionId !== undefined) return undefined
    const open = this.#list(event.proxy, event.ts).filter((s) => s.first <= event.ts)
    return open.length === 1 ? open[0]?.id : undefined
  }

  /** The proxy's open sessions, without those idle for longer than IDLE_MS. */
  #list(proxy: string, now: number): SseSession[] {
    let list = this.#open.get(proxy)
    if (list === undefined) {
      list = []
      this.#open.set(proxy, list)
    }
    while (list.length > 0 && now - (list[0]?.last ?? now) > IDLE_MS) list.shift()
    return list
  }
}
