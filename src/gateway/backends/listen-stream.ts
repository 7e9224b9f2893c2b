/**
 * The one `subscriptions/listen` stream a 2026-07-28 backend's connection keeps open: list
 * changes and resource updates come over it. The revision has no subscribe request, so a
 * change of what the gateway wants is a new stream with the whole list. The new stream is
 * opened before the one it replaces is closed, which stays open until the backend has
 * acknowledged the new one (its first message), so no update sent in between is lost; one
 * sent on both while they overlap reaches clients twice, which an update notification allows
 * (it only says "read it again").
 */
import type { Readable } from 'node:stream'
import type { HeaderMap } from '../../http/headers.ts'
import { contentTypeOf } from '../../http/headers.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcRequest,
  parseExact,
} from '../../jsonrpc/message.ts'
import { SseParser } from '../../protocol/sse.ts'
import type { UpstreamResponse } from '../../upstream/http-client.ts'
import { chunksOf } from '../../util/chunks.ts'

/** Changes within this long reopen the listen stream once (a burst of subscribes). */
const LISTEN_REOPEN_MS = 100
/** Waits before opening a dropped listen stream again: doubling from 0.5 s up to 30 s. */
const LISTEN_RETRY_MS = 500
const LISTEN_RETRY_MAX_MS = 30_000
/**
 * How long a replaced stream stays open when its successor says nothing (a backend that
 * sends no acknowledgement): then it is closed anyway, so two streams never stay open.
 */
const REPLACED_KEPT_MS = 5000

/** The notifications a listen stream carries to the gateway. */
const LISTENED: ReadonlySet<string> = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
])

export interface ListenStreamOptions {
  /** POSTs the listen request, open until `signal` aborts. */
  post(message: JsonRpcRequest, headers: HeaderMap, signal: AbortSignal): Promise<UpstreamResponse>
  /** The headers the revision mirrors from a request's body. */
  headersOf(message: JsonRpcRequest): HeaderMap
  /** What to ask for now; undefined when there is nothing to listen for. */
  filter(): JsonObject | undefined
  /** The `_meta` of the gateway's own requests. */
  meta: JsonObject
  /** A fresh id for the listen request. */
  nextId(): string
  /** Each notification the backend sends, without the stream's id. */
  deliver(message: JsonRpcMessage & { method: string }): void
  maxMessageBytes: number
}

export class ListenStream {
  readonly #options: ListenStreamOptions
  /** The newest stream, and whether the backend acknowledged it (its first message came). */
  #current: AbortController | undefined
  #currentHeard = false
  /** The stream it replaces, open until the newest one is acknowledged. */
  #replaced: AbortController | undefined
  #replacedTimer: NodeJS.Timeout | undefined
  #reopen: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #failures = 0
  #closed = false

  constructor(options: ListenStreamOptions) {
    this.#options = options
  }

  /** Opens the stream again once a burst of changes is over. */
  reopenSoon(): void {
    if (this.#reopen !== undefined || this.#closed) return
    this.#reopen = setTimeout(() => {
      this.#reopen = undefined
      this.open()
    }, LISTEN_REOPEN_MS)
    this.#reopen.unref()
  }

  /**
   * (Re)opens the stream for what `filter` asks now. A stream that drops is opened again
   * after a growing wait; one the backend refuses outright is not (it would refuse again).
   */
  open(): void {
    clearTimeout(this.#retryTimer)
    if (this.#closed) return
    const notifications = this.#options.filter()
    if (notifications === undefined) {
      this.#current?.abort()
      this.#current = undefined
      this.#endReplaced()
      return
    }
    // An acknowledged stream carries the updates until its successor is acknowledged; one
    // not acknowledged yet carries nothing, and the one it was to replace (kept) still does.
    if (this.#currentHeard) this.#retire(this.#current)
    else this.#current?.abort()
    const abort = new AbortController()
    this.#current = abort
    this.#currentHeard = false
    const message: JsonRpcRequest = {
      jsonrpc: '2.0',
      id: this.#options.nextId(),
      method: 'subscriptions/listen',
      params: { notifications, _meta: this.#options.meta },
    }
    this.#options
      .post(message, this.#options.headersOf(message), abort.signal)
      .then(async (response) => {
        const type = contentTypeOf(response.headers)
        if (response.status !== 200 || !type.startsWith('text/event-stream')) {
          response.body.resume()
          // Refused (an error, or not a stream): the backend cannot take it; not tried again.
          // 408 and 429 say "later", and are tried again as a dropped stream is.
          const later = response.status === 408 || response.status === 429
          if (response.status >= 400 && response.status < 500 && !later) return
          throw new Error(`HTTP ${response.status}`)
        }
        await this.#read(response.body, abort)
        throw new Error('stream ended')
      })
      .catch(() => {
        if (this.#current !== abort || this.#closed) return
        // A failed stream replaces nothing: the one before it (if still open) is kept until
        // its own limit, and the next attempt does not count this one as the stream it ends.
        this.#current = undefined
        this.#currentHeard = false
        const wait = Math.min(LISTEN_RETRY_MAX_MS, LISTEN_RETRY_MS * 2 ** this.#failures++)
        this.#retryTimer = setTimeout(() => this.open(), wait)
        this.#retryTimer.unref()
      })
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#reopen)
    clearTimeout(this.#retryTimer)
    this.#current?.abort()
    this.#current = undefined
    this.#endReplaced()
  }

  async #read(body: Readable, abort: AbortController): Promise<void> {
    const parser = new SseParser(this.#options.maxMessageBytes)
    body.setEncoding('utf8')
    for await (const chunk of chunksOf<string>(body)) {
      for (const event of parser.push(chunk)) {
        if (!event.data || (event.event && event.event !== 'message')) continue
        if (this.#current !== abort && this.#replaced !== abort) return
        this.#failures = 0
        // The newest stream's first message (the acknowledgement) says the backend has it:
        // the stream it replaces has nothing more to carry.
        if (this.#current === abort && !this.#currentHeard) {
          this.#currentHeard = true
          this.#endReplaced()
        }
        const value = parseExact(event.data)
        if (isObject(value) && typeof value.method === 'string' && LISTENED.has(value.method)) {
          this.#options.deliver(withoutListenMeta(value))
        }
      }
    }
  }

  /** Keeps `stream` open until its successor speaks, or REPLACED_KEPT_MS at most. */
  #retire(stream: AbortController | undefined): void {
    if (stream === undefined) return
    // The one kept before (acknowledged too, earlier) carries less than this one.
    this.#endReplaced()
    this.#replaced = stream
    this.#replacedTimer = setTimeout(() => this.#endReplaced(), REPLACED_KEPT_MS)
    this.#replacedTimer.unref()
  }

  #endReplaced(): void {
    clearTimeout(this.#replacedTimer)
    this.#replaced?.abort()
    this.#replaced = undefined
  }
}

/** A listen stream's notification as the gateway relays it: without the stream's id. */
function withoutListenMeta(value: JsonObject): JsonRpcMessage & { method: string } {
  const params = value.params
  const out: JsonObject = { jsonrpc: '2.0', method: value.method }
  if (isObject(params)) {
    const { _meta, ...rest } = params
    if (Object.keys(rest).length > 0) out.params = rest
  }
  return out as unknown as JsonRpcMessage & { method: string }
}
