/**
 * A call's cancellation: aborted when the client goes away, the call is cancelled, or a
 * deadline of the chain (the whole-call timeout, a lost hedge) gives up on it.
 *
 * Why not AbortController: on Node 20 every AbortSignal is an EventTarget built in V8's slow
 * dictionary mode, and a call needs one per layer that may cut it (the exchange, the whole-call
 * timeout, each hedged attempt). Measured in process, a controller with one listener cost
 * 5–10 µs and a pile of garbage per call, more than the rest of the protection stack together
 * (bench/reports/2026-12-01-perf2.md). A CallSignal is a plain object holding its listeners; it
 * speaks the part of AbortSignal that code uses (`aborted`, `reason`, `addEventListener` and
 * `removeEventListener` for 'abort'; listeners get no event object), and makes a
 * real AbortSignal only for an API that insists on one (`asAbortSignal()`).
 */

import { Held } from './held.ts'

/** Called without an event object: nothing in Portico reads one, and building it costs. */
type Listener = () => void

/** Only a CallController fires its signal (as only an AbortController aborts its signal). */
const FIRE = Symbol('fire')
/** A linked CallController follows its parent CallSignal without a listener closure. */
const ADOPT = Symbol('adopt')
const RELEASE = Symbol('release')

/** What code that only watches for cancellation needs: a CallSignal or a real AbortSignal. */
export interface SignalLike {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: Listener, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: Listener): void
}

/**
 * Holds its listeners and linked controllers in the order they were added (Held). A controller
 * is kept as itself: no closure to follow the parent, none to stop.
 */
export class CallSignal extends Held<Listener | CallController> implements SignalLike {
  #aborted = false
  #reason: unknown
  #real: AbortController | undefined

  get aborted(): boolean {
    return this.#aborted
  }

  get reason(): unknown {
    return this.#reason
  }

  /** Listens for the abort, once (an abort happens once): the `once` option changes nothing. */
  addEventListener(type: 'abort', listener: Listener, _options?: { once?: boolean }): void {
    if (type !== 'abort' || this.#aborted) return
    this.hold(listener)
  }

  removeEventListener(type: 'abort', listener: Listener): void {
    if (type === 'abort') this[RELEASE](listener)
  }

  [ADOPT](child: CallController): void {
    this.hold(child)
  }

  [RELEASE](listener: Listener | CallController): void {
    this.letGo(listener)
  }

  /** Throws the reason when aborted (AbortSignal's `throwIfAborted`). */
  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason
  }

  /** A real AbortSignal following this one, made on first use, for APIs that demand one. */
  asAbortSignal(): AbortSignal {
    if (this.#real === undefined) {
      this.#real = new AbortController()
      if (this.#aborted) this.#real.abort(this.#reason)
    }
    return this.#real.signal
  }

  [FIRE](reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.#real?.abort(reason)
    this.drain((listener) => notify(listener, reason))
  }
}

function notify(listener: Listener | CallController, reason: unknown): void {
  try {
    if (typeof listener === 'function') listener()
    else listener.abort(reason)
  } catch (error) {
    // A listener that throws must neither keep the others from hearing the abort nor take
    // the proxy down (an EventTarget would rethrow it as an uncaught exception): said aloud.
    process.emitWarning(`a listener of a call's signal threw: ${String(error)}`)
  }
}

/** Aborts its signal; `linkedTo` makes one that also aborts when a parent signal does. */
export class CallController {
  readonly signal = new CallSignal()
  /** What `unlink` undoes: the parent CallSignal that holds this, or a real signal's listener. */
  #parent: CallSignal | (() => void) | undefined

  /**
   * A controller whose signal aborts with `parent` (with the parent's reason) or on its own.
   * `unlink()` when done, so a long-lived parent does not keep it.
   */
  static linkedTo(parent: SignalLike): CallController {
    const controller = new CallController()
    if (parent.aborted) {
      controller.abort(parent.reason)
      return controller
    }
    if (parent instanceof CallSignal) {
      // The common case (every layer of the chain): the parent calls `abort` on it directly.
      parent[ADOPT](controller)
      controller.#parent = parent
      return controller
    }
    const onAbort = () => controller.abort(parent.reason)
    parent.addEventListener('abort', onAbort, { once: true })
    controller.#parent = () => parent.removeEventListener('abort', onAbort)
    return controller
  }

  abort(reason: unknown = defaultReason()): void {
    this.unlink()
    this.signal[FIRE](reason)
  }

  /** Stops following the parent signal (no-op for a controller without one). */
  unlink(): void {
    const parent = this.#parent
    this.#parent = undefined
    if (parent === undefined) return
    if (typeof parent === 'function') parent()
    else parent[RELEASE](this)
  }
}

function defaultReason(): Error {
  const error = new Error('This operation was aborted')
  error.name = 'AbortError'
  return error
}
