/**
 * Applies response rewriters to what `next` answers, through `mapAnswer`: a JSON answer is
 * parsed only when a rewriter declared the call's method; on an SSE answer only the event
 * answering this call is. An answer no rewriter changed keeps its original bytes.
 */
import type { JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { mapAnswer } from '../pipeline/reply.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'

export function rewriteResponses(rewriters: readonly ResponseRewriter[]): Middleware {
  return async function rewrite(call, next) {
    const reply = await next(call)
    if (call.kind !== 'request') return reply
    const applicable = rewriters.filter((rewriter) => rewriter.appliesTo(call))
    if (applicable.length === 0) return reply
    return mapAnswer(call, reply, (response) => applyAll(call, response, applicable))
  }
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
