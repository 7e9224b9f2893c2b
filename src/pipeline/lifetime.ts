/**
 * When a call's answer is over: completely written to the client, or abandoned. Middleware
 * that hold something for the whole answer (a deadline timer, a concurrency slot, a trace span)
 * register their cleanup here; a streamed answer ends long after `next` resolved.
 */
export class CallLifetime {
  /**
   * The first callback in a field, the others in an array: most calls register one or two, and
   * an array grown by `push` from empty reserves 17 slots (about 120 bytes per call).
   */
  #first: (() => void) | undefined
  #more: Array<() => void> | undefined
  #ended = false

  get ended(): boolean {
    return this.#ended
  }

  /** Runs `callback` once the call ends (at once if it already has). */
  onEnd(callback: () => void): void {
    if (this.#ended) {
      callback()
      return
    }
    if (this.#first === undefined) this.#first = callback
    else if (this.#more === undefined) this.#more = [callback]
    else this.#more.push(callback)
  }

  /** Ends the call; idempotent. A failing callback never stops the others. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    const first = this.#first
    const more = this.#more
    this.#first = undefined
    this.#more = undefined
    if (first !== undefined) run(first)
    if (more !== undefined) for (const callback of more) run(callback)
  }
}

function run(callback: () => void): void {
  try {
    callback()
  } catch {
    // Cleanup must not fail an answer that is already complete.
  }
}
