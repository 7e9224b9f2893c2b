/**
 * The event bus: a bounded, non-blocking queue between the hot path and the sinks. `publish`
 * is O(1) and never waits; when the queue is full the event is dropped and counted. A
 * dispatcher drains the queue in batches on a later tick and hands them to every sink.
 */

import { doneOrAfter } from '../util/within.ts'
import type { PorticoEvent } from './event.ts'

export interface Sink {
  readonly name: string
  /**
   * True when the sink uses the params and results of schema methods (`initialize`, lists):
   * only then are those answers parsed on the request path. Default false.
   */
  readonly wantsResults?: boolean
  /** Receives a batch; must not block (buffer internally and flush on its own schedule). */
  write(events: readonly PorticoEvent[]): void
  /** Flushes what is buffered; called at shutdown. */
  close(): Promise<void>
}

export interface BusStats {
  published: number
  dropped: number
  queued: number
  sinkErrors: number
}

export interface EventBusOptions {
  /** Maximum queued events before new ones are dropped. */
  capacity?: number
  /** Largest batch handed to sinks at once. */
  batchSize?: number
  onSinkError?: (sink: Sink, error: unknown) => void
}

export class EventBus {
  readonly #capacity: number
  readonly #batchSize: number
  readonly #sinks: Sink[] = []
  readonly #onSinkError: ((sink: Sink, error: unknown) => void) | undefined
  #queue: PorticoEvent[] = []
  #scheduled = false
  #closed = false
  #published = 0
  #dropped = 0
  #sinkErrors = 0
  #wantsResults = false
  /** Exchanges whose events are still to come (each recorder counts itself in, then out). */
  #pending = 0
  #whenSettled: (() => void) | undefined

  constructor(options: EventBusOptions = {}) {
    this.#capacity = options.capacity ?? 10_000
    this.#batchSize = options.batchSize ?? 512
    this.#onSinkError = options.onSinkError
  }

  addSink(sink: Sink): void {
    this.#sinks.push(sink)
    if (sink.wantsResults === true) this.#wantsResults = true
  }

  get hasSinks(): boolean {
    return this.#sinks.length > 0
  }

  /** Whether any sink uses schema results (so they are worth parsing). */
  get wantsResults(): boolean {
    return this.#wantsResults
  }

  /** Enqueues an event for the sinks; never blocks, drops when full. */
  publish(event: PorticoEvent): void {
    if (this.#closed || this.#sinks.length === 0) return
    if (this.#queue.length >= this.#capacity) {
      this.#dropped++
      return
    }
    this.#published++
    this.#queue.push(event)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#drain)
    }
  }

  stats(): BusStats {
    return {
      published: this.#published,
      dropped: this.#dropped,
      queued: this.#queue.length,
      sinkErrors: this.#sinkErrors,
    }
  }

  readonly #drain = (): void => {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    for (let i = 0; i < queue.length; i += this.#batchSize) {
      this.#deliver(queue.slice(i, i + this.#batchSize))
    }
  }

  #deliver(batch: readonly PorticoEvent[]): void {
    for (const sink of this.#sinks) {
      try {
        sink.write(batch)
      } catch (error) {
        // A failing sink must never affect traffic or the other sinks.
        this.#sinkErrors++
        this.#onSinkError?.(sink, error)
      }
    }
  }

  /** Delivers what is queued, then closes every sink (each one even if another fails). */
  /** An exchange began whose events will be published (or not) when it ends: see `settled`. */
  expect(): void {
    this.#pending++
  }

  /** That exchange ended. */
  settle(): void {
    this.#pending--
    if (this.#pending === 0) this.#whenSettled?.()
  }

  /**
   * Resolves once every exchange that began has ended, or after `timeoutMs`: a stop waits here
   * before `close`, so the calls its drain cut short are recorded, not lost.
   */
  settled(timeoutMs: number): Promise<void> {
    if (this.#pending <= 0) return Promise.resolve()
    const wait = doneOrAfter(timeoutMs)
    this.#whenSettled = wait.done
    return wait.promise
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#drain()
    this.#closed = true
    await Promise.allSettled(this.#sinks.map((sink) => sink.close()))
  }
}
