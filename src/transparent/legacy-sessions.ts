/**
 * Correlation for the legacy HTTP+SSE transport (2024-11-05): requests are POSTed to a
 * messages URL and answered with 202, while their responses arrive later on the session's GET
 * stream. Each open stream registers its session here with an ordered writer to its client. A
 * POSTed request waits here for its response (so the chain sees the real answer); when the
 * response passes on the stream, the stream reserves its place, and the chain's (possibly
 * rewritten) answer is written there, so the client sees events in the upstream's order.
 * Everything is bounded: sessions, pending requests per session, queued events.
 */
import type { ServerResponse } from 'node:http'
import { PorticoError } from '../errors.ts'
import { encodeJson, errorResponse, type JsonRpcId } from '../jsonrpc/message.ts'
import type { StreamEvent } from '../pipeline/reply.ts'
import type { SignalLike } from '../pipeline/signal.ts'
import { encodeSseEvent } from '../protocol/sse.ts'
import { BoundedMap } from '../util/bounded-map.ts'

/** Events queued behind a reserved place before the place is given up (written at the end). */
const MAX_QUEUED = 1000

interface Slot {
  text: string | undefined
  filled: boolean
}

/** Writes a client's stream in order, where some places wait for the chain's answer. */
export class OrderedStream {
  readonly #res: ServerResponse
  readonly #queue: Array<string | Slot> = []

  constructor(res: ServerResponse) {
    this.#res = res
  }

  /** Writes now, or after the places reserved before it; returns the bytes queued or written. */
  write(text: string): void {
    if (this.#queue.length === 0) this.#send(text)
    else this.#queue.push(text)
    if (this.#queue.length > MAX_QUEUED) this.#release()
  }

  reserve(): Slot {
    const slot: Slot = { text: undefined, filled: false }
    this.#queue.push(slot)
    return slot
  }

  fill(slot: Slot, text: string): void {
    if (slot.filled) {
      // Its place was given up: the answer goes at the end.
      this.write(text)
      return
    }
    slot.text = text
    slot.filled = true
    this.#flush()
  }

  get needsDrain(): boolean {
    return this.#res.writableNeedDrain
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as string | Slot
      if (typeof head !== 'string' && !head.filled) return
      this.#queue.shift()
      const text = typeof head === 'string' ? head : head.text
      if (text !== undefined) this.#send(text)
    }
  }

  /** A place waited too long behind too many events: give it up so the stream moves on. */
  #release(): void {
    for (const item of this.#queue) {
      if (typeof item !== 'string' && !item.filled) item.filled = true
    }
    this.#flush()
  }

  #send(text: string): void {
    if (!this.#res.writableEnded && !this.#res.destroyed) this.#res.write(text)
  }
}

function errorEvent(id: JsonRpcId, error: PorticoError): string {
  const body = { code: error.code, message: error.message }
  return encodeSseEvent(encodeJson(errorResponse(id, body)))
}

interface Pending {
  /**
   * The call waiting (its `notes`, shared by every copy of it along the chain): a client may
   * repeat an id, and only the call that registered it may settle or remove the entry. A
   * repeated id that cleared another call's entry orphaned the place that call had reserved,
   * and every later event on the stream queued behind it.
   */
  owner: object
  resolve(event: StreamEvent): void
  reject(error: PorticoError): void
  /** The place on the client's stream the answer goes to, once the response passed by. */
  slot?: Slot
  /** The response taken from the stream for it. */
  event?: StreamEvent
}

interface LegacySession {
  stream: OrderedStream
  pending: Map<JsonRpcId, Pending>
  /**
   * Ids whose calls Portico answered itself when the upstream's answer did not come in time
   * (`upstream_timeout`): an answer under one of them that comes later is dropped, as the
   * client already has its response (the newest `MAX_EXPIRED` are kept).
   */
  expired: BoundedMap<JsonRpcId, true>
  /** Told when a taken answer was written or forgotten (see `delivered`). */
  onDelivered?: (() => void) | undefined
}

export interface LegacySessionsOptions {
  maxSessions?: number
  maxPendingPerSession?: number
}

/**
 * Distinct message paths announced at once. Most servers announce one path for every session;
 * some give each session its own (`/messages/<id>`): one per open stream, so this is the bound
 * on such streams.
 */
