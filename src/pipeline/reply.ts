/**
 * What a handler answers for one call. Four shapes, like an HTTP response that knows MCP:
 * - `MessageReply`: one JSON-RPC response. It keeps the upstream's bytes (or the unread upstream
 *   body) and parses them only when someone asks (`json()`); untouched answers are forwarded
 *   byte for byte and streamed as they arrive.
 * - `StreamReply`: an SSE stream of events, each parsed only when asked (`message()`), relayed
 *   as they arrive so progress reaches the client at once.
 * - `accepted`: 202, for notifications and client responses.
 * - `http`: an upstream answer that is not JSON-RPC (an HTML 404, a 401 page), passed through.
 */
import type { Readable } from 'node:stream'
import { PorticoError, toPorticoError } from '../errors.ts'
import { collectUpTo } from '../http/body.ts'
import type { HeaderMap } from '../http/headers.ts'
import {
  encodeJson,
  errorResponse,
  isObject,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcResponse,
  parseJson,
  parseMessage,
  withoutBom,
} from '../jsonrpc/message.ts'
import { encodeSseEvent, type SseEvent } from '../protocol/sse.ts'
import {
  answersCall,
  asResponse,
  describeNonResponse,
  type Summary,
  summarize,
  summarizeValue,
} from '../protocol/summarize.ts'

export type Reply = MessageReply | StreamReply | AcceptedReply | HttpReply

export interface ReplyInit {
  status?: number
  headers?: HeaderMap
}

export interface StreamInit extends ReplyInit {
  /** True when an event is already waiting (so the first write can carry the headers). */
  buffered?: () => boolean
}

export class MessageReply {
  readonly kind = 'message'
  readonly status: number
  readonly headers: HeaderMap
  #message: JsonRpcResponse | undefined
  #bytes: Buffer | undefined
  /** The unread rest of an upstream body, while it has not ended. */
  #stream: Readable | undefined
  /** Largest body `json()` reads to parse; larger ones are streamed through untouched. */
  #limit = 0
  /** Names what went wrong when the body fails (the transport knows its errors). */
  #mapError: ((error: unknown) => PorticoError) | undefined
  /** Chunks read so far from `#stream`. */
  #head: Buffer[] = []
  #size = 0
  #parsed = false
  #fromUpstream = false
  /** `summary()` of `#bytes`, once made. */
  #summary: Summary | undefined = undefined

  private constructor(init: ReplyInit) {
    this.status = init.status ?? 200
    this.headers = init.headers ?? {}
  }

  /** A reply Portico (or the gateway) built: encoded once, when it is written. */
  static of(message: JsonRpcResponse | JsonObject, init: ReplyInit = {}): MessageReply {
    const reply = new MessageReply(init)
    reply.#message = message as JsonRpcResponse
    reply.#parsed = true
    return reply
  }

  /** An upstream's answer body, not read yet: streamed to the client unless someone parses it. */
  static fromBody(
    stream: Readable,
    limit: number,
    init: ReplyInit & { mapError?: (error: unknown) => PorticoError } = {},
  ): MessageReply {
    const reply = new MessageReply(init)
    reply.#fromUpstream = true
    reply.#stream = stream
    reply.#limit = limit
    reply.#mapError = init.mapError
    return reply
  }

  /** An upstream's answer whose bytes are already here. */
  static fromBytes(bytes: Buffer, init: ReplyInit = {}): MessageReply {
    const reply = new MessageReply(init)
    reply.#fromUpstream = true
    reply.#bytes = bytes
    return reply
  }

  /** The JSON-RPC error answer for a refused or failed call, with the error's status and headers. */
  static error(error: unknown, id: JsonRpcResponse['id'] | undefined): MessageReply {
    const failure = toPorticoError(error)
    return MessageReply.of(errorResponse(id, errorObject(failure)) as JsonRpcResponse, {
      status: failure.status,
      headers: failure.headers ? { ...failure.headers } : {},
    })
  }

  /** True for an answer Portico built (an error, a gateway answer), not an upstream's bytes. */
  get built(): boolean {
    return this.#message !== undefined && this.#stream === undefined && !this.#fromUpstream
  }

  /** True once the response is an object (built by Portico, or `json()` was called). */
  get parsed(): boolean {
    return this.#parsed
  }

  /** True while part of the body is still upstream. */
  get streaming(): boolean {
    return this.#stream !== undefined
  }

