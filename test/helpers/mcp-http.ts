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
