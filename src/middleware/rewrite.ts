/**
 * Applies response rewriters to what `next` answers, through `mapAnswer`: a JSON answer is
 * parsed only when a rewriter declared the call's method; on an SSE answer only the event
 * answering this call is. An answer no rewriter changed keeps its original bytes.
 */
import { isObject, type JsonObject, type JsonRpcResponse } from '../jsonrpc/message.ts'
import { mayReadTwoWays } from '../jsonrpc/repeated-keys.ts'
import type { Call } from '../pipeline/call.ts'
import type { Middleware } from '../pipeline/compose.ts'
import { mapAnswer, type StreamEvent, type StreamReply } from '../pipeline/reply.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { asResponse } from '../protocol/summarize.ts'

export function rewriteResponses(rewriters: readonly ResponseRewriter[]): Middleware {
  return async function rewrite(call, next) {
    const reply = await next(call)
    if (call.kind !== 'request') return reply
    const applicable = rewriters.filter((rewriter) => rewriter.appliesTo(call))
    if (applicable.length === 0) return reply
    return mapAnswer(call, reply, (response, text) => checked(call, response, applicable, text))
  }
}

/**
 * What the rewriters made of an answer, or undefined to pass its bytes on: only when the text
 * reads one way (no key named twice), as what was checked is what a host reads.
 */
function checked(
  call: Call,
  response: JsonRpcResponse,
  rewriters: readonly ResponseRewriter[],
  text: () => string,
): JsonRpcResponse | undefined {
  return applyAll(call, response, rewriters) ?? (mayReadTwoWays(text()) ? response : undefined)
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

/**
 * Answers on a stream that is not their call's own: a client that resumed a call's stream
 * (GET with `Last-Event-ID`) gets the call's answer there, which must be rewritten as on the
 * POST's stream, or a widget's CSP reached the client as the app wrote it. The call is not
 * known on that stream, so the method is read off the result's shape (`METHOD_BY_RESULT`): as
 * every method whose result member it carries, for `callFor` makes the call the answer belongs
 * to: a rewriter only ever applies the configured policy, so a wrong guess changes nothing it
 * should not, and an extra member (`contents: []` beside `resources`) hides nothing. Data that is not JSON is dropped,
 * as on a call's own stream.
 */
export function rewriteStreamAnswers(
  reply: StreamReply,
  rewriters: readonly ResponseRewriter[],
  callFor: (response: JsonRpcResponse, method: string) => Call,
): StreamReply {
  if (rewriters.length === 0) return reply
  return reply.map((event) => rewriteAnswerEvent(event, rewriters, callFor))
}

/**
 * One event of such a stream (`rewriteStreamAnswers`): rewritten when it is a response whose
 * result the rewriters change, as it came otherwise, undefined (dropped) when its data is not
 * JSON.
 */
export function rewriteAnswerEvent(
  event: StreamEvent,
  rewriters: readonly ResponseRewriter[],
  callFor: (response: JsonRpcResponse, method: string) => Call,
): StreamEvent | undefined {
  if (!event.isMessage || rewriters.length === 0) return event
  const message = event.message()
  if (message === undefined) return undefined
  const response = asResponse(message)
  if (response === undefined) return event
  // Every method the result could answer: a `resources/list` answer that also carries
  // `contents: []` is rewritten as a list too, not only as the read its shape suggests first.
  let current = response
  for (const method of methodsOfResult(response.result)) {
    const call = callFor(current, method)
    const applicable = rewriters.filter((rewriter) => rewriter.appliesTo(call))
    current = (applicable.length === 0 ? undefined : applyAll(call, current, applicable)) ?? current
  }
  if (current !== response || mayReadTwoWays(event.data)) return event.with(current)
  return event
}

/** Which methods' results this could be, by the members only those methods' results have. */
const METHOD_BY_RESULT: ReadonlyArray<readonly [member: string, method: string]> = [
  ['contents', 'resources/read'],
  ['tools', 'tools/list'],
  ['resources', 'resources/list'],
  ['resourceTemplates', 'resources/templates/list'],
  ['prompts', 'prompts/list'],
  ['content', 'tools/call'],
]

function methodsOfResult(result: unknown): string[] {
  if (!isObject(result)) return []
  const object: JsonObject = result
  const methods = METHOD_BY_RESULT.filter(([member]) => Array.isArray(object[member])).map(
    ([, m]) => m,
  )
  // A tool result may carry no `content` (only `structuredContent`, or nothing but its
  // `_meta`): one with metadata is read as a tool's too, whatever list member it also holds,
  // or its widget CSP passed as it came.
  if (!methods.includes('tools/call') && isObject(object._meta)) methods.push('tools/call')
  return methods
}
