/**
 * The whole-call deadline (`[backends.timeout] seconds`, mcp-proxy's meaning): one timer from
 * admission until the answer is completely written, across queueing, retries, backoff and
 * hedges. Each attempt keeps its own deadline (`attempt`, the transport's timer). When it
 * fires, the call's signal is aborted with `upstream_timeout`: the attempt in flight is
 * cancelled upstream (`notifications/cancelled` to a backend, the HTTP request aborted) and
 * the client gets 504 `upstream_timeout` with its request id.
 */
import { PorticoError } from '../errors.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { CallController } from '../pipeline/signal.ts'
import type { Clock } from '../util/clock.ts'
import { DeadlineQueue } from '../util/deadlines.ts'

/** How close an attempt's timeout may come to the whole call's and still count as it. */
const TIE_MS = 5

function isTimeout(error: unknown): boolean {
  return error instanceof PorticoError && error.reason === 'upstream_timeout'
}

export function callTimeout(name: string, ms: number, clock: Clock): Middleware {
  // Every call of this upstream has the same deadline: one queue, one timer (deadlines.ts).
  const deadlines = new DeadlineQueue(ms, clock)
  return async (call, next) => {
    const parent = call.signal
    const controller = CallController.linkedTo(parent)
    const deadline = deadlines.add(() => {
      controller.abort(
        new PorticoError('upstream_timeout', {
          message: `${name} did not answer within ${ms} ms (the whole call)`,
          data: { upstream: name, reason: 'timeout', timeoutMs: ms },
        }),
      )
    })
    const end = () => {
      deadline.cancel()
      controller.unlink()
    }
    try {
      const reply = await next({ ...call, signal: controller.signal })
      call.lifetime.onEnd(end)
      return reply
    } catch (error) {
      // `attempt` defaults to `seconds`: an attempt's equal deadline may fire a moment before
      // the shared timer reaches this one; the whole call's deadline is then the answer.
      if (isTimeout(error)) deadline.fireIfDue(TIE_MS)
      end()
      // An attempt cut by this deadline may report it its own way (a transport's abort).
      const reason: unknown = controller.signal.reason
      if (!parent.aborted && reason instanceof PorticoError) throw reason
      throw error
    }
  }
}
