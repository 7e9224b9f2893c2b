/**
 * Applies response rewriters to what `next` answers: a JSON answer is parsed only when a
 * rewriter declared the call's method; on an SSE answer only the event answering this call is
 * parsed. An answer no rewriter changed keeps its original bytes.
 */
import type { JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { MessageReply, type Reply, type StreamEvent, StreamReply } from '../pipeline/reply.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { asResponse } from '../protocol/summarize.ts'

export function rewriteResponses(rewriters: readonly ResponseRewriter[]): Middleware {
  return async function rewrite(call, next) {
    const reply = await next(call)
    if (call.kind !== 'request') return reply
    const applicable = rewriters.filter((rewriter) => rewriter.appliesTo(call))
    if (applicable.length === 0) return reply
    return rewriteReply(call, reply, applicable)
  }
}

async function rewriteReply(
  call: Call,
  reply: Reply,
  rewriters: readonly ResponseRewriter[],
): Promise<Reply> {
  if (reply instanceof MessageReply) {
    const response = await reply.json()
    const rewritten = response && applyAll(call, response, rewriters)
    return rewritten ? reply.with(rewritten) : reply
  }
  if (reply instanceof StreamReply) {
    return reply.map((event) => rewriteEvent(call, event, rewriters))
  }
  return reply
}

function rewriteEvent(
  call: Call,
  event: StreamEvent,
  rewriters: readonly ResponseRewriter[],
): StreamEvent {
  if (!event.isMessage) return event
  const response = asResponse(event.message())
  if (response === undefined || !answers(call, response)) return event
  const rewritten = applyAll(call, response, rewriters)
  return rewritten ? event.with(rewritten) : event
}

/** Whether a response on this call's stream is the call's own answer. */
export function answers(call: Call, response: { id?: unknown }): boolean {
  return response.id === call.id || response.id === null || response.id === undefined
}

function applyAll(
  call: Call,
  response: JsonRpcResponse,
  rewriters: readonly ResponseRewriter[],
): JsonRpcResponse | undefined {
  let current = response
  let changed = false
  for (const rewriter of rewriters) {
    const next = rewriter.rewrite(call, current)
    if (next !== undefined) {
      current = next
      changed = true
    }
  }
  return changed ? current : undefined
}
