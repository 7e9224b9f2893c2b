/** A raw 2026-07-28 `subscriptions/listen` stream for tests (the SDKs do not open one on their own). */
import assert from 'node:assert/strict'

export type ListenMessage = { method?: string; params?: unknown }

export async function openListenStream(url: string, id: string, notifications: object) {
  const abort = new AbortController()
  const response = await fetch(url, {
    method: 'POST',
    signal: abort.signal,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'subscriptions/listen',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'subscriptions/listen',
      params: {
        notifications,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  })
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/)
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  const messages: ListenMessage[] = []
  let buffer = ''
  return {
    async until(done: (all: typeof messages) => boolean) {
      // Bounded: the stream is aborted (and the read rejects) after 10 s.
      const timer = setTimeout(() => abort.abort(), 10_000)
      while (!done(messages)) {
        const chunk = await reader.read().catch(() => undefined)
        if (!chunk || chunk.done) break
        const { value } = chunk
        buffer += decoder.decode(value, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const data = buffer
            .slice(0, end)
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n')
          buffer = buffer.slice(end + 2)
          if (data) messages.push(JSON.parse(data))
        }
      }
      clearTimeout(timer)
      return messages
    },
    close: () => abort.abort(),
  }
}