const MAX_MESSAGE_PATHS = 10_000
/** Expired ids one session remembers (see `LegacySession.expired`). */
const MAX_EXPIRED = 256

export class LegacySessions {
  readonly #sessions = new Map<string, LegacySession>()
  /**
   * Message paths announced by the upstream's `endpoint` events on the streams still open,
   * each with how many streams announced it: POSTs to them are MCP traffic.
   */
  readonly #paths = new Map<string, number>()
  readonly #maxSessions: number
  readonly #maxPending: number

  constructor(options: LegacySessionsOptions = {}) {
    this.#maxSessions = options.maxSessions ?? 10_000
    this.#maxPending = options.maxPendingPerSession ?? 1024
  }

  /** Registers a session's stream; false when full (its calls are then not correlated). */
  open(sessionId: string, stream: OrderedStream): boolean {
    if (this.#sessions.has(sessionId)) return true
    if (this.#sessions.size >= this.#maxSessions) return false
    const expired = new BoundedMap<JsonRpcId, true>(MAX_EXPIRED)
    this.#sessions.set(sessionId, { stream, pending: new Map(), expired })
    return true
  }

  /** A stream announced `path`; false when too many distinct paths are announced already. */
  announce(path: string): boolean {
    const streams = this.#paths.get(path)
    if (streams === undefined && this.#paths.size >= MAX_MESSAGE_PATHS) return false
    this.#paths.set(path, (streams ?? 0) + 1)
    return true
  }

  /** A stream that announced `path` ended. */
  withdraw(path: string): void {
    const streams = this.#paths.get(path) ?? 0
    if (streams <= 1) this.#paths.delete(path)
    else this.#paths.set(path, streams - 1)
  }

  isMessagePath(path: string): boolean {
    return this.#paths.has(path)
  }

  /** The announced message paths. */
  messagePaths(): IterableIterator<string> {
    return this.#paths.keys()
  }

  /** Whether any of these sessions has a request waiting for its answer (or for its write). */
  awaiting(sessionIds: Iterable<string>): boolean {
    for (const id of sessionIds) {
      if ((this.#sessions.get(id)?.pending.size ?? 0) > 0) return true
    }
    return false
  }

  /** Whether POSTs of this session are correlated with its stream. */
  tracks(sessionId: string | undefined): sessionId is string {
    return sessionId !== undefined && this.#sessions.has(sessionId)
  }

  /**
   * The session's stream ended: every request still waiting fails with `error` (its answer
   * will never come: `upstream_stream_ended`, or `cancelled` when the client left), and the
   * client is told on its stream, if still there, with each request's id.
   */
  close(sessionId: string, error = new PorticoError('upstream_stream_ended')): void {
    const session = this.#sessions.get(sessionId)
    if (!session) return
    this.#sessions.delete(sessionId)
    for (const [id, pending] of session.pending) {
      // An answer taken but still not written (see `delivered`) will find no session now.
      if (pending.slot === undefined) session.stream.write(errorEvent(id, error))
      else session.stream.fill(pending.slot, errorEvent(id, error))
      pending.reject(error)
    }
  }

  /**
   * Waits for the response to a request POSTed on this session (registered before the POST is
   * forwarded: the response can beat the upstream's 202). Throws at once, before anything is
   * forwarded, when the request cannot wait here (its id already in flight, too many).
   */
  expect(
    sessionId: string,
    id: JsonRpcId,
    owner: object,
    signal: SignalLike,
    timeoutMs: number,
    upstream: string,
  ): Promise<StreamEvent> {
    const session = this.#sessions.get(sessionId)
    if (!session) throw new PorticoError('upstream_stream_ended')
    if (session.pending.size >= this.#maxPending || session.pending.has(id)) {
      throw new PorticoError('invalid_request', {
        message: session.pending.has(id)
          ? 'A request with this id is already in flight on this session'
          : 'Too many requests in flight on this session',
      })
    }
    // The id is the new call's now: an answer under it is no longer a late one.
    session.expired.delete(id)
    return new Promise((resolve, reject) => {
      const forget = (): void => {
        if (session.pending.get(id) === entry) session.pending.delete(id)
        signal.removeEventListener('abort', onAbort)
        clearTimeout(timer)
      }
      const onAbort = (): void => {
        forget()
        reject(signal.reason)
      }
      // The deadline of the answer on the stream.
      const timer = setTimeout(() => {
        forget()
        session.expired.set(id, true)
        reject(
          new PorticoError('upstream_timeout', {
            message: `Upstream ${upstream} did not answer within ${timeoutMs} ms`,
            data: { upstream, reason: 'timeout' },
          }),
        )
      }, timeoutMs)
      const entry: Pending = {
        owner,
        resolve: (event) => {
          signal.removeEventListener('abort', onAbort)
          clearTimeout(timer)
          resolve(event)
        },
        reject: (error) => {
          forget()
          reject(error)
        },
      }
      session.pending.set(id, entry)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * The response to `id` came on the session's stream but will not be passed on (an event over
   * the bound): the request waiting for it fails with `error` instead. False when none waits
   * (or its answer was taken already).
   */
  fail(sessionId: string, id: JsonRpcId, error: PorticoError): boolean {
    const pending = this.#sessions.get(sessionId)?.pending.get(id)
    if (pending === undefined || pending.slot !== undefined) return false
    pending.reject(error)
    return true
  }

  /** Whether the request `owner` registered under `id` still waits on the session's stream. */
  holds(sessionId: string, id: JsonRpcId | undefined, owner: object): boolean {
    if (id === undefined) return false
    return this.#sessions.get(sessionId)?.pending.get(id)?.owner === owner
  }

  /** A request that will not be answered on the stream after all (the upstream refused it). */
  forget(sessionId: string, id: JsonRpcId, owner: object): void {
    const session = this.#sessions.get(sessionId)
    const pending = session?.pending.get(id)
    if (session === undefined || pending?.owner !== owner) return
    session.pending.delete(id)
    // Its response was already taken from the stream: written as it came, so that its place
    // does not hold back the events after it.
    if (pending.slot !== undefined) session.stream.fill(pending.slot, pending.event?.raw ?? '')
    session.onDelivered?.()
  }

  /**
   * Resolves once every answer taken from the session's stream was written to the client (or
   * after `ms`, or when the client left). The upstream's stream may end right after an
   * answer, while that answer is still on its way back through the chain: the client's stream
   * must stay open until it is written.
   */
  delivered(sessionId: string, ms: number, signal: SignalLike): Promise<void> {
    const session = this.#sessions.get(sessionId)
    const waitsForAnswer = () =>
      [...(session?.pending.values() ?? [])].some((pending) => pending.slot !== undefined)
    if (session === undefined || !waitsForAnswer() || signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        session.onDelivered = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      session.onDelivered = () => {
        if (!waitsForAnswer()) done()
      }
    })
  }

  /**
   * Whether a response on the session's stream answers a call Portico already answered with
   * its timeout: a second response for the id, dropped (once: the id may be used again).
   */
  late(sessionId: string, id: JsonRpcId): boolean {
    const expired = this.#sessions.get(sessionId)?.expired
    return expired?.delete(id) === true
  }

  /**
   * Called for each response on a session's stream: true when a POSTed request was waiting for
   * it (the stream then leaves the writing to `deliver`, at the place reserved here).
   */
  take(sessionId: string, id: JsonRpcId, event: StreamEvent): boolean {
    const session = this.#sessions.get(sessionId)
    const pending = session?.pending.get(id)
    if (!session || !pending || pending.slot !== undefined) return false
    pending.slot = session.stream.reserve()
    pending.event = event
    pending.resolve(event)
    return true
  }

  /**
   * Writes a call's answer on its session's stream: at its place when it reserved one, else
   * now. Another call's entry under the same id is left alone.
   */
  deliver(sessionId: string, id: JsonRpcId | undefined, owner: object, text: string): boolean {
    const session = this.#sessions.get(sessionId)
    if (!session) return false
    const pending = id === undefined ? undefined : session.pending.get(id)
    if (pending !== undefined && pending.owner === owner) {
      session.pending.delete(id as JsonRpcId)
      if (pending.slot !== undefined) session.stream.fill(pending.slot, text)
      else session.stream.write(text)
    } else {
      session.stream.write(text)
    }
    session.onDelivered?.()
    return true
  }

  get size(): number {
    return this.#sessions.size
  }
}
