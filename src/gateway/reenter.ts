/**
 * A `tools/call` the gateway makes on a client's behalf (search mode's `call_tool`, each member
 * of a composite tool): a new message through the whole global chain (`Gateway.reenter`, the
 * one a direct call takes), on the caller's session, identity, headers and signal, answered as
 * one JSON message; its related messages (progress, log lines, the backend's requests for
 * input) go out on the outer call's answer (`Call.relatedTo`, set by dispatch.ts).
 */
import { PorticoError } from '../errors.ts'
import type { HeaderMap } from '../http/headers.ts'
import {
  isObject,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcResponse,
} from '../jsonrpc/message.ts'
import { type Call, withMessage } from '../pipeline/call.ts'
import { MessageReply } from '../pipeline/reply.ts'
import type { Gateway } from './gateway.ts'

export interface InnerToolCall {
  name: string
  arguments: unknown
  /** The outer request's `_meta` (progress token, trace context), carried on. */
  meta?: unknown
  /**
   * A 2026-07-28 retry's `requestState` and `inputResponses`, carried on: the parked call they
   * resume is the inner call's (its `input_required` reached the client through the outer one).
   */
  resume?: { requestState: unknown; inputResponses: unknown }
  /**
   * Calls made side by side need their own id (they may share a backend session, where two
   * requests may not share one) and their own notes (each one's backend and policies would
   * overwrite the others'); a single inner call shares the outer call's.
   */
  own?: { id: JsonRpcId }
  /** Judged as the client's own request (`call_tool`'s inner call): see `Call.countsAsRequest`. */
  countsAsRequest?: boolean
}

export interface InnerAnswer {
  response: JsonRpcResponse
  /**
   * The HTTP status and headers of an answer that was not 200: Portico refused the inner call
   * (a rate limit's 429 with `Retry-After`, an open circuit's 503), and a caller whose only
   * call this was must see that refusal as if it had made the call directly.
   */
  refusal?: { status: number; headers: HeaderMap }
}

/** Resolves with the inner call's answer, or undefined when it was not one JSON message. */
export async function callThroughChain(
  gateway: Gateway,
  call: Call,
  inner: InnerToolCall,
): Promise<InnerAnswer | undefined> {
  const reenter = gateway.reenter
  if (reenter === undefined) throw new PorticoError('internal_error')
  const message = {
    jsonrpc: '2.0' as const,
    id: inner.own?.id ?? call.id ?? 0,
    method: 'tools/call',
    params: {
      name: inner.name,
      // As the client gave them: arguments that are no object are refused (-32602) by the
      // chain as a direct call's are, never run as `{}`.
      arguments: inner.arguments === undefined ? ({} as JsonObject) : inner.arguments,
      ...(isObject(inner.meta) ? { _meta: inner.meta } : {}),
      ...(inner.resume?.requestState === undefined
        ? {}
        : { requestState: inner.resume.requestState }),
      ...(inner.resume?.inputResponses === undefined
        ? {}
        : { inputResponses: inner.resume.inputResponses }),
    },
  }
  const reply = await reenter({
    ...withMessage(call, message),
    headers: { ...call.headers, accept: 'application/json' },
    onBehalf: true,
    ...(inner.countsAsRequest ? { countsAsRequest: true } : {}),
    ...(inner.own ? { notes: {} } : {}),
  })
  if (!(reply instanceof MessageReply)) return undefined
  const response = await reply.json()
  if (response === undefined) return undefined
  return reply.status === 200
    ? { response }
    : { response, refusal: { status: reply.status, headers: reply.headers } }
}
