/**
 * Batches POSTed as JSON to an HTTP endpoint, off the request path: the cloud/webhook sink and
 * the OTLP trace exporter share it. `push` only appends to a bounded buffer (what does not fit
 * is dropped and counted, it never waits); one POST is in flight at a time; a failed POST
 * (network error, timeout, 408, 429, 5xx) is retried with exponential backoff up to
 * `maxAttempts`, then its batch is dropped and counted; other 4xx answers drop the batch at
 * once (retrying cannot fix them). Timers never keep the process alive; `close` sends what is
 * left within a deadline.
 */
import { Agent, request } from 'undici'
import { BodyWriter } from '../util/body-writer.ts'
import type { PipeStats, StatsSource } from './status.ts'

export interface BatchPostOptions<T> {
  /** Names the sink in metrics and messages. */
  name: string
  url: string
  /** Sent with every POST (authorization); never logged. */
  headers?: Record<string, string>
  batchSize: number
  flushIntervalMs: number
  /** Items buffered, the batch being sent included. */
  maxBuffer: number
  maxAttempts: number
  /** Wait before the first retry; doubles each time (mcpr: 1 s, 2 s, 4 s). */
  backoffMs?: number
  maxBackoffMs?: number
  timeoutMs?: number
  /** Writes a batch's JSON body into `body` (appended as UTF-8, no batch-sized string). */
  encode(batch: readonly T[], body: BodyWriter): void
  /** A delivery problem (rate-limited by the poster: one message per 10 s at most). */
  onError?(message: string): void
}

const REPORT_EVERY_MS = 10_000

export class BatchPoster<T> implements StatsSource {
  readonly name: string
  readonly #options: BatchPostOptions<T>
  readonly #agent: Agent
  /** The body of the batch being sent: one POST is in flight at a time, so one buffer. */
  readonly #body = new BodyWriter()
  #buffer: T[] = []
  #sending = 0
  #timer: NodeJS.Timeout | undefined
  #busy: Promise<void> | undefined
  #closed = false
  #sent = 0
  #dropped = 0
  #failed = 0
  #reportedAt = Number.NEGATIVE_INFINITY

  constructor(options: BatchPostOptions<T>) {
    this.name = options.name
    this.#options = options
    this.#agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 })
  }

  /** Buffers items; drops (and counts) those beyond the bound. Never waits. */
  push(items: readonly T[]): void {
    if (this.#closed) {
      this.#dropped += items.length
      return
    }
    const room = this.#options.maxBuffer - this.#buffer.length - this.#sending
    if (room < items.length) this.#dropped += items.length - Math.max(room, 0)
    for (let i = 0; i < Math.min(room, items.length); i++) this.#buffer.push(items[i] as T)
    if (this.#buffer.length >= this.#options.batchSize) this.#kick()
    else this.#schedule()
  }

  pipeStats(): PipeStats {
    return {
      sent: this.#sent,
      dropped: this.#dropped,
      pending: this.#buffer.length + this.#sending,
      failed: this.#failed,
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#busy !== undefined || this.#buffer.length === 0) return
    this.#timer = setTimeout(() => this.#kick(), this.#options.flushIntervalMs)
    this.#timer.unref()
  }

  #kick(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#busy !== undefined) return
    this.#busy = this.#drain().finally(() => {
      this.#busy = undefined
      this.#schedule()
    })
  }

  /** Sends full batches while there are some (and everything when closing). */
  async #drain(): Promise<void> {
    const { batchSize } = this.#options
    while (this.#buffer.length >= batchSize || (this.#closed && this.#buffer.length > 0)) {
      await this.#sendOne(this.#buffer.splice(0, batchSize))
    }
    if (!this.#closed && this.#buffer.length > 0 && this.#timer === undefined) {
      // A partial batch whose interval passed: send it now.
      await this.#sendOne(this.#buffer.splice(0, batchSize))
    }
  }

  async #sendOne(batch: T[]): Promise<void> {
    this.#sending = batch.length
    try {
      this.#body.reset()
      this.#options.encode(batch, this.#body)
      const body = this.#body.bytes()
      let delay = this.#options.backoffMs ?? 1000
      for (let attempt = 1; ; attempt++) {
        const outcome = await this.#post(body)
        if (outcome === 'ok') {
          this.#sent += batch.length
          return
        }
        this.#failed++
        if (outcome === 'fatal' || attempt >= this.#options.maxAttempts || this.#closed) {
          this.#dropped += batch.length
          this.#report(`${this.name}: dropped ${batch.length} events after ${attempt} attempts`)
          return
        }
        await sleep(delay)
        delay = Math.min(delay * 2, this.#options.maxBackoffMs ?? 30_000)
      }
    } catch (error) {
      this.#dropped += batch.length
      this.#report(`${this.name}: batch dropped: ${String(error)}`)
    } finally {
      this.#sending = 0
    }
  }

  async #post(body: Buffer): Promise<'ok' | 'retry' | 'fatal'> {
    try {
      const response = await request(this.#options.url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json', ...this.#options.headers },
        body,
        headersTimeout: this.#options.timeoutMs ?? 10_000,
        bodyTimeout: this.#options.timeoutMs ?? 10_000,
      })
      await response.body.dump()
      const status = response.statusCode
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
    const work = (async () => {
      await this.#busy
      await this.#drain()
    })()
    await Promise.race([work, sleep(deadlineMs)])
    this.#dropped += this.#buffer.length
    this.#buffer = []
    await this.#agent.destroy().catch(() => {})
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
