/** Raw Streamable HTTP POSTs, for tests that shape requests themselves (modern `_meta`, load). */

export const MODERN_META = 'io.modelcontextprotocol/protocolVersion'
export const CLIENT_META = 'io.modelcontextprotocol/clientInfo'

let nextId = 1

/** A stateless 2026-07-28-style `tools/call` carrying the client in `_meta`. */
export async function modernCall(
  url: string,
  tool: string,
  client: { name: string; version: string },
  userAgent = 'node',
): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'user-agent': userAgent,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'tools/call',
      params: {
        name: tool,
        arguments: {},
        _meta: { [MODERN_META]: '2026-07-28', [CLIENT_META]: client },
      },
    }),
    signal: AbortSignal.timeout(10_000),
  })
  return response.text()
}
