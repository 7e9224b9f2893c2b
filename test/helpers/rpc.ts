/** One raw JSON-RPC POST with chosen headers, its answer read whole (JSON or one SSE message). */
import { request as httpRequest } from 'node:http'
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

/** A GET with its path sent exactly as given (fetch would resolve `//`, dot segments…). */
export function rawGet(origin: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}
