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
import type { JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Handler, Middleware } from '../pipeline/compose.ts'
import { MessageReply, type Reply } from '../pipeline/reply.ts'
import type { ToolHints } from './hints.ts'
import { callerKey } from './request-key.ts'

const MAX_IN_FLIGHT = 10_000

interface Waiter {
  /** The shared response, or undefined: make your own call. */
  resolve(response: JsonRpcResponse | undefined): void
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
    return lead(call, next, key, inFlight)
  }
}

async function lead(
  call: Call,
  next: Handler,
  key: string,
  inFlight: Map<string, Shared>,
): Promise<Reply> {
  const shared: Shared = { waiters: undefined }
  inFlight.set(key, shared)
  try {
    const reply = await next(call)
    if (shared.waiters !== undefined) {
      const response = reply instanceof MessageReply ? await reply.json() : undefined
      for (const waiter of shared.waiters) waiter.resolve(response)
    }
    return reply
  } catch (error) {
    // The first caller left: its cancel is not the others'.
    for (const waiter of shared.waiters ?? []) {
      if (call.signal.aborted) waiter.resolve(undefined)
      else waiter.reject(error)
    }
    throw error
  } finally {
    inFlight.delete(key)
  }
}

async function wait(call: Call, next: Handler, shared: Shared): Promise<Reply> {
  const response = await new Promise<JsonRpcResponse | undefined>((resolve, reject) => {
    shared.waiters ??= []
    shared.waiters.push({ resolve, reject })
  })
  if (response === undefined || call.signal.aborted) return next(call)
  call.notes.cache = 'coalesced'
  return MessageReply.of({ ...response, id: call.id ?? null })
}
