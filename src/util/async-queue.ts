/**
 * A bounded single-consumer async queue: producers push without waiting, the consumer iterates
 * with `for await`. Past the bound the oldest item is dropped (and counted): a consumer that
 * stops reading can never make the producer's memory grow.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = []
  readonly #max: number
  #wake: (() => void) | undefined
  #ended = false
  #failure: { error: unknown } | undefined
  dropped = 0

  constructor(max = 10_000) {
    this.#max = max
  }

  get size(): number {
    return this.#items.length
  }

  push(item: T): void {
    if (this.#ended) return
    if (this.#items.length >= this.#max) {
      this.#items.shift()
      this.dropped++
    }
    this.#items.push(item)
    this.#notify()
  }

  /** No more items: the iteration ends once the queue is drained. */
  end(): void {
    this.#ended = true
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
    for (;;) {
      while (this.#items.length > 0) yield this.#items.shift() as T
      if (this.#ended) break
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
    if (this.#failure) throw this.#failure.error
  }
}
