/**
 * The per-upstream deadline: the upstream must answer, and keep answering, within `ms`. The
 * timer starts when the call is sent and restarts on every sign of progress the transport
 * reports (`heartbeat`: a body chunk, an SSE event, a progress notification), like nginx's
 * `proxy_read_timeout`. When it fires the call's upstream signal aborts with an
 * `upstream_timeout` error (the transport cancels the upstream request: undici aborts the
 * HTTP exchange, a backend connection sends `notifications/cancelled`) and the call fails with
 * that error, the request id kept. The timer lives until the answer is complete.
 */
import { PorticoError } from '../errors.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import type { Reply } from '../pipeline/reply.ts'
import { realSchedule, type Schedule, type Scheduled } from '../util/schedule.ts'

export function timeout(
  defaultMs: number,
  upstream: string,
  schedule: Schedule = realSchedule,
): Middleware {
  return function deadline(call, next) {
    const ms = call.timeoutMs ?? defaultMs
    if (!(ms > 0)) return next(call)
    const deadline = new Deadline(ms, call, upstream, schedule)
    const attempt: Call = { ...call, signal: deadline.signal, heartbeat: deadline.heartbeat(call) }
    return Promise.race([next(attempt), deadline.expired])
  }
}

class Deadline {
  readonly #controller = new AbortController()
  readonly expired: Promise<Reply>
  #timer: Scheduled | undefined

  constructor(ms: number, call: Call, upstream: string, schedule: Schedule) {
    const controller = this.#controller
    const onGone = (): void => controller.abort(call.signal.reason)
    if (call.signal.aborted) onGone()
    else call.signal.addEventListener('abort', onGone, { once: true })
    this.expired = new Promise<Reply>((_, reject) => {
      this.#timer = schedule(ms, () => {
        const error = new PorticoError('upstream_timeout', {
          message: `Upstream ${upstream} did not answer within ${ms} ms`,
          data: { upstream, reason: 'timeout' },
        })
        controller.abort(error)
        reject(error)
      })
    })
    // Nobody may be racing it any more when it fires after the reply arrived.
    this.expired.catch(() => {})
    call.lifetime.onEnd(() => {
      this.#timer?.cancel()
      call.signal.removeEventListener('abort', onGone)
    })
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** Restarts the timer on progress, and tells any outer deadline too. */
  heartbeat(call: Call): () => void {
    const outer = call.heartbeat
    return () => {
      this.#timer?.refresh()
      outer?.()
    }
  }
}
