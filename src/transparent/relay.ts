/**
 * Relaying an upstream answer to the client: SSE event by event as it arrives (never
 * buffered), JSON bounded and rewritten only when a rewriter asks for it, anything else piped.
 * Each relay feeds the recorder with outcomes, bytes and time to first byte.
 */
import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { endToEndHeaders, type HeaderMap, RESPONSE_MANAGED } from '../edge/headers.ts'
import { isObject, type JsonRpcResponse } from '../jsonrpc/message.ts'
import type { EventBus } from '../observe/bus.ts'
import { RECORDED_NOTIFICATIONS } from '../observe/event.ts'
import type { Call, ResponseRewriter } from '../pipeline/types.ts'
import { encodeSseEvent, type SseEvent, SseParser } from '../protocol/sse.ts'
import type { Recorder } from './recorder.ts'
import { asResponse, type Summary, summarize } from './summarize.ts'

export interface RelayOptions {
  recorder: Recorder
  calls: readonly Call[]
  rewriters: readonly ResponseRewriter[]
  bus: EventBus
  proxy: string
  maxBufferedBytes: number
  /** Aborted when the client goes away; ends waits for the client's buffer to drain. */
  signal: AbortSignal
  /** Rewrites upstream URLs in SSE `endpoint` events (legacy HTTP+SSE). */
  rewriteEndpoint?: (data: string) => string
  /** Receives each server message on a legacy stream (responses for POSTed requests). */
  onMessage?: (summary: Summary, bytes: number) => void
  /** Parse every event (needed to correlate responses by id on legacy streams). */
  parseAll?: boolean
  /** The call a response answers when it is not among `calls` (legacy streams). */
  callOf?: (summary: Summary) => Call | undefined
}

export function clientHeaders(upstream: HeaderMap, extraDrop?: ReadonlySet<string>): HeaderMap {
  const headers = endToEndHeaders(upstream, { drop: RESPONSE_MANAGED })
  if (extraDrop) for (const name of extraDrop) delete headers[name]
  return headers
}

/** Which (call → rewriters) pairs apply; computed once per exchange. */
function applicable(
  calls: readonly Call[],
  rewriters: readonly ResponseRewriter[],
): Map<Call, ResponseRewriter[]> {
  const map = new Map<Call, ResponseRewriter[]>()
  if (rewriters.length === 0) return map
  for (const call of calls) {
    if (call.kind !== 'request') continue
    const list = rewriters.filter((r) => r.appliesTo(call))
    if (list.length > 0) map.set(call, list)
  }
  return map
}

function callFor(calls: readonly Call[], summary: Summary): Call | undefined {
  const requests = calls.filter((c) => c.kind === 'request')
  if (summary.id === undefined || summary.id === null)
    return requests.length === 1 ? requests[0] : undefined
  return requests.find((c) => c.id === summary.id)
}

function rewriteResponse(
  call: Call,
  response: JsonRpcResponse,
  rewriters: readonly ResponseRewriter[],
): JsonRpcResponse | undefined {
  let current = response
  let changed = false
  for (const rewriter of rewriters) {
    const next = rewriter.rewrite(call, current)
    if (next !== undefined) {
      current = next
      changed = true
    }
  }
  return changed ? current : undefined
}

/** Streams an upstream SSE body to the client, event by event. */
export async function relaySse(
  res: ServerResponse,
  status: number,
  headers: HeaderMap,
  body: Readable,
  options: RelayOptions,
): Promise<void> {
  const { recorder } = options
  const rewriting = applicable(options.calls, options.rewriters)
  const parseAll = rewriting.size > 0 || options.parseAll === true || recorder.needsResults
  res.writeHead(status, headers)
  // The client must see the headers at once; when the first event already arrived with the
  // upstream's headers (the usual case), it carries them: one write and one segment, not two.
  if (body.readableLength === 0) res.flushHeaders()
  const parser = new SseParser(options.maxBufferedBytes)
  body.setEncoding('utf8')
  for await (const chunk of body as AsyncIterable<string>) {
    for (const event of parser.push(chunk)) {
      const out = transformEvent(event, parseAll, rewriting, options)
      if (!res.write(out)) await once(res, 'drain', { signal: options.signal })
      recorder.wrote(Buffer.byteLength(out))
    }
  }
  res.end()
}

function transformEvent(
  event: SseEvent,
  parseAll: boolean,
  rewriting: Map<Call, ResponseRewriter[]>,
  options: RelayOptions,
): string {
  if (event.comment || event.data === '') return event.raw
  if (event.event === 'endpoint' && options.rewriteEndpoint) {
    return encodeSseEvent(options.rewriteEndpoint(event.data), { event: 'endpoint', id: event.id })
  }
  if (event.event !== undefined && event.event !== 'message') return event.raw
  const summary = summarize(event.data, parseAll)
  if (summary === undefined) return event.raw
  // Looked up before onMessage, which settles (and forgets) the legacy request it answers.
  const pendingCall = summary.isResponse ? options.callOf?.(summary) : undefined
  options.onMessage?.(summary, Buffer.byteLength(event.raw))
  if (!summary.isResponse) {
    recordNotification(summary, Buffer.byteLength(event.raw), options)
    return event.raw
  }
  options.recorder.answer(summary)
  const call = callFor(options.calls, summary) ?? pendingCall
  const rewriters = call
    ? (rewriting.get(call) ?? applicable([call], options.rewriters).get(call))
    : undefined
  const response = rewriters ? asResponse(summary.parsed) : undefined
  if (!call || !rewriters || !response) return event.raw
  const rewritten = rewriteResponse(call, response, rewriters)
  return rewritten ? encodeSseEvent(JSON.stringify(rewritten), { id: event.id }) : event.raw
}

