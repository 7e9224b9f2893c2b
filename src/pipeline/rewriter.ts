/**
 * A response rewriter transforms the JSON-RPC responses of the methods it declares (widget CSP
 * today). It sees plain responses, never the transport: `middleware/rewrite.ts` applies it to
 * JSON answers and to each response event of an SSE answer alike, and forwards every answer it
 * leaves unchanged byte for byte.
 */
import type { JsonRpcResponse } from '../jsonrpc/message.ts'
import type { Call } from './call.ts'

export interface ResponseRewriter {
  readonly name: string
  /** Methods whose responses this rewriter may change (decided per call, before forwarding). */
  appliesTo(call: Call): boolean
  /** Returns a replacement response, or undefined to leave it untouched. */
  rewrite(call: Call, response: JsonRpcResponse): JsonRpcResponse | undefined
}
