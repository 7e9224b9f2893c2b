/**
 * A per-second budget for log lines: `take()` says whether a line may go out now and how many
 * were held back since the last one that did, so a flood becomes a steady trickle plus one
 * count instead of megabytes of log.
 */
export class PerSecond {
  readonly max: number
  #window = 0
  #used = 0
  #held = 0

  constructor(max: number) {
    this.max = max
  }

  take(now = Date.now()): number {
    const window = Math.floor(now / 1000)
    if (window !== this.#window) {
      this.#window = window
      this.#used = 0
    }
    if (this.#used >= this.max) {
      this.#held++
      return -1
    }
    this.#used++
    return this.drain()
  }

  /** How many lines were held back since the last report; resets the count. */
  drain(): number {
    const held = this.#held
    this.#held = 0
    return held
  }
}
