/** A raw 2026-07-28 `subscriptions/listen` stream for tests (the SDKs do not open one on their own). */
import assert from 'node:assert/strict'
import { SseParser } from '../../src/protocol/sse.ts'
import { readUntil } from './mcp-http.ts'

export type ListenMessage = { method?: string; params?: unknown }

export async function openListenStream(
  url: string,
  id: string,
  notifications: object,
  headers: Record<string, string> = {},
  /** Sent as a JSON-RPC batch of one (its answer is then a merged stream). */
  batch = false,
) {
  const abort = new AbortController()
  const listen = {
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
  }
  const response = await fetch(url, {
    method: 'POST',
    signal: abort.signal,
    headers: {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'subscriptions/listen',
    },
    body: JSON.stringify(batch ? [listen] : listen),
  })
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/)
  const parser = new SseParser()
  const messages: ListenMessage[] = []
  const push = (chunk: string) => {
    for (const event of parser.push(chunk)) {
      if (event.data) messages.push(JSON.parse(event.data))
    }
  }
  return {
    /** Reads the stream until `done` holds; rejects naming `what` after `timeoutMs`. */
    async until(
      done: (all: typeof messages) => boolean,
      what = 'the awaited notifications on the listen stream',
      timeoutMs = 10_000,
    ) {
      await readUntil(response, push, () => done(messages), what, timeoutMs, true)
      return messages
    },
    /** Whether the stream ends (its messages read past) within `timeoutMs`. */
    async endsWithin(timeoutMs: number): Promise<boolean> {
      try {
        await readUntil(response, push, () => false, 'the end of the stream', timeoutMs, true)
      } catch (error) {
        if (/ended before/.test(String(error))) return true
        if (/timed out/.test(String(error))) return false
        throw error
      }
      return false
    },
    close: () => abort.abort(),
  }
}
