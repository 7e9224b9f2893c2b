/**
 * Calls in progress through something a reload may replace (a gateway backend, the transparent
 * upstream's chain), so the replaced one can finish what it accepted before it is closed.
 */
export class InFlight {
  #count = 0
  #whenIdle: Array<() => void> = []

  /**
   * Runs `work(arg)` counted: in flight from the call until its promise settles. Not an async
   * function: it runs on every call's path, where an async frame per call was most of a
   * layer's garbage (docs/ARCHITECTURE.md, "The chain").
   */
  run<A, T>(work: (arg: A) => Promise<T>, arg: A): Promise<T> {
    this.#count++
    let promise: Promise<T>
    try {
      promise = work(arg)
    } catch (error) {
      this.#done()
      return Promise.reject(error)
    }
    return promise.then(
      (value) => {
        this.#done()
        return value
      },
      (error: unknown) => {
        this.#done()
        throw error
      },
    )
  }

  /**
   * Counts a call in until `callEnded()`: with `CallLifetime.onEnd(inFlight)` the count lasts
   * until its answer is completely written (a stream included), and costs no promise or
   * closure per call, unlike `run`.
   */
  enter(): void {
    this.#count++
  }

  callEnded(): void {
    this.#done()
  }

  get busy(): boolean {
    return this.#count > 0
  }

  /** Resolves once nothing is in flight, or after `withinMs` (`drain_timeout`) at the latest. */
  idle(withinMs: number): Promise<void> {
    if (this.#count === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, withinMs)
      timer.unref()
      this.#whenIdle.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  #done(): void {
    if (--this.#count === 0 && this.#whenIdle.length > 0) {
      for (const wake of this.#whenIdle.splice(0)) wake()
    }
  }
}
