/** Raw Streamable HTTP helpers for tests that need control below the SDK (streams, ids). */
import { type SseEvent, SseParser } from '../../src/protocol/sse.ts'

export const MCP_ACCEPT = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
}

/** Runs `initialize` + `notifications/initialized`; returns the session id. */
export async function openSession(url: string, protocolVersion = '2025-11-25'): Promise<string> {
  const init = await fetch(url, {
    method: 'POST',
    headers: MCP_ACCEPT,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-test', version: '1' } },
    }),
  })
  const sessionId = init.headers.get('mcp-session-id')
  await init.text()
  if (!sessionId) throw new Error(`no session id (status ${init.status})`)
  const done = await fetch(url, {
    method: 'POST',
    headers: {
      ...MCP_ACCEPT,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': protocolVersion,
    },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  })
  await done.text()
  return sessionId
}

/** Reads SSE events from a response until `stop` says so (or the stream ends). */
export async function readEvents(
  response: Response,
  stop: (events: SseEvent[]) => boolean,
): Promise<SseEvent[]> {
  const reader = response.body?.getReader()
  if (!reader) throw new Error('no body')
  const parser = new SseParser()
  const decoder = new TextDecoder()
  const events: SseEvent[] = []
  while (!stop(events)) {
    const { value, done } = await reader.read()
    if (done) break
    events.push(
      ...parser.push(decoder.decode(value, { stream: true })).filter((e) => e.data !== ''),
    )
  }
  await reader.cancel().catch(() => undefined)
  return events
}

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
