/**
 * The whole-call deadline (`[backends.timeout] seconds`, mcp-proxy's meaning): one timer from
 * admission until the answer is completely written, across queueing, retries, backoff and
 * hedges. Each attempt keeps its own deadline (`attempt`, the transport's timer). When it
 * fires, the call's signal is aborted with `upstream_timeout`: the attempt in flight is
 * cancelled upstream (`notifications/cancelled` to a backend, the HTTP request aborted) and
 * the client gets 504 `upstream_timeout` with its request id.
 */
import { PorticoError } from '../errors.ts'
import { type Call, isListenStream } from '../pipeline/call.ts'
import { callNext, type Handler, type Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import { CallController } from '../pipeline/signal.ts'
import type { Clock } from '../util/clock.ts'
import { type Deadline, DeadlineQueue } from '../util/deadlines.ts'

/** How close an attempt's timeout may come to the whole call's and still count as it. */
const TIE_MS = 5

function isTimeout(error: unknown): boolean {
  return error instanceof PorticoError && error.reason === 'upstream_timeout'
}

export function callTimeout(name: string, ms: number, clock: Clock): Middleware {
  // Every call of this upstream has the same deadline: one queue, one timer (deadlines.ts).
  const deadlines = new DeadlineQueue(ms, clock)
  return (call, next) =>
    isListenStream(call) ? next(call) : new TimedCall(name, ms, call, deadlines).run(next)
}

/**
 * One call under the deadline. An object with methods rather than an async function and its
 * closures: every call of a timed upstream makes one, and this is the smaller of the two
 * (bench/reports/2026-12-01-perf2.md, step 21).
 */
class TimedCall {
  readonly #name: string
  readonly #ms: number
  readonly #call: Call
  readonly #controller: CallController
  readonly #deadline: Deadline

  constructor(name: string, ms: number, call: Call, deadlines: DeadlineQueue) {
    this.#name = name
    this.#ms = ms
    this.#call = call
    this.#controller = CallController.linkedTo(call.signal)
    this.#deadline = deadlines.add(() => this.#expire())
  }

  run(next: Handler): Promise<Reply> {
    return callNext(next, { ...this.#call, signal: this.#controller.signal }).then(
      (reply) => {
        this.#call.lifetime.onEnd(() => this.#end())
        return reply
      },
      (error: unknown) => this.#failed(error),
    )
  }

  #expire(): void {
    const name = this.#name
    const ms = this.#ms
    this.#controller.abort(
      new PorticoError('upstream_timeout', {
        message: `${name} did not answer within ${ms} ms (the whole call)`,
        data: { upstream: name, reason: 'timeout', timeoutMs: ms },
      }),
    )
  }

  #failed(error: unknown): never {
    // `attempt` defaults to `seconds`: an attempt's equal deadline may fire a moment before
    // the shared timer reaches this one; the whole call's deadline is then the answer.
    if (isTimeout(error)) this.#deadline.fireIfDue(TIE_MS)
    this.#end()
    // An attempt cut by this deadline may report it its own way (a transport's abort).
    const reason: unknown = this.#controller.signal.reason
    if (!this.#call.signal.aborted && reason instanceof PorticoError) throw reason
    throw error
  }

  #end(): void {
    this.#deadline.cancel()
    this.#controller.unlink()
  }
}
