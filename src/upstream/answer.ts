/**
 * One upstream answer as undici delivers it (a dispatch handler), turned into an
 * UpstreamResponse: read whole when it is a small non-SSE answer and the caller asked for that,
 * streamed as a Readable with backpressure otherwise.
 *
 * Why not undici's `request()`: it wraps every answer in a stream and a promise layer even when
 * the caller will read 300 bytes of JSON at once, and that was a measurable share of Portico's
 * CPU per proxied call (bench/reports, issue 18).
 */
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { HeaderMap } from '../http/headers.ts'
import type { SignalLike } from '../pipeline/signal.ts'
import type { CompletableReadable } from '../util/chunks.ts'
import { errors } from '../util/undici.ts'
import { uncoded } from './content-coding.ts'
import type { Due, RequestDeadlines } from './request-deadlines.ts'

export class UpstreamResponse {
  readonly status: number
  readonly headers: HeaderMap
  /** The whole body, when it was read at once (`wholeBytes`); `body` then replays it. */
  readonly bytes: Buffer | undefined
  #body: Readable | undefined

  constructor(status: number, headers: HeaderMap, body: Readable | undefined, bytes?: Buffer) {
    this.status = status
    this.headers = headers
    this.#body = body
    this.bytes = bytes
  }

  /** The body as a stream (for a body read whole, a stream of it made on first use). */
  get body(): Readable {
    this.#body ??= Readable.from(this.bytes === undefined ? [] : [this.bytes])
    return this.#body
  }

  set body(body: Readable) {
    this.#body = body
  }
}

export interface AnswerOptions {
  /** Read a non-SSE answer whole up to this many bytes (0: always stream). */
  wholeBytes: number
  /** Either aborting stops the request: the connection's signal, the call's. */
  signal: SignalLike | undefined
  callSignal: SignalLike | undefined
  /** Names the upstream in the errors. */
  label: string
  /** The error mapping (one object for every request, not closures per request). */
  errors: AnswerErrors
  /** Where the request's deadlines are watched (one per client, not timers per request). */
  deadlines: RequestDeadlines
  /** Time allowed for the answer's headers once undici starts the request (0: none). */
  headersTimeoutMs: number
  /** Time allowed between two chunks of the body, not counted while the reader is behind (0: none). */
  bodyTimeoutMs: number
  /**
   * A non-SSE body is due whole `bodyTimeoutMs` after its headers: its chunks do not move the
   * deadline (see `UpstreamRequest.wholeMessageDeadline`).
   */
  wholeMessageDeadline?: boolean
  /** An SSE answer has no body deadline (see `UpstreamRequest.idleEventStreams`). */
  idleEventStreams?: boolean
  /** The request asked for its answer uncoded: one coded anyway is decoded. */
  uncoded?: boolean
}

export interface AnswerErrors {
  /** An error before the answer's headers (the request failed). */
  request(error: unknown, label: string): Error
  /** An error after them (the body broke off), for an answer still being read whole. */
  body(error: unknown, label: string): Error
}

type Controller = Dispatcher.DispatchController

/**
 * A dispatch handler settling one promise with the upstream's answer. It holds the request to
 * its deadlines itself (`Due`): undici's own timers are off (request-deadlines.ts says why).
 */
export class AnswerHandler implements Dispatcher.DispatchHandler, Due {
  dueAt = 0
  dueList: RequestDeadlines | undefined = undefined
  duePrev: Due | undefined = undefined
  dueNext: Due | undefined = undefined
  readonly #options: AnswerOptions
  readonly #resolve: (response: UpstreamResponse) => void
  readonly #reject: (error: Error) => void
  #controller: Controller | undefined
  /** Why the caller's signal aborted before undici gave us a controller. */
  #abortReason: unknown
  #settled = false
  #status = 0
  #headers: HeaderMap | undefined
  /** Chunks of an answer being read whole. */
  #chunks: Buffer[] | undefined
  #size = 0
  #stream: UpstreamBody | undefined
  /** The answer has ended, completely or not: no deadline applies any more. */
  #done = false
  /** Its chunks move the body's deadline (false: a message due whole, see the options). */
  #chunksExtend = true
  /** An event stream that may stay quiet: no body deadline (`idleEventStreams`). */
  #idle = false
  /** The reader fell behind and paused the body (its deadline is off until it reads again). */
  #heldBack = false
  readonly #onAbort = (): void => this.#abort()

