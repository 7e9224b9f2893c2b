/**
 * The HTTP hop to upstreams: one undici Pool of keep-alive connections per upstream origin,
 * and the mapping of transport failures to Portico's error reasons (refused →
 * upstream_unavailable, no answer in time → upstream_timeout).
 */
import type { Readable } from 'node:stream'
import { notSent, PorticoError } from '../errors.ts'
import { basicAuthorizationOf, type HeaderMap, hasHeader } from '../http/headers.ts'
import type { SignalLike } from '../pipeline/signal.ts'
import type { Clock } from '../util/clock.ts'
import { errors, Pool } from '../util/undici.ts'
import { type AnswerErrors, AnswerHandler, type UpstreamResponse } from './answer.ts'
import { asksIdentity } from './content-coding.ts'
import { REQUEST_DEADLINE_TICK_MS, RequestDeadlines } from './request-deadlines.ts'

export { UpstreamResponse } from './answer.ts'

export interface HttpClientOptions {
  connectTimeoutMs: number
  /** Time allowed until the upstream's response headers arrive. */
  headersTimeoutMs: number
  /** The clock its requests' deadlines run on (tests pass a hand-driven one). */
  clock?: Clock
}

export interface UpstreamRequest {
  url: URL
  method: string
  headers: HeaderMap
  body?: Buffer | Readable | null
  /** Stops the request (a connection closing, a call cancelled): a real or a CallSignal. */
  signal?: SignalLike | undefined
  /** A second reason to stop it, e.g. the call's signal beside the connection's own. */
  callSignal?: SignalLike | undefined
  /** Names the upstream in error messages (never its credentials). */
  label: string
  /**
   * The call's deadline: time allowed until the answer's headers, and then between two chunks
   * of its body (not counted while the client reads slowly). Default: the client's header
   * timeout and no body timeout (a GET stream may stay idle).
   */
  timeoutMs?: number
  /**
   * The time allowed until the answer's headers when it is not `timeoutMs` (0: none, for a
   * request whose caller holds its own deadline and aborts `callSignal` at it).
   */
  headersTimeoutMs?: number
  /**
   * The time allowed between two chunks of the body when it is not `timeoutMs` (0: none, for a
   * stream meant to stay open while quiet, such as `subscriptions/listen`).
   */
  bodyTimeoutMs?: number
  /**
   * An SSE answer has no body timeout (a GET stream may stay quiet for long); any other answer
   * keeps `timeoutMs` as its whole-message deadline. For a request that may be answered either
   * way (a GET or DELETE on the MCP endpoint).
   */
  idleEventStreams?: boolean
  /**
   * An answer that is not an SSE stream must be complete within the body timeout of its
   * headers, not within it between two chunks: an MCP answer in JSON is one message, and an
   * upstream trickling a byte at a time would otherwise hold the call for ever. Default false
   * (forwarded files and pages may take long and still be making progress).
   */
  wholeMessageDeadline?: boolean
  /**
   * Read a non-SSE answer whole when it is at most this many bytes (one buffer, no stream);
   * default 0: always streamed.
   */
  wholeBytes?: number
}

export class HttpClient {
  // A Pool per origin, looked up directly: an undici Agent does the same lookup plus a
  // dispatch layer per request, measurable on the hot path (see bench/reports).
  readonly #pools = new Map<string, Pool>()
  readonly #options: HttpClientOptions
  /** The deadline for the response headers of a request that sets none (`request_timeout`). */
  #headersTimeoutMs: number
  /** The origins it may contact; undefined until `allowOrigins` (a library user's own client). */
  #allowed: ReadonlySet<string> | undefined
  /** Its requests' deadlines; undici's timers are off (request-deadlines.ts). */
  readonly #deadlines: RequestDeadlines

  constructor(options: HttpClientOptions) {
    this.#options = options
    this.#headersTimeoutMs = options.headersTimeoutMs
    this.#deadlines = new RequestDeadlines(REQUEST_DEADLINE_TICK_MS, options.clock)
  }

  /**
   * A new deadline for requests that set none (forwarded traffic, GET streams): a hot reload
   * of `request_timeout`. Requests already sent keep theirs.
   */
  setHeadersTimeout(ms: number): void {
    this.#headersTimeoutMs = ms
  }

  /**
   * Restricts the client to these origins (the config's upstreams); pools of origins no longer
   * listed (a backend removed by a reload) are closed.
   */
  allowOrigins(origins: Iterable<string>): void {
    const allowed = new Set(origins)
    this.#allowed = allowed
    for (const [origin, pool] of this.#pools) {
      if (allowed.has(origin)) continue
      this.#pools.delete(origin)
      pool.close().catch(() => {})
    }
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin)
    if (pool === undefined) {
      if (this.#allowed !== undefined && !this.#allowed.has(origin)) {
        throw new PorticoError('internal_error', {
          message: `Refusing to contact ${origin}: not a configured upstream`,
        })
      }
      pool = new Pool(origin, {
        connect: { timeout: this.#options.connectTimeoutMs },
        keepAliveTimeout: 30_000,
        // The AnswerHandler keeps the deadlines (request-deadlines.ts): undici's timers are off.
        bodyTimeout: 0,
        headersTimeout: 0,
      })
      this.#pools.set(origin, pool)
    }
    return pool
  }

