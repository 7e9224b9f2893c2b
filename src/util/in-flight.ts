/**
 * Calls in progress through something a reload may replace (a gateway backend, the transparent
 * upstream's chain), so the replaced one can finish what it accepted before it is closed.
 */
export class InFlight {
  #count = 0
  #whenIdle: Array<() => void> = []

  /** Runs `work` counted: in flight from the call until its promise settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.#count++
    try {
      return await work()
    } finally {
      if (--this.#count === 0 && this.#whenIdle.length > 0) {
        for (const wake of this.#whenIdle.splice(0)) wake()
      }
    }
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
}