  constructor(
    options: AnswerOptions,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: Error) => void,
  ) {
    this.#options = options
    this.#resolve = resolve
    this.#reject = reject
    this.#listen(options.signal)
    this.#listen(options.callSignal)
  }

  #listen(signal: SignalLike | undefined): void {
    if (signal === undefined) return
    if (signal.aborted) this.#abortReason ??= reasonOf(signal)
    else signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller
    if (this.#abortReason !== undefined) {
      controller.abort(this.#abortReason as Error)
      return
    }
    const headersTimeoutMs = this.#options.headersTimeoutMs
    if (headersTimeoutMs > 0) {
      this.#options.deadlines.watch(this, headersTimeoutMs)
    }
  }

  /** A deadline passed: the headers', or the body's since its last chunk. */
  expire(): void {
    this.#controller?.abort(
      this.#headers === undefined
        ? new errors.HeadersTimeoutError('Headers Timeout Error')
        : new errors.BodyTimeoutError('Body Timeout Error'),
    )
  }

  /** The body's deadline, from now; none without a body timeout or once the answer ended. */
  #awaitBody(): void {
    const bodyTimeoutMs = this.#options.bodyTimeoutMs
    if (bodyTimeoutMs > 0 && !this.#done && !this.#idle) {
      this.#options.deadlines.watch(this, bodyTimeoutMs)
    } else this.#options.deadlines.unwatch(this)
  }

  onResponseStart(
    controller: Controller,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // An informational answer (`103 Early Hints`, a `100 Continue` nobody asked for) comes before
    // the real one, which undici announces next: taken for the answer, it had no body and the
    // real one went nowhere (the client waited for ever). Its hints are not passed on.
    if (status < 200) return
    this.#status = status
    this.#headers = headers as HeaderMap
    const eventStream = isEventStream(headers)
    this.#chunksExtend = this.#options.wholeMessageDeadline !== true || eventStream
    // The headers' deadline is met; the body's (if any) starts, unless an event stream may idle.
    if (eventStream && this.#options.idleEventStreams === true) this.#idle = true
    this.#awaitBody()
    if (this.#readsWhole(headers)) {
      this.#chunks = []
      return
    }
    this.#startStream(controller)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    // A new gap between chunks starts (only a field changes: the request is already watched).
    if (this.#chunksExtend && this.dueList !== undefined) {
      this.#options.deadlines.watch(this, this.#options.bodyTimeoutMs)
    }
    const chunks = this.#chunks
    if (chunks !== undefined) {
      chunks.push(chunk)
      this.#size += chunk.length
      if (this.#size <= this.#options.wholeBytes) return
      // Larger than announced (or not announced): stream it from here.
      this.#chunks = undefined
      this.#startStream(controller, chunks)
      return
    }
    if (this.#stream?.push(chunk) === false) {
      // The reader is behind: its slowness is not the upstream's (undici's body timer paused too).
      this.#options.deadlines.unwatch(this)
      this.#heldBack = true
      controller.pause()
    }
  }

  onResponseEnd(): void {
    this.#finish()
    const chunks = this.#chunks
    if (chunks !== undefined) {
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.#size)
      this.#settle(new UpstreamResponse(this.#status, this.#headers ?? {}, undefined, bytes))
      return
    }
    const stream = this.#stream
    if (stream === undefined) return
    stream.complete = true
    stream.push(null)
  }

  onResponseError(_controller: Controller, error: Error): void {
    this.#finish()
    if (this.#stream !== undefined) {
      this.#stream.destroy(error)
      return
    }
    if (this.#settled) return
    this.#settled = true
    const { errors, label } = this.#options
    const mapped =
      this.#headers === undefined ? errors.request(error, label) : errors.body(error, label)
    this.#reject(mapped)
  }

  #readsWhole(headers: Record<string, string | string[] | undefined>): boolean {
    const limit = this.#options.wholeBytes
    if (limit <= 0) return false
    if (isEventStream(headers)) return false
    const length = Number(headers['content-length'])
    return !(length > limit)
  }

  #startStream(controller: Controller, head: readonly Buffer[] = []): void {
    const stream = new UpstreamBody({
      read: () => {
        // The reader wants more: a gap between chunks starts, or, for a message due whole,
        // the time left starts again only after the reader held it back (its slowness is not
        // the upstream's).
        if (this.#chunksExtend || this.#heldBack) this.#awaitBody()
        this.#heldBack = false
        controller.resume()
      },
      destroy: (error, callback) => {
        // The reader stopped early (the client left, a bound was hit): release the upstream.
        if (!this.#done) controller.abort(error ?? new errors.RequestAbortedError())
        callback(error)
      },
    })
    // The body may fail (the upstream's socket reset) before anyone reads it: a batch waiting
    // on its slowest call, a body being drained. An 'error' event without a listener would end
    // the process; the reader, when it comes, still sees the error (`stream.errored`, and its
    // reads fail).
    stream.on('error', () => {})
    this.#stream = stream
    for (const chunk of head) stream.push(chunk)
    this.#settle(new UpstreamResponse(this.#status, this.#headers ?? {}, stream))
  }

  #settle(response: UpstreamResponse): void {
    if (this.#settled) return
    this.#settled = true
    if (this.#options.uncoded === true && response.headers['content-encoding'] !== undefined) {
      this.#settleUncoded(response)
      return
    }
    this.#resolve(response)
  }

  /** An answer coded though it was asked uncoded: given decoded (./content-coding.ts). */
  #settleUncoded(response: UpstreamResponse): void {
    try {
      const decoded = uncoded(response.headers, () => response.body, this.#options.label)
      if (decoded === undefined) this.#resolve(response)
      else this.#resolve(new UpstreamResponse(response.status, decoded.headers, decoded.body))
    } catch (error) {
      this.#reject(error as Error)
    }
  }

  #abort(): void {
    const { signal, callSignal } = this.#options
    const aborted = signal?.aborted ? signal : callSignal
    if (aborted === undefined) return
    const reason = reasonOf(aborted)
    if (this.#controller === undefined) this.#abortReason = reason
    else this.#controller.abort(reason as Error)
  }

  /** The answer ended (whole, or failed): no more deadlines, no more aborts. */
  #finish(): void {
    this.#done = true
    this.#options.deadlines.unwatch(this)
    this.#stopListening()
  }

  #stopListening(): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    this.#options.callSignal?.removeEventListener('abort', this.#onAbort)
  }
}

/** An answer's body as it streams; `complete` once its last chunk was pushed (util/chunks.ts). */
class UpstreamBody extends Readable implements CompletableReadable {
  complete = false
}

function reasonOf(signal: SignalLike): unknown {
  return signal.reason ?? new errors.RequestAbortedError()
}

function isEventStream(headers: Record<string, string | string[] | undefined>): boolean {
  const type = headers['content-type']
  return typeof type === 'string' && type.trim().toLowerCase().startsWith('text/event-stream')
}
