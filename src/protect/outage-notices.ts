/**
 * When a dependency (shared state in Redis) goes down and comes back, say so — but not once per
 * flap: a Redis on the edge of its timeout can drop and return many times a second, and a line
 * for each would bury the log. The first `burst` outages in `windowMs` are said at once, each
 * with its return; more in that window are counted, and said in one line when the window ends
 * (still down: the outage, with how many came before; back: how many brief outages there were).
 */

export interface OutageVoice {
  /** It is down; `earlier` outages since the last line were not said one by one. */
  down(reason: string, earlier: number): void
  up(): void
  /** `count` outages that ended on their own were not said one by one. */
  flapped(count: number, lastReason: string): void
}

export interface OutageNoticeOptions {
  windowMs?: number
  burst?: number
  now?: () => number
}

export class OutageNotices {
  readonly #voice: OutageVoice
  readonly #windowMs: number
  readonly #burst: number
  readonly #now: () => number
  #isDown = false
  #saidDown = false
  /** When the outages said within the window were said. */
  #said: number[] = []
  #unsaid = 0
  #lastReason = ''
  #timer: NodeJS.Timeout | undefined

  constructor(voice: OutageVoice, options: OutageNoticeOptions = {}) {
    this.#voice = voice
    this.#windowMs = options.windowMs ?? 60_000
    this.#burst = options.burst ?? 3
    this.#now = options.now ?? (() => performance.now())
  }

  down(reason: string): void {
    if (this.#isDown) return
    this.#isDown = true
    this.#lastReason = reason
    if (this.#roomToSay()) this.#sayDown()
    else {
      this.#unsaid++
      this.#summarizeLater()
    }
  }

  up(): void {
    if (!this.#isDown) return
    this.#isDown = false
    if (!this.#saidDown) return
    this.#saidDown = false
    this.#voice.up()
  }

  /** Stops the pending summary (the dependency is closed). */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #roomToSay(): boolean {
    const since = this.#now() - this.#windowMs
    this.#said = this.#said.filter((at) => at > since)
    return this.#said.length < this.#burst
  }

  #sayDown(): void {
    this.#said.push(this.#now())
    this.#saidDown = true
    const earlier = this.#unsaid
    this.#unsaid = 0
    this.#voice.down(this.#lastReason, earlier)
  }

  #summarizeLater(): void {
    if (this.#timer) return
    const oldest = this.#said[0] ?? this.#now()
    const wait = Math.max(0, oldest + this.#windowMs - this.#now())
    this.#timer = setTimeout(() => this.#summarize(), wait)
    this.#timer.unref()
  }

  #summarize(): void {
    this.#timer = undefined
    if (this.#unsaid === 0) return
    if (!this.#roomToSay()) {
      this.#summarizeLater()
      return
    }
    // Still down: this outage has not been said yet; say it with the ones before it.
    if (this.#isDown) {
      this.#unsaid--
      this.#sayDown()
      return
    }
    this.#said.push(this.#now())
    const count = this.#unsaid
    this.#unsaid = 0
    this.#voice.flapped(count, this.#lastReason)
  }
}
