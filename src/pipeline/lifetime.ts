/**
 * When a call's answer is over: completely written to the client, or abandoned. Middleware
 * that hold something for the whole answer (a deadline timer, a concurrency slot, a trace span)
 * register their cleanup here; a streamed answer ends long after `next` resolved.
 */
import { Held } from './held.ts'

export class CallLifetime extends Held<() => void> {
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
    this.hold(callback)
  }

  /** Ends the call; idempotent. A failing callback never stops the others. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    this.drain(run)
  }
}

function run(callback: () => void): void {
  try {
    callback()
  } catch {
    // Cleanup must not fail an answer that is already complete.
  }
}