function recordNotification(summary: Summary, bytes: number, options: RelayOptions): void {
  if (summary.method === undefined || !RECORDED_NOTIFICATIONS.has(summary.method)) return
  const parsed = summary.parsed
  const { recorder } = options
  options.bus.publish({
    type: 'notification',
    ts: Date.now(),
    proxy: options.proxy,
    ...(recorder.sessionId === undefined ? {} : { sessionId: recorder.sessionId }),
    transport: recorder.transport,
    era: recorder.era,
    method: summary.method,
    bytes,
    ...(isObject(parsed) && isObject(parsed.params) ? { params: parsed.params } : {}),
  })
}

/**
 * Relays a JSON answer. When a rewriter or a sink needs the parsed answer, bodies up to the
 * bound are buffered, processed and sent; a larger body is streamed through unchanged.
 * Otherwise the bytes are streamed to the client as they arrive and only scanned at the end to
 * record the outcome, so a large answer costs no added latency.
 */
export async function relayJson(
  res: ServerResponse,
  status: number,
  headers: HeaderMap,
  body: Readable,
  options: RelayOptions,
): Promise<void> {
  const rewriting = applicable(options.calls, options.rewriters)
  if (rewriting.size === 0 && !options.recorder.needsResults) {
    return streamJson(res, status, headers, body, options)
  }
  const { chunks, size, complete } = await collectUpTo(body, options.maxBufferedBytes)
  if (!complete) return streamRest(res, status, headers, chunks, body, options)
  let payload: Buffer = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)
  const rewritten = processJson(payload, rewriting, options)
  if (rewritten !== undefined) payload = rewritten
  headers['content-length'] = String(payload.length)
  res.writeHead(status, headers)
  res.end(payload)
  options.recorder.wrote(payload.length)
}

/** Streams an answer nobody needs to change, keeping (bounded) copies to record its outcome. */
async function streamJson(
  res: ServerResponse,
  status: number,
  headers: HeaderMap,
  body: Readable,
  options: RelayOptions,
): Promise<void> {
  res.writeHead(status, headers)
  const kept: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (!res.write(chunk)) await once(res, 'drain', { signal: options.signal })
    options.recorder.wrote(chunk.length)
    size += chunk.length
    if (size <= options.maxBufferedBytes) kept.push(chunk)
  }
  res.end()
  // Past the bound the outcome is not inspected (recorded as the HTTP status says).
  if (size <= options.maxBufferedBytes) processJson(Buffer.concat(kept, size), new Map(), options)
}

/**
 * Buffers a body until it ends or passes `limit` (then pauses it, so the rest can be piped).
 * Plain 'data' listeners: an async iterator costs a promise and a microtask hop per chunk.
 */
function collectUpTo(
  body: Readable,
  limit: number,
): Promise<{ chunks: Buffer[]; size: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      chunks.push(chunk)
      if (size <= limit) return
      cleanup()
      body.pause()
      resolve({ chunks, size, complete: false })
    }
    const onEnd = (): void => {
      cleanup()
      resolve({ chunks, size, complete: true })
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(error)
    }
    body.on('data', onData)
    body.on('end', onEnd)
    body.on('error', onError)
  })
}

function processJson(
  payload: Buffer,
  rewriting: Map<Call, ResponseRewriter[]>,
  options: RelayOptions,
): Buffer | undefined {
  if (startsWithBracket(payload)) return processBatch(payload.toString('utf8'), rewriting, options)
  const summary = summarize(payload, rewriting.size > 0 || options.recorder.needsResults)
  if (summary === undefined || !summary.isResponse) return undefined
  options.recorder.answer(summary)
  const call = callFor(options.calls, summary)
  const rewriters = call ? rewriting.get(call) : undefined
  const response = rewriters ? asResponse(summary.parsed) : undefined
  if (!call || !rewriters || !response) return undefined
  const rewritten = rewriteResponse(call, response, rewriters)
  return rewritten ? Buffer.from(JSON.stringify(rewritten)) : undefined
}

/** True when the first non-whitespace byte is `[` (a JSON-RPC batch answer). */
function startsWithBracket(payload: Buffer): boolean {
  for (const byte of payload) {
    if (byte === 0x5b) return true
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return false
  }
  return false
}

function processBatch(
  text: string,
  rewriting: Map<Call, ResponseRewriter[]>,
  options: RelayOptions,
): Buffer | undefined {
  let values: unknown
  try {
    values = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(values)) return undefined
  let changed = false
  const out = values.map((value) => {
    const summary = summarize(JSON.stringify(value), true)
    if (summary === undefined || !summary.isResponse) return value
    options.recorder.answer(summary)
    const call = callFor(options.calls, summary)
    const rewriters = call ? rewriting.get(call) : undefined
    const response = asResponse(value)
    if (!call || !rewriters || !response) return value
    const rewritten = rewriteResponse(call, response, rewriters)
    if (rewritten) changed = true
    return rewritten ?? value
  })
  return changed ? Buffer.from(JSON.stringify(out)) : undefined
}

async function streamRest(
  res: ServerResponse,
  status: number,
  headers: HeaderMap,
  head: Buffer[],
  body: Readable,
  options: RelayOptions,
): Promise<void> {
  const { recorder } = options
  res.writeHead(status, headers)
  for (const chunk of head) {
    res.write(chunk)
    recorder.wrote(chunk.length)
  }
  await pipeCounting(res, body, recorder, options.signal)
}

/** Pipes a body to the client with backpressure, counting bytes. */
export async function pipeCounting(
  res: ServerResponse,
  body: Readable,
  recorder: Recorder,
  signal: AbortSignal,
): Promise<void> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (!res.write(chunk)) await once(res, 'drain', { signal })
    recorder.wrote(chunk.length)
  }
  res.end()
}
