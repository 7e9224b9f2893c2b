/**
 * Legacy HTTP+SSE backends (2024-11-05 transport): a GET stream whose first `endpoint` event
 * names the URL to POST messages to; every answer comes back on that one stream, so calls are
 * matched by id and server requests go to the most recent call (exact with one client).
 */
import { setMaxListeners } from 'node:events'
import { PorticoError } from '../../errors.ts'
import { headerValue } from '../../http/headers.ts'
import { encodeValues, type JsonRpcMessage, parseExact } from '../../jsonrpc/message.ts'
import { SseParser } from '../../protocol/sse.ts'
import { Connection, type Pending, type ServerInfo } from './connection.ts'
import { connectionHeaders, type HttpConnectionOptions, labelOfBackend } from './http.ts'
import { httpStatusError } from './http-status.ts'

/** What a POST's "Accepted" may say, read whole; more is dropped unread. */
const ACCEPTED_BYTES = 4096

export class SseConnection extends Connection {
  readonly #options: HttpConnectionOptions
  readonly #abort = new AbortController()
  readonly #label: string
  #endpoint: URL | undefined

  constructor(options: HttpConnectionOptions) {
    super(options.config.name)
    this.#options = options
    this.#label = labelOfBackend(options.config)

    // Every request of this connection listens on its signal while in flight: as many as the
    // calls in flight, not a leak (Node warns at 11 listeners, e.g. 16 concurrent slow calls).
    setMaxListeners(0, this.#abort.signal)
  }

  async open(): Promise<ServerInfo> {
    const url = new URL(this.#options.config.url ?? '')
    const response = await this.#options.http.send({
      url,
      method: 'GET',
      headers: { ...connectionHeaders(this.#options), accept: 'text/event-stream' },
      signal: this.#abort.signal,
      label: this.#label,
      // The start's deadline covers the stream's headers too (a backend that accepts the
      // connection and never answers held the start for the request timeout); the stream
      // itself may then stay quiet.
      timeoutMs: this.#options.startupTimeoutMs,
      bodyTimeoutMs: 0,
    })
    if (response.status !== 200) {
      response.body.resume()
      throw new PorticoError('backend_failed', {
        message: `Backend ${this.#label} answered HTTP ${response.status} to the SSE GET`,
      })
    }
    const endpoint = new Promise<URL>((resolve, reject) => {
      const parser = new SseParser(this.#options.maxMessageBytes)
      const failed = (message: string) => {
        clearTimeout(deadline)
        const error = new PorticoError('backend_failed', { message })
        reject(error)
        this.fail(error)
        this.#abort.abort()
      }
      // A stream that stays open without naming its endpoint would hold the start forever.
      const limitMs = this.#options.startupTimeoutMs
      const deadline = setTimeout(
        () => failed(`Backend ${this.#label} sent no endpoint event within ${limitMs} ms`),
        limitMs,
      )
      deadline.unref()
      response.body.setEncoding('utf8')
      response.body.on('data', (chunk: string) => {
        for (const event of parser.push(chunk)) {
          if (event.event === 'endpoint') {
            clearTimeout(deadline)
            if (URL.canParse(event.data, url.href)) resolve(new URL(event.data, url))
            else failed(`Backend ${this.#label} sent an endpoint that is not a URL`)
          } else if (event.data) this.#message(event.data)
        }
      })
      const ended = () => failed(`Backend ${this.#label} closed its SSE stream`)
      response.body.on('end', ended)
      response.body.on('error', ended)
    })
    this.#endpoint = await endpoint
    return this.initialize(this.#options.initParams, this.#options.startupTimeoutMs)
  }

  /** Not JSON: ignored, as an SSE client ignores unknown events (`receive` skips non-objects). */
  #message(data: string): void {
    this.receive(parseExact(data))
  }

  protected async transmit(message: JsonRpcMessage, pending?: Pending): Promise<void> {
    if (!this.#endpoint) throw new PorticoError('backend_failed', { message: 'not connected' })
    const response = await this.#options.http.send({
      url: this.#endpoint,
      method: 'POST',
      headers: {
        ...connectionHeaders(this.#options),
        ...pending?.headers,
        'content-type': 'application/json',
      },
      body: Buffer.from(encodeValues(message)),
      signal: this.#abort.signal,
      label: this.#label,
      timeoutMs: this.#options.timeoutMs,
      wholeMessageDeadline: true,
      wholeBytes: ACCEPTED_BYTES,
    })
    // The answers come on the GET stream: this one only says whether the POST was taken. A
    // body past a few bytes is dropped, never read to its end (one that never ended held a
    // socket per call).
    if (response.bytes === undefined) response.body.destroy()
    if (response.status >= 400) {
      throw httpStatusError({
        backend: this.backend,
        label: this.#label,
        status: response.status,
        retryAfter: headerValue(response.headers, 'retry-after'),
      })
    }
  }

  async close(): Promise<void> {
    this.fail(new PorticoError('backend_failed', { message: `Backend ${this.backend} closed` }))
    this.#abort.abort()
  }
}
