/**
 * Request coalescing (`[performance] coalesce_requests`): identical calls in flight at the
 * same time (same caller identity, method, target and arguments) that may be repeated
 * (hints.ts: reads, gets, read-only or idempotent tools) share one upstream call; each waiter
 * is answered with its own id. The shared call runs on its own signal, cancelled only when
 * every caller has left, so one client going away does not fail the others. Streamed answers
 * are not shared (a waiter then makes its own call). At most 10,000 keys are in flight.
 */
import { PorticoError } from '../errors.ts'
import type { JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import { MessageReply, type Reply } from '../pipeline/reply.ts'
import type { ToolHints } from './hints.ts'
import { clientIdentity } from './identity.ts'
import { requestKey } from './request-key.ts'

const MAX_IN_FLIGHT = 10_000

interface Shared {
  /** The shared answer: a response to copy, or undefined when it cannot be shared. */
  response: Promise<JsonRpcResponse | undefined>
  callers: number
  controller: AbortController
}

export function coalesce(hints: ToolHints): Middleware {
  const inFlight = new Map<string, Shared>()
  return (call, next) => {
    const request = hints.repeatable(call) ? requestKey(call) : undefined
    if (request === undefined) return next(call)
    const key = `${clientIdentity(call)}\u0000${request}`
    const shared = inFlight.get(key)
    if (shared !== undefined) return wait(call, next, shared)
    if (inFlight.size >= MAX_IN_FLIGHT) return next(call)
    return lead(call, next, key, inFlight)
  }
}

async function lead(
  call: Call,
  next: Handler,
  key: string,
  inFlight: Map<string, Shared>,
): Promise<Reply> {
  const controller = new AbortController()
  let settle!: (response: JsonRpcResponse | undefined) => void
  let fail!: (error: unknown) => void
  const shared: Shared = {
    response: new Promise((resolve, reject) => {
      settle = resolve
      fail = reject
    }),
    callers: 1,
    controller,
  }
  shared.response.catch(() => {})
  inFlight.set(key, shared)
  join(shared, call.signal)
  try {
    const reply = await next({ ...call, signal: controller.signal })
    const response = reply instanceof MessageReply ? await reply.json() : undefined
    settle(response)
    return reply
  } catch (error) {
    fail(error)
    throw error
  } finally {
    inFlight.delete(key)
  }
}

async function wait(call: Call, next: Handler, shared: Shared): Promise<Reply> {
  shared.callers++
  join(shared, call.signal)
  const response = await Promise.race([shared.response, aborted(call.signal)])
  if (response === undefined) return next(call)
  call.notes.cache = 'coalesced'
  return MessageReply.of({ ...response, id: call.id ?? null })
}

/** Counts a caller in; the shared call is cancelled when the last one leaves. */
function join(shared: Shared, signal: AbortSignal): void {
  signal.addEventListener(
    'abort',
    () => {
      if (--shared.callers === 0) shared.controller.abort(signal.reason)
    },
    { once: true },
  )
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () =>
      reject(signal.reason instanceof PorticoError ? signal.reason : new PorticoError('cancelled'))
    if (signal.aborted) fail()
    else signal.addEventListener('abort', fail, { once: true })
  })
}
