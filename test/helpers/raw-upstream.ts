/**
 * A minimal MCP upstream on a real HTTP server for tests that script its answers byte by byte:
 * notifications get 202, `initialize` a session, and every other request goes to `answer`;
 * other HTTP methods get 405.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RawRequest {
  id?: unknown
  method?: string
  params?: { name?: string }
  /** The path the request was sent to. */
  path: string
}

export interface RawUpstream {
  server: Server
  /** The MCP endpoint (`/mcp`). */
  url: string
  close(): Promise<void>
}

export async function startRawUpstream(
  name: string,
  answer: (res: ServerResponse, request: RawRequest) => void,
): Promise<RawUpstream> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk
    })
    req.on('end', () => {
      // A gateway in front opens a GET stream and ends with DELETE: this server has neither.
      if (req.method !== 'POST') return void res.writeHead(405).end()
      const request = { ...(JSON.parse(body) as Omit<RawRequest, 'path'>), path: req.url ?? '/' }
      if (request.id === undefined) return void res.writeHead(202).end()
      if (request.method === 'initialize') {
        const result = {
          protocolVersion: '2025-11-25',
          capabilities: { tools: {} },
          serverInfo: { name, version: '1' },
        }
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's1' })
        return void res.end(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }))
      }
      answer(res, request)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`
  return {
    server,
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
