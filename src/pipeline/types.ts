/**
 * The pipeline's vocabulary, shared by transparent and gateway modes.
 *
 * A `Call` is one client→server JSON-RPC message, classified once. Request-side policies
 * (auth, RBAC, rate limits, validation) run in order before anything is sent upstream and
 * refuse a call by throwing a PorticoError. Response rewriters (CSP today, names in gateway
 * mode) transform the JSON-RPC responses of the methods they declare; every other message is
 * forwarded byte for byte without being parsed into an object.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { JsonRpcId, JsonRpcMessage, JsonRpcResponse, MessageKind } from '../jsonrpc/message.ts'
import type { ClientInfo, Era, Target } from '../protocol/classify.ts'

export interface Call {
  message: JsonRpcMessage
  kind: MessageKind
  /** The JSON-RPC id of a request. */
  id?: JsonRpcId
  method?: string
  target?: Target
  era: Era
  sessionId?: string
  protocolVersion?: string
  client?: ClientInfo
  headers: IncomingHttpHeaders
  signal: AbortSignal
}

/** Runs before the call is forwarded; throws a PorticoError to refuse it. */
export type RequestPolicy = (call: Call) => void | Promise<void>

export interface ResponseRewriter {
  readonly name: string
  /** Methods whose responses this rewriter may change (decided per call, before forwarding). */
  appliesTo(call: Call): boolean
  /** Returns a replacement response, or undefined to leave it untouched. */
  rewrite(call: Call, response: JsonRpcResponse): JsonRpcResponse | undefined
}
