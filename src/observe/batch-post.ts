/**
 * Batches POSTed to an HTTP endpoint, off the request path: the cloud/webhook sink (JSON) and
 * the OTLP trace exporter (protobuf or JSON) share it. `push` only appends to a bounded buffer (what does not fit
 * is dropped and counted, it never waits); one POST is in flight at a time; a failed POST
 * (network error, timeout, 408, 429, 5xx) is retried with exponential backoff up to
 * `maxAttempts`, then its batch is dropped and counted; other 4xx answers drop the batch at
 * once (retrying cannot fix them). Timers never keep the process alive; `close` sends what is
 * left within a deadline.
 */
import { basicAuthorizationOf, hasHeader } from '../http/headers.ts'
import { BodyWriter } from '../util/body-writer.ts'
import { Pool, post } from '../util/undici.ts'
import type { PipeStats, StatsSource } from './status.ts'

export interface BatchPostOptions {
  /** Names the sink in metrics and messages. */
  name: string
  url: string
  /** Sent with every POST (authorization); never logged. */
  headers?: Record<string, string>
  batchSize: number
  flushIntervalMs: number
  /** Elements buffered, the batch being sent included. */
  maxBuffer: number
  maxAttempts: number
  /** Wait before the first retry; doubles each time (mcpr: 1 s, 2 s, 4 s). */
  backoffMs?: number
  maxBackoffMs?: number
  timeoutMs?: number
  /** How elements become a body (`jsonArray` for JSON texts). */
  format: BatchFormat
  /** A delivery problem (rate-limited by the poster: one message per 10 s at most). */
  onError?(message: string): void
}

/** How a batch's elements become one body. */
export interface BatchFormat {
  contentType: string
  /** Written between two elements: a comma in a JSON array, nothing for protobuf's repeated fields. */
  separator: string
  /** The whole body: the pieces before and after the elements (some depend on their length). */
  frame(elements: Buffer): { head: Buffer; tail: Buffer }
}

/** Elements that are JSON texts, joined by commas between a fixed prefix and suffix. */
export function jsonArray(prefix: string, suffix: string): BatchFormat {
  const head = Buffer.from(prefix, 'utf8')
  const tail = Buffer.from(suffix, 'utf8')
  return { contentType: 'application/json', separator: ',', frame: () => ({ head, tail }) }
}

/** A batch ready to send: its whole body, and how many elements it carries. */
interface Batch {
  body: Buffer
  count: number
}

const REPORT_EVERY_MS = 10_000
/** Bytes buffered at most (the batch being sent aside), whatever `maxBuffer` allows. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/**
 * Elements (texts, or encoded bytes) are written into the open batch as they are pushed:
 * nothing per element waits for the batch (an object or a Buffer per span or event, alive for
 * up to the flush interval, was copied by every young-generation GC and then promoted). A full
 * batch, or the open one when the interval is over, is sealed into one body Buffer.
 */
export class BatchPoster implements StatsSource {
  readonly name: string
  readonly #options: BatchPostOptions
  /** Keep-alive connections to the endpoint (one URL, so one origin). */
  readonly #pool: Pool
  readonly #path: string
  /** Sent with every POST: the format's type, the URL's credentials, then `headers`. */
  readonly #headers: Record<string, string>
  readonly #format: BatchFormat
  /** The elements of the batch being filled, separated as the format says. */
  readonly #open = new BodyWriter()
  #openCount = 0
  /** Sealed batches waiting for their POST (one is in flight at a time). */
  #sealed: Batch[] = []
  #sealedCount = 0
  #sending = 0
  #timer: NodeJS.Timeout | undefined
  #busy: Promise<void> | undefined
  #closed = false
  #sent = 0
  #dropped = 0
  #failed = 0
  #reportedAt = Number.NEGATIVE_INFINITY

