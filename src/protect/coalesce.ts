/**
 * Request coalescing (`[performance] coalesce_requests`): identical calls in flight at the
 * same time (same caller identity, method, target and arguments) that may be repeated
 * (hints.ts: reads, gets, read-only or idempotent tools) share one upstream call; each waiter
 * is answered with its own id. The first call runs as it would alone (nothing is allocated for
 * it but a map entry); its answer is parsed only when someone waits for it. If the first
 * caller leaves and its call is cancelled, the waiters make their own calls instead of
 * failing; any other failure is shared. Streamed answers are not shared (a waiter then makes
 * its own call). At most 10,000 keys are in flight.
 */
import { PorticoError } from '../errors.ts'
import type { JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import { callNext, type Handler, type Middleware } from '../pipeline/compose.ts'
import { MessageReply, type Reply } from '../pipeline/reply.ts'
import type { ToolHints } from './hints.ts'
import { callerKey } from './request-key.ts'

const MAX_IN_FLIGHT = 10_000
/** Calls waiting on one lead at most; more make their own calls. */
const MAX_WAITERS = 1000

/**
 * The lead's answer as each waiter gets it: its response, and, when it was not a 200, its status
 * and `Retry-After` (a 429 or 503 that went out as a 200 told the waiters to call again at once).
 * The lead's other headers (an upstream's session id) are its own.
 */
interface SharedAnswer {
  response: JsonRpcResponse
  status: number
  retryAfter: string | undefined
}

interface Waiter {
  /** The shared answer, or undefined: make your own call. */
  resolve(answer: SharedAnswer | undefined): void
  reject(error: unknown): void
}

interface Shared {
  waiters: Waiter[] | undefined
}

export function coalesce(hints: ToolHints): Middleware {
  const inFlight = new Map<string, Shared>()
  return (call, next) => {
    const key = hints.repeatable(call) ? callerKey(call) : undefined
    if (key === undefined) return next(call)
    const shared = inFlight.get(key)
    if (shared !== undefined) return wait(call, next, shared)
    if (inFlight.size >= MAX_IN_FLIGHT) return next(call)
    return new Lead(call, key, inFlight).run(next)
  }
}

/**
 * The first of identical calls: runs as it would alone, then answers whoever waited for it.
 * An object rather than an async function and closures: every repeatable call leads, and most
 * are never joined (bench/reports/2026-12-01-perf2.md, step 21).
 */
class Lead {
  readonly #call: Call
  readonly #key: string
  readonly #inFlight: Map<string, Shared>
  readonly #shared: Shared = { waiters: undefined }

  constructor(call: Call, key: string, inFlight: Map<string, Shared>) {
    this.#call = call
    this.#key = key
    this.#inFlight = inFlight
    inFlight.set(key, this.#shared)
    call.notes.askedClientWatcher = this
  }

  /**
   * It asked its client something (sampling, elicitation): its answer is that client's, and may
   * wait for it a long time; the others make their own calls, now.
   */
  clientAsked(): void {
    for (const waiter of this.#shared.waiters ?? []) waiter.resolve(undefined)
    this.#shared.waiters = undefined
    if (this.#inFlight.get(this.#key) === this.#shared) this.#inFlight.delete(this.#key)
  }

  run(next: Handler): Promise<Reply> {
    return callNext(next, this.#call).then(
      (reply) => this.#answered(reply),
      (error: unknown) => this.#failed(error),
    )
  }

  #answered(reply: Reply): Reply | Promise<Reply> {
    if (this.#shared.waiters === undefined || !(reply instanceof MessageReply)) {
      return this.#share(reply, undefined)
    }
    return reply.json().then(
      (response) => this.#share(reply, response),
      (error: unknown) => this.#failed(error),
    )
  }

  #share(reply: Reply, response: JsonRpcResponse | undefined): Reply {
    const answer = response === undefined ? undefined : sharedAnswer(reply, response)
    for (const waiter of this.#shared.waiters ?? []) waiter.resolve(answer)
    if (this.#inFlight.get(this.#key) === this.#shared) this.#inFlight.delete(this.#key)
    return reply
  }

  #failed(error: unknown): never {
    // The first caller left: its cancel is not the others'.
    for (const waiter of this.#shared.waiters ?? []) {
      if (this.#call.signal.aborted) waiter.resolve(undefined)
      else waiter.reject(error)
    }
    if (this.#inFlight.get(this.#key) === this.#shared) this.#inFlight.delete(this.#key)
    throw error
  }
}

/**
 * Waits for the lead's answer. Bounded: past `MAX_WAITERS` on one key a call makes its own.
 * A waiter whose caller leaves stops waiting at once (it is taken off the list), and never makes
 * a call of its own afterwards.
 */
async function wait(call: Call, next: Handler, shared: Shared): Promise<Reply> {
  if ((shared.waiters?.length ?? 0) >= MAX_WAITERS) return next(call)
  const signal = call.signal
  const answer = await new Promise<SharedAnswer | undefined>((resolve, reject) => {
    const waiter: Waiter = {
      resolve: (value) => {
        signal.removeEventListener('abort', leave)
        resolve(value)
      },
      reject: (error) => {
        signal.removeEventListener('abort', leave)
        reject(error)
      },
    }
    const leave = () => {
      const waiters = shared.waiters ?? []
      const index = waiters.indexOf(waiter)
      if (index !== -1) waiters.splice(index, 1)
      reject(new PorticoError('cancelled'))
    }
    shared.waiters ??= []
    shared.waiters.push(waiter)
    signal.addEventListener('abort', leave, { once: true })
  })
  if (answer === undefined) {
    if (signal.aborted) throw new PorticoError('cancelled')
    return next(call)
  }
  call.notes.cache = 'coalesced'
  const { response, status, retryAfter } = answer
  const message = { ...response, id: call.id ?? null }
  if (status === 200) return MessageReply.of(message)
  return MessageReply.of(message, {
    status,
    headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
  })
}

function sharedAnswer(reply: Reply, response: JsonRpcResponse): SharedAnswer {
  const value = reply.status === 200 ? undefined : reply.headers['retry-after']
  const retryAfter = Array.isArray(value) ? value[0] : value
  return { response, status: reply.status, retryAfter }
}