  /**
   * Sends a request; resolves with the answer once its headers are here, or, for a non-SSE
   * answer of at most `request.wholeBytes`, once all of it is (then `bytes` holds it).
   */
  send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const { label } = request
    return new Promise((resolve, reject) => {
      const handler = new AnswerHandler(
        {
          wholeBytes: request.wholeBytes ?? 0,
          signal: request.signal,
          callSignal: request.callSignal,
          label,
          errors: ANSWER_ERRORS,
          deadlines: this.#deadlines,
          headersTimeoutMs: request.headersTimeoutMs ?? request.timeoutMs ?? this.#headersTimeoutMs,
          // SSE streams may stay idle for long: no body deadline unless the call has one.
          bodyTimeoutMs: request.bodyTimeoutMs ?? request.timeoutMs ?? 0,
          wholeMessageDeadline: request.wholeMessageDeadline === true,
          idleEventStreams: request.idleEventStreams === true,
          uncoded: asksIdentity(request.headers),
        },
        resolve,
        reject,
      )
      try {
        this.#pool(request.url.origin).dispatch(
          {
            path: request.url.pathname + request.url.search,
            method: request.method as 'GET',
            headers: withUrlCredentials(request.url, request.headers),
            body: request.body ?? null,
          },
          handler,
        )
      } catch (error) {
        reject(upstreamError(error, label))
      }
    })
  }

  /**
   * Ends every request in flight with `error` (their answers fail with it: a drain's deadline
   * says why). The pools go with them; a later request opens a new one.
   */
  async cut(error: Error): Promise<void> {
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(pools.map((pool) => pool.destroy(error)))
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()))
    this.#deadlines.stop()
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.destroy()))
    this.#deadlines.stop()
  }
}

/**
 * Maps a failure while reading an answer's body: the body timeout is the deadline
 * (`upstream_timeout`); anything else ended the answer early (`upstream_stream_ended`).
 */
export function bodyError(error: unknown, label: string): PorticoError {
  if (error instanceof PorticoError) return error
  if (error instanceof errors.BodyTimeoutError) return upstreamError(error, label)
  return new PorticoError('upstream_stream_ended', {
    message: `Upstream ${label} ended its answer before the response`,
    data: { upstream: label },
    cause: error,
  })
}

/** Maps an undici/network failure to a PorticoError that names the upstream. */
export function upstreamError(error: unknown, label: string): PorticoError {
  if (error instanceof PorticoError) return error
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
    return new PorticoError('upstream_timeout', {
      message: `Upstream ${label} did not answer in time`,
      data: { upstream: label, reason: 'timeout' },
      cause: error,
    })
  }
  if (error instanceof errors.ConnectTimeoutError) {
    return notSent(
      new PorticoError('upstream_timeout', {
        message: `Upstream ${label} did not accept the connection in time`,
        data: { upstream: label, reason: 'connect_timeout' },
        cause: error,
      }),
    )
  }
  // Not always a string: some errors carry a number (an errno) as their code.
  const raw = (error as { code?: unknown } | undefined)?.code
  const code = typeof raw === 'string' ? raw : undefined
  const invalid = invalidHttpOf(error, code)
  if (invalid !== undefined) {
    // The upstream was reached and answered, wrongly: not "unreachable".
    return new PorticoError('upstream_bad_response', {
      message: `Upstream ${label} sent an answer that is not valid HTTP (${invalid})`,
      data: { upstream: label },
      cause: error,
    })
  }
  const failure = new PorticoError('upstream_unavailable', {
    message: `Upstream ${label} is unreachable${code ? ` (${code})` : ''}`,
    data: { upstream: label, reason: 'unavailable' },
    cause: error,
  })
  // No connection was made: the request cannot have reached the upstream.
  return code !== undefined && NOT_CONNECTED.has(code) ? notSent(failure) : failure
}

/**
 * What is wrong with an answer HTTP/1.1 cannot read, in words, or undefined for another failure
 * (a connection refused, reset or cut: the upstream's to explain).
 */
function invalidHttpOf(error: unknown, code: string | undefined): string | undefined {
  // A 101 nobody asked for trips undici's own assertion; one with an Upgrade, its socket's.
  if (code === 'ERR_ASSERTION') return 'an unexpected status, such as 101 without an upgrade'
  if (code === 'UND_ERR_SOCKET' && (error as Error).message === 'bad upgrade') {
    return 'a 101 upgrade nobody asked for'
  }
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'a body longer than its Content-Length'
  // Not HTTP/1.1 at all (an HTTP/2 preface): undici's parser error carries no code then.
  if (code?.startsWith('HPE_') || error instanceof errors.HTTPParserError) {
    return code ?? 'not an HTTP/1.1 response'
  }
  return undefined
}

const ANSWER_ERRORS: AnswerErrors = { request: upstreamError, body: bodyError }

/** Socket errors that mean the connection was never established. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
])

/**
 * The headers with the URL's `user:password@` as Basic authentication (an upstream or backend
 * URL may carry them, as mcp-proxy's may), unless they set `Authorization` themselves.
 */
function withUrlCredentials(url: URL, headers: HeaderMap): HeaderMap {
  if (url.username === '' && url.password === '') return headers
  const authorization = basicAuthorizationOf(url)
  if (
    authorization === undefined ||
    hasHeader(headers as Record<string, string>, 'authorization')
  ) {
    return headers
  }
  return { ...headers, authorization }
}