  constructor(options: BatchPostOptions) {
    this.name = options.name
    this.#options = options
    this.#format = options.format
    const url = new URL(options.url)
    this.#pool = new Pool(url.origin, { connections: 2, keepAliveTimeout: 10_000 })
    this.#path = `${url.pathname}${url.search}`
    this.#headers = {
      'content-type': this.#format.contentType,
      ...(hasHeader(options.headers, 'authorization') ? {} : basicAuthOf(url)),
      ...options.headers,
    }
  }

  /**
   * Buffers one element (a text, written as UTF-8, or bytes, copied); drops (and counts) it
   * beyond the bound. Never waits.
   */
  push(element: string | Uint8Array): void {
    if (
      this.#closed ||
      this.#buffered() >= this.#options.maxBuffer ||
      this.#bufferedBytes() >= MAX_BUFFERED_BYTES
    ) {
      this.#dropped++
      return
    }
    const separator = this.#format.separator
    if (this.#openCount > 0 && separator !== '') this.#open.text(separator)
    if (typeof element === 'string') this.#open.text(element)
    else this.#open.append(element)
    this.#openCount++
    if (this.#openCount >= this.#options.batchSize) {
      this.#seal()
      this.#kick()
    } else this.#schedule()
  }

  pipeStats(): PipeStats {
    return {
      sent: this.#sent,
      dropped: this.#dropped,
      pending: this.#buffered(),
      failed: this.#failed,
    }
  }

  #buffered(): number {
    return this.#openCount + this.#sealedCount + this.#sending
  }

  /**
   * Bytes waiting: the open batch and the sealed ones. `maxBuffer` counts elements; this bounds
   * their size too, whatever each element holds, while the endpoint is slow or down.
   */
  #bufferedBytes(): number {
    let bytes = this.#open.length
    for (const batch of this.#sealed) bytes += batch.body.length
    return bytes
  }

  /** The open batch becomes a body of its own (one copy per batch, not per element). */
  #seal(): void {
    if (this.#openCount === 0) return
    const elements = this.#open.bytes()
    const { head, tail } = this.#format.frame(elements)
    const body = Buffer.concat([head, elements, tail])
    this.#sealed.push({ body, count: this.#openCount })
    this.#sealedCount += this.#openCount
    this.#open.reset()
    this.#openCount = 0
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#busy !== undefined || this.#openCount === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#seal()
      this.#kick()
    }, this.#options.flushIntervalMs)
    this.#timer.unref()
  }

  #kick(): void {
    if (this.#busy !== undefined) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#busy = this.#drain().finally(() => {
      this.#busy = undefined
      this.#schedule()
    })
  }

  /** Sends the sealed batches, oldest first. */
  async #drain(): Promise<void> {
    for (let batch = this.#sealed.shift(); batch !== undefined; batch = this.#sealed.shift()) {
      this.#sealedCount -= batch.count
      await this.#sendOne(batch)
    }
  }

  async #sendOne(batch: Batch): Promise<void> {
    this.#sending = batch.count
    try {
      let delay = this.#options.backoffMs ?? 1000
      for (let attempt = 1; ; attempt++) {
        const outcome = await this.#post(batch.body)
        if (outcome === 'ok') {
          this.#sent += batch.count
          return
        }
        this.#failed++
        if (outcome === 'fatal' || attempt >= this.#options.maxAttempts || this.#closed) {
          this.#dropped += batch.count
          this.#report(`${this.name}: dropped ${batch.count} events after ${attempt} attempts`)
          return
        }
        await sleep(delay)
        delay = Math.min(delay * 2, this.#options.maxBackoffMs ?? 30_000)
      }
    } catch (error) {
      this.#dropped += batch.count
      this.#report(`${this.name}: batch dropped: ${String(error)}`)
    } finally {
      this.#sending = 0
    }
  }

  async #post(body: Buffer): Promise<'ok' | 'retry' | 'fatal'> {
    try {
      const { status } = await post(this.#pool, {
        path: this.#path,
        headers: this.#headers,
        body,
        timeoutMs: this.#options.timeoutMs ?? 10_000,
      })
      if (status >= 200 && status < 300) return 'ok'
      this.#report(`${this.name}: endpoint answered HTTP ${status}`)
      return status === 408 || status === 429 || status >= 500 ? 'retry' : 'fatal'
    } catch (error) {
      this.#report(`${this.name}: POST failed: ${error instanceof Error ? error.message : error}`)
      return 'retry'
    }
  }

  #report(message: string): void {
    const now = Date.now()
    if (now - this.#reportedAt < REPORT_EVERY_MS) return
    this.#reportedAt = now
    try {
      this.#options.onError?.(message)
    } catch {
      // A failing logger must not break delivery.
    }
  }

  /** Sends what is buffered (one attempt per batch), within `deadlineMs`. */
  async close(deadlineMs = 5000): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#seal()
    const work = (async () => {
      await this.#busy
      await this.#drain()
    })()
    await Promise.race([work, sleep(deadlineMs)])
    this.#dropped += this.#sealedCount
    this.#sealed = []
    this.#sealedCount = 0
    await this.#pool.destroy().catch(() => {})
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/** An endpoint URL's `user:password@` as the request's Basic authentication, if it has them. */
function basicAuthOf(url: URL): { authorization?: string } {
  const authorization = basicAuthorizationOf(url)
  return authorization === undefined ? {} : { authorization }
}
