/** Calls as the edge builds them, for middleware and rewriter unit tests (no sockets). */
import type { IncomingHttpHeaders } from 'node:http'
import { decodeBody } from '../../src/jsonrpc/message.ts'
import { buildCalls, type Call, type ClientTransport } from '../../src/pipeline/call.ts'
import { CallController, type CallSignal } from '../../src/pipeline/signal.ts'

export interface CallOptions {
  headers?: IncomingHttpHeaders
  transport?: ClientTransport
  signal?: CallSignal
  /** The request URL's query string with its `?` (default none). */
  search?: string
}

/** The classified call of one JSON-RPC message, built by the same code the edge runs. */
export function callOf(message: object, options: CallOptions = {}): Call {
  return callOfText(JSON.stringify(message), options)
}

/** `callOf` from the message's text as a client sent it (a big-integer id, say). */
export function callOfText(text: string, options: CallOptions = {}): Call {
  const body = Buffer.from(text)
  const [call] = buildCalls(decodeBody(body), {
    headers: options.headers ?? {},
    request: {
      path: '/mcp',
      search: options.search ?? '',
      remoteAddress: '127.0.0.1',
      clientAddress: '127.0.0.1',
      host: 'localhost',
      encrypted: false,
    },
    signal: options.signal ?? new CallController().signal,
    transport: options.transport ?? 'streamable-http',
    body,
  })
  return call as Call
}

/** A request call: `requestCall('tools/call', { name: 'echo' })`. */
export function requestCall(method: string, params?: object, id: string | number = 1): Call {
  return callOf({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) })
}
