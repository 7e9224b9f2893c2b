/**
 * When a call's answer is over: completely written to the client, or abandoned. Middleware
 * that hold something for the whole answer (a deadline timer, a concurrency slot, a trace span)
 * register their cleanup here; a streamed answer ends long after `next` resolved.
 */
import { Held } from './held.ts'

/**
 * What runs when a call ends: a callback, or an object told by its method (a trace span is
 * one: no closure made per call for it).
 */
export type OnEnd = (() => void) | { callEnded(): void }

export class CallLifetime extends Held<OnEnd> {
  #ended = false

  get ended(): boolean {
    return this.#ended
  }

  /** Runs `callback` once the call ends (at once if it already has). */
  onEnd(callback: OnEnd): void {
    if (this.#ended) {
      invoke(callback)
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

function invoke(callback: OnEnd): void {
  if (typeof callback === 'function') callback()
  else callback.callEnded()
}

function run(callback: OnEnd): void {
  try {
    invoke(callback)
  } catch {
    // Cleanup must not fail an answer that is already complete.
  }
}
