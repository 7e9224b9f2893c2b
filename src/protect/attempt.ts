/**
 * One hedged attempt of a call: its own abort signal, linked to the call's, so the attempt
 * that loses can be cancelled upstream without touching the one that won.
 */
import { PorticoError } from '../errors.ts'
import type { JsonRpcId } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { CallController } from '../pipeline/signal.ts'

export class Attempt {
  readonly call: Call
  /** The request id it went out under (a hedge's own), once sent. */
  sentAs: JsonRpcId | undefined
  /** Whether the upstream was told it is given up (hedge.ts `#cancelUpstream`). */
  cancelledUpstream = false
  readonly #controller: CallController

  constructor(parent: Call) {
    this.#controller = CallController.linkedTo(parent.signal)
    this.call = { ...parent, signal: this.#controller.signal }
  }

  /** The attempt is not wanted any more: cancel it upstream. */
  drop(why: string): void {
    this.#unlink()
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(new PorticoError('cancelled', { message: why }))
    }
  }

  /** The attempt answers the call: the client's cancel reaches it until the answer is written. */
  keep(parent: Call): void {
    parent.lifetime.onEnd(() => this.#unlink())
  }

  #unlink(): void {
    this.#controller.unlink()
  }
}
