/**
 * A bounded single-consumer async queue: producers push without waiting, the consumer iterates
 * with `for await`. Past the bound (a count of items, and of bytes when items say their size)
 * the oldest items are dropped (and counted): a consumer that stops reading can never make the
 * producer's memory grow. The newest item is always kept, whatever its size.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = []
  readonly #sizes: number[] = []
  readonly #max: number
  readonly #maxBytes: number
  #bytes = 0
  #wake: (() => void) | undefined
  #ended = false
  #failure: { error: unknown } | undefined
  /** Producers waiting for the consumer to bring the bytes down (see `room`). */
  #roomWaiters: Array<{ below: number; resolve: () => void }> = []
  #consumerGone = false
  dropped = 0

  constructor(max = 10_000, maxBytes = Number.POSITIVE_INFINITY) {
    this.#max = max
    this.#maxBytes = maxBytes
  }

  get size(): number {
    return this.#items.length
  }

  /** The bytes the waiting items said they hold. */
  get bytes(): number {
    return this.#bytes
  }

  push(item: T, bytes = 0): void {
    if (this.#ended) return
    this.#items.push(item)
    this.#sizes.push(bytes)
    this.#bytes += bytes
    while (
      this.#items.length > 1 &&
      (this.#items.length > this.#max || this.#bytes > this.#maxBytes)
    ) {
      this.#take()
      this.dropped++
    }
    this.#notify()
  }

  /**
   * Undefined while at most `below` bytes wait; else resolves once the consumer has taken
   * enough (or stopped, or the queue ended): a producer that can slow its source waits on it
   * instead of having its items dropped.
   */
  room(below: number): Promise<void> | undefined {
    if (this.#bytes <= below || this.#ended || this.#consumerGone) return undefined
    return new Promise((resolve) => this.#roomWaiters.push({ below, resolve }))
  }

  #take(): T {
    this.#bytes -= this.#sizes.shift() as number
    if (this.#roomWaiters.length > 0) this.#wakeProducers(false)
    return this.#items.shift() as T
  }

  #wakeProducers(all: boolean): void {
    const waiting = this.#roomWaiters
    this.#roomWaiters = []
    for (const waiter of waiting) {
      if (all || this.#bytes <= waiter.below) waiter.resolve()
      else this.#roomWaiters.push(waiter)
    }
  }

  /** No more items: the iteration ends once the queue is drained. */
  end(): void {
    this.#ended = true
    this.#wakeProducers(true)
    this.#notify()
  }

  /** The iteration throws `error` once the queue is drained. */
  fail(error: unknown): void {
    if (this.#ended) return
    this.#failure = { error }
    this.end()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        while (this.#items.length > 0) yield this.#take()
        if (this.#ended) break
        await new Promise<void>((resolve) => {
          this.#wake = resolve
        })
      }
      if (this.#failure) throw this.#failure.error
    } finally {
      // The consumer stopped (done, or gone early): nobody will make room any more.
      this.#consumerGone = true
      this.#wakeProducers(true)
    }
  }
}