  /**
   * Reads more of an upstream body, until it ends or `limit` bytes are here. A body that
   * breaks off is an `upstream_stream_ended` error (nothing has been sent to the client yet).
   */
  async fill(limit: number): Promise<void> {
    const stream = this.#stream
    if (stream === undefined || this.#size > limit) return
    let collected: Awaited<ReturnType<typeof collectUpTo>>
    try {
      collected = await collectUpTo(stream, limit - this.#size)
    } catch (cause) {
      if (cause instanceof PorticoError) throw cause
      if (this.#mapError !== undefined) throw this.#mapError(cause)
      throw new PorticoError('upstream_stream_ended', {
        message: 'Upstream ended its answer in the middle of the body',
        cause,
      })
    }
    for (const chunk of collected.chunks) this.#head.push(chunk)
    this.#size += collected.size
    if (!collected.complete) return
    this.#stream = undefined
    this.#bytes = this.#head.length === 1 ? this.#head[0] : Buffer.concat(this.#head, this.#size)
    this.#head = []
  }

  /**
   * The response, parsed on first use. Undefined when the body is not a JSON-RPC response
   * (garbage, an array) or larger than the parse bound (it is then streamed through as is).
   */
  async json(): Promise<JsonRpcResponse | undefined> {
    if (this.#parsed) return this.#message
    await this.fill(this.#limit)
    this.#parsed = true
    // A JSON body may start with a byte order mark (RFC 8259 lets a parser ignore it, and the
    // SDK clients' fetch `.json()` does); an SSE event's data may not (clients JSON.parse it).
    if (this.#bytes !== undefined) {
      this.#message = asResponse(parseMessage(withoutBom(this.#bytes.toString('utf8'))))
    }
    return this.#message
  }

  /**
   * A copy answering `message` instead (same status and headers; re-encoded when written). A
   * rewritten upstream answer is still the upstream's: its id and shape are checked when it is
   * sent, as the unchanged one would have been (a CSP rewrite let an answer to another id, or
   * with both a result and an error, through as Portico's own).
   */
  with(message: JsonRpcResponse): MessageReply {
    const headers = { ...this.headers }
    delete headers['content-length']
    const copy = MessageReply.of(message, { status: this.status, headers })
    copy.#fromUpstream = this.#fromUpstream
    return copy
  }

  /**
   * What to write: bytes (encoded now if built from an object), or the head read so far plus
   * the unread rest of the upstream body.
   */
  body(): { bytes: Buffer } | { head: Buffer[]; rest: Readable } {
    if (this.#stream !== undefined) return { head: this.#head, rest: this.#stream }
    this.#bytes ??= Buffer.from(encodeJson(this.#message ?? null))
    return { bytes: this.#bytes }
  }

  /**
   * The outcome of the answer for recording, reading only what the fast path needs. Kept once
   * made from the bytes (they never change): a traced call asked twice, once for its attempt
   * span and once for the record, and each time searched the answer three times.
   */
  summary(parse: boolean): Summary | undefined {
    if (this.#message !== undefined) return summarizeValue(this.#message)
    const bytes = this.#bytes
    if (bytes === undefined) return undefined
    const known = this.#summary
    // One made without parsing serves every caller that does not need the parsed object.
    if (known !== undefined && (!parse || known.parsed !== undefined)) return known
    const summary = summarize(bytes, parse)
    this.#summary = summary
    return summary
  }
}

export class StreamReply {
  readonly kind = 'stream'
  readonly status: number
  readonly headers: HeaderMap
  readonly events: AsyncIterable<StreamEvent>
  readonly buffered: () => boolean

  constructor(events: AsyncIterable<StreamEvent>, init: StreamInit = {}) {
    this.events = events
    this.status = init.status ?? 200
    this.headers = init.headers ?? {}
    this.buffered = init.buffered ?? (() => false)
  }

  /** A stream whose events pass through `transform` (undefined drops an event). */
  map(transform: (event: StreamEvent) => StreamEvent | undefined): StreamReply {
    const source = this.events
    async function* mapped(): AsyncGenerator<StreamEvent> {
      for await (const event of source) {
        // A transform sees events whole: a large event's fragments wait for its end.
        if (event.fragment) continue
        let out: StreamEvent | undefined
        try {
          out = transform(event.whole())
        } catch (error) {
          // The transform's failure (a middleware's mapAnswer), not the upstream's: recorded
          // and answered as Portico's internal error, never as the upstream ending its stream.
          throw new PorticoError('internal_error', { cause: error })
        }
        if (out !== undefined) yield out
      }
    }
    return new StreamReply(mapped(), {
      status: this.status,
      headers: this.headers,
      buffered: this.buffered,
    })
  }
}

export interface AcceptedReply {
  readonly kind: 'accepted'
  readonly status: number
  readonly headers: HeaderMap
}

export interface HttpReply {
  readonly kind: 'http'
  readonly status: number
  readonly headers: HeaderMap
  readonly body: Readable
}

export function accepted(init: ReplyInit = {}): AcceptedReply {
  return { kind: 'accepted', status: init.status ?? 202, headers: init.headers ?? {} }
}

/**
 * One SSE event of a stream reply: an upstream event kept as its exact text, or a message
 * Portico built. Parsed and encoded lazily, each at most once.
 */
export class StreamEvent {
  readonly id: string | undefined
  readonly event: string | undefined
  #raw: string | undefined
  #data: string | undefined
  #message: JsonRpcMessage | undefined
  #parsed = false
  /** How much of `raw` went ahead as fragments (a large upstream event passed on as it came). */
  #ahead = 0
  /**
   * Text of an upstream event still arriving, passed on before its end (`SseParser.takeAhead`):
   * written as it is and nothing else; the event itself follows, whole, when it completes.
   */
  readonly fragment: boolean

  private constructor(fields: { id?: string; event?: string }, fragment = false) {
    this.id = fields.id
    this.event = fields.event
    this.fragment = fragment
  }

  /** An event as the upstream sent it. */
  static fromSse(event: SseEvent): StreamEvent {
    const out = new StreamEvent(event)
    out.#raw = event.raw
    out.#data = event.comment ? '' : event.data
    out.#ahead = event.ahead ?? 0
    return out
  }

  /** The first text of a large upstream event, written before the event completes. */
  static fragment(text: string): StreamEvent {
    const out = new StreamEvent({}, true)
    out.#raw = text
    out.#parsed = true
    return out
  }

  /** What is left to write of this event once its fragments were written (all of it if none). */
  get unwritten(): string {
    return this.#ahead === 0 ? this.raw : this.raw.slice(this.#ahead)
  }

  /**
   * This event for a consumer that dropped its fragments (a transform needs events whole):
   * the same event, to be written whole.
   */
  whole(): StreamEvent {
    if (this.#ahead === 0) return this
    const out = new StreamEvent(this)
    out.#raw = this.#raw
    out.#data = this.#data
    out.#message = this.#message
    out.#parsed = this.#parsed
    return out
  }

  /** A message event Portico writes. */
  static of(message: JsonRpcMessage | JsonObject, id?: string): StreamEvent {
    const out = new StreamEvent(id === undefined ? {} : { id })
    out.#message = message as JsonRpcMessage
    out.#parsed = true
    return out
  }

  /** The exact text to write. */
  get raw(): string {
    this.#raw ??= encodeSseEvent(encodeJson(this.#message), {
      ...(this.id === undefined ? {} : { id: this.id }),
      ...(this.event === undefined ? {} : { event: this.event }),
    })
    return this.#raw
  }

  /** The event's data as received (for an event Portico built: its encoded message). */
  get data(): string {
    this.#data ??= encodeJson(this.#message)
    return this.#data
  }

  /** The data as an upstream sent it, while nothing parsed it (undefined for Portico's own). */
  get unreadData(): string | undefined {
    return this.#parsed ? undefined : this.#data
  }

  /** True for events that carry a JSON-RPC message (`message` events with data). */
  get isMessage(): boolean {
    if (this.#parsed) return this.#message !== undefined
    return (this.event === undefined || this.event === 'message') && this.#data !== ''
  }

  /** The JSON-RPC message this event carries, parsed on first use. */
  message(): JsonRpcMessage | undefined {
    if (this.#parsed) return this.#message
    const isMessage = this.isMessage
    this.#parsed = true
    if (!isMessage || this.#data === undefined) return undefined
    const value = parseMessage(this.#data)
    this.#message = isObject(value) ? (value as unknown as JsonRpcMessage) : undefined
    return this.#message
  }

  /** The outcome of a response event for recording; the fast path skips parsing. */
  summary(parse: boolean): Summary | undefined {
    if (!this.isMessage) return undefined
    if (this.#parsed) return this.#message === undefined ? undefined : summarizeValue(this.#message)
    // Clients JSON.parse an event's data, which a byte order mark breaks (unlike a JSON body's,
    // which fetch `.json()` reads past): such data answers nothing, and the call's own response
    // may follow, else its error (taken for the answer, it was passed on and the client hung).
    if (this.#data?.charCodeAt(0) === 0xfeff) return undefined
    const summary = summarize(this.#data ?? '', parse)
    if (summary?.parsed !== undefined) {
      this.#parsed = true
      this.#message = summary.parsed as JsonRpcMessage
    }
    return summary
  }

  /** A copy carrying another message, keeping the event id (so resumption still works). */
  with(message: JsonRpcMessage | JsonObject): StreamEvent {
    return StreamEvent.of(message, this.id)
  }
}

/**
 * Changes a call's answer whatever its shape: `transform` gets the call's JSON-RPC response
 * (from a JSON answer, or the event answering the call on an SSE stream) and returns a new one,
 * or undefined to keep it (its original bytes are then forwarded). Other events pass through.
 */
/** What `mapAnswer` needs of a call: its id, and its notes to say why an answer was refused. */
interface AnsweredCall {
  readonly id?: JsonRpcId
  readonly notes?: { reason?: string }
}

export async function mapAnswer(
  call: AnsweredCall,
  reply: Reply,
  transform: (response: JsonRpcResponse, text: () => string) => JsonRpcResponse | undefined,
): Promise<Reply> {
  if (reply instanceof MessageReply) {
    const response = await reply.json()
    if (response === undefined) return unreadable(call, reply)
    const changed = transform(response, () => textOf(reply))
    return changed === undefined ? reply : reply.with(changed)
  }
  if (reply instanceof StreamReply) {
    return reply.map((event) => {
      if (!event.isMessage) return event
      const message = event.message()
      // Data that is not JSON cannot be checked, so it is not passed on: some clients' parsers
      // read what JSON.parse refuses (Python's reads `NaN`), and would get it unrewritten.
      if (message === undefined) return undefined
      const response = asResponse(message)
      if (response === undefined || !answersCall(call, response.id)) return event
      const changed = transform(response, () => event.data)
      return changed === undefined ? event : event.with(changed)
    })
  }
  return reply
}

/** The text of an answer read whole (what `json()` parsed). */
function textOf(reply: MessageReply): string {
  const body = reply.body()
  return 'bytes' in body ? body.bytes.toString('utf8') : ''
}

/**
 * A successful answer `mapAnswer` could not read as a JSON-RPC response: refused (fail closed)
 * rather than passed on unchanged, since what it should have changed may be in it for a client
 * whose parser is laxer than JSON.parse. Only an answer larger than the parse bound (still
 * streaming: documented, passed on) or an HTTP error (the upstream's own status) goes through.
 */
function unreadable(call: AnsweredCall, reply: MessageReply): MessageReply {
  if (reply.streaming || reply.status < 200 || reply.status > 299) return reply
  const body = reply.body()
  const error = invalidResponse(call.id, 'bytes' in body ? body.bytes : Buffer.alloc(0))
  if (call.notes !== undefined) call.notes.reason ??= error.reason
  return MessageReply.error(error, call.id)
}

/**
 * Why an upstream's answer to request `id` is no response a client can read, said from its
 * bytes (parsed again: this is the rare path); an upstream error that came without the id is
 * kept in `data.upstreamError`.
 */
export function invalidResponse(id: JsonRpcId | undefined, bytes: Buffer): PorticoError {
  const value = parseJson(bytes)
  const what = describeNonResponse(value)
  const error = isObject(value) && isObject(value.error) ? value.error : undefined
  return new PorticoError('upstream_bad_response', {
    message: `Upstream sent an invalid response to request ${encodeJson(id ?? null)}: ${what}`,
    ...(error === undefined
      ? {}
      : {
          data: {
            upstreamError: {
              code: typeof error.code === 'number' ? error.code : null,
              message: typeof error.message === 'string' ? error.message.slice(0, 512) : null,
            },
          },
        }),
  })
}

export function errorObject(error: PorticoError): {
  code: number
  message: string
  data?: Record<string, unknown>
} {
  return {
    code: error.code,
    message: error.message,
    ...(error.data ? { data: error.data } : {}),
  }
}
