/** One raw JSON-RPC POST with chosen headers, its answer read whole (JSON or one SSE message). */
import { MCP_ACCEPT } from './mcp-http.ts'

export interface RpcAnswer {
  status: number
  headers: Headers
  /** The JSON-RPC message answered (from a JSON body or the first SSE `data:`), if any. */
  message:
    | { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } }
    | undefined
}

export async function rpc(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RpcAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_ACCEPT, ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  const data = text.startsWith('{') ? text : /^data: (.*)$/m.exec(text)?.[1]
  return {
    status: response.status,
    headers: response.headers,
    message: data === undefined ? undefined : JSON.parse(data),
  }
}

/** A request message with an id. */
export function request(id: number, method: string, params?: Record<string, unknown>) {
  return { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
