/**
 * At most about one run per key per window, without delaying the first: a key's first value
 * runs at once, and the values that come for it during the window fold into one run (the
 * latest) at the window's end. A key quiet for a whole window is forgotten. For notifications
 * whose repetition says nothing new (a resource updated again: the client re-reads it once),
 * so a flood from one upstream costs one write a second instead of one per message, while a
 * single update still arrives without delay.
 */
export class KeyedThrottle<T> {
  readonly #windowMs: number
  readonly #run: (value: T) => void
  readonly #maxKeys: number
  /** Keys seen this window, with the value held for the window's end (if any came). */
  readonly #seen = new Map<string, { held: T | undefined }>()
  #timer: NodeJS.Timeout | undefined

  /**
   * @param maxKeys keys tracked at once; a value for a key beyond them runs at once, so the
   * table stays bounded whatever the number of distinct keys.
   */
  constructor(windowMs: number, run: (value: T) => void, maxKeys = 10_000) {
    this.#windowMs = windowMs
    this.#run = run
    this.#maxKeys = maxKeys
  }

  push(key: string, value: T): void {
    const seen = this.#seen.get(key)
    if (seen !== undefined) {
      seen.held = value
      return
    }
    if (this.#seen.size < this.#maxKeys) {
      this.#seen.set(key, { held: undefined })
      this.#arm()
    }
    this.#run(value)
  }

  /** Drops what is held (the owner closed): nothing runs any more. */
  clear(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#seen.clear()
  }

  #arm(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => this.#flush(), this.#windowMs)
    this.#timer.unref()
  }

  /** The window's end: held values run (their keys stay for one more window), quiet keys go. */
  #flush(): void {
    this.#timer = undefined
    const due: T[] = []
    for (const [key, seen] of this.#seen) {
      if (seen.held === undefined) {
        this.#seen.delete(key)
        continue
      }
      due.push(seen.held)
      seen.held = undefined
    }
    if (this.#seen.size > 0) this.#arm()
    for (const value of due) this.#run(value)
  }
}
