/**
 * One attempt of a call that may be sent more than once (retries, hedging): its own abort
 * signal, linked to the call's, and its own lifetime, so a slot the attempt holds is released
 * when the attempt is dropped, and the kept attempt's when the call's answer is written.
 */
import { PorticoError } from '../errors.ts'
import type { Call } from '../pipeline/call.ts'
import { CallLifetime } from '../pipeline/lifetime.ts'

export class Attempt {
  readonly call: Call
  readonly #controller = new AbortController()
  readonly #parent: AbortSignal
  readonly #lifetime = new CallLifetime()
  readonly #onParentAbort = () => this.#controller.abort(this.#parent.reason)

  constructor(parent: Call) {
    this.#parent = parent.signal
    if (parent.signal.aborted) this.#controller.abort(parent.signal.reason)
    else parent.signal.addEventListener('abort', this.#onParentAbort, { once: true })
    this.call = { ...parent, signal: this.#controller.signal, lifetime: this.#lifetime }
  }

  /** The attempt is not wanted any more: cancel it upstream and release what it holds. */
  drop(why: string): void {
    this.#unlink()
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(new PorticoError('cancelled', { message: why }))
    }
    this.#lifetime.end()
  }

  /** The attempt answers the call: it lives until the call's answer is written. */
  keep(parent: Call): void {
    parent.lifetime.onEnd(() => {
      this.#unlink()
      this.#lifetime.end()
    })
  }

  #unlink(): void {
    this.#parent.removeEventListener('abort', this.#onParentAbort)
  }
}
