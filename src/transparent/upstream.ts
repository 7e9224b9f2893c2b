/**
 * The transparent upstream: one MCP server reached over Streamable HTTP, without terminating
 * MCP. A call is POSTed with the client's headers (hop-by-hop ones dropped, X-Forwarded-*
 * added) and its original bytes while no middleware changed it; the upstream's answer comes
 * back as a Reply: a JSON answer not read yet, an SSE stream read event by event, 202, or an
 * answer that is not JSON-RPC, which edge/send.ts passes through when it is an HTTP error and
 * answers with the request's error otherwise (a client would wait for ever for its id).
 */
import type { Readable } from 'node:stream'
import { PorticoError } from '../errors.ts'
import { mapOriginHeaders } from '../forward/url-map.ts'
import { WHOLE_ANSWER_BYTES } from '../http/body.ts'
import { clientHeaders, contentTypeOf, type HeaderMap, headerValue } from '../http/headers.ts'
import type { JsonRpcId, JsonRpcMessage } from '../jsonrpc/message.ts'
import {
  type Call,
  forwardedBytesOf,
  isListenStream,
  upstreamHeadersOf,
  withMessage,
} from '../pipeline/call.ts'
import { accepted, MessageReply, type Reply, StreamEvent, StreamReply } from '../pipeline/reply.ts'
import { CallController } from '../pipeline/signal.ts'
import { discard } from '../protect/outcome.ts'
import { type DiscardedEvent, SseParser } from '../protocol/sse.ts'
import { bodyError, type HttpClient, type UpstreamResponse } from '../upstream/http-client.ts'
import { chunksOf } from '../util/chunks.ts'

export interface TransparentUpstreamOptions {
  http: HttpClient
  url: URL
  /** Upstream named in messages: origin and path, never credentials. */
  label: string
  /** Bound on a parsed JSON answer and on one SSE event. */
  maxMessageBytes: number
  /**
   * The deadline of a call (`request_timeout`): to the answer's start, then to the end of a
   * JSON answer, or between two chunks of an SSE one.
   */
  timeoutMs: number
  /** The origin clients reach Portico at, for upstream OAuth challenges naming the upstream. */
  publicOrigin: (call: Call) => string
}

/**
 * The signals of calls whose request went to the upstream: an attempt given up while it still
 * waited (a concurrency queue) never reached it, and a cancel under its id would name a request
 * the upstream never saw. Each attempt has its own signal (protect/attempt.ts).
 */
const SENT = new WeakSet<object>()

export function transparentUpstream(
  options: TransparentUpstreamOptions,
): (call: Call) => Promise<Reply> {
  const { http, url, label } = options
  const mapBodyError = (error: unknown) => bodyError(error, label)
  // A small answer arrives in one buffer; the parse bound still holds for it.
  const wholeBytes = Math.min(WHOLE_ANSWER_BYTES, options.maxMessageBytes)
  return async function forward(call) {
    SENT.add(call.signal)
    // The whole call's deadline may fire while an event stream answers: told as it fires.
    if (call.sessionId !== undefined && call.kind === 'request') {
      call.signal.addEventListener('abort', () => cancelTimedOut(forward, call, undefined), {
        once: true,
      })
    }
    let response: UpstreamResponse
    try {
      response = await http.send({
        url: call.request.search ? new URL(url.pathname + call.request.search, url) : url,
        method: 'POST',
        headers: upstreamHeadersOf(call),
        body: forwardedBytesOf(call),
        signal: call.signal,
        label,
        timeoutMs: call.timeoutMs ?? options.timeoutMs,
        // A listen stream lasts until the client closes it, quiet or not (2026-07-28).
        ...(isListenStream(call) ? { bodyTimeoutMs: 0 } : {}),
        // A JSON answer is one message: due whole within the deadline (an SSE one between chunks).
        wholeMessageDeadline: true,
        wholeBytes,
      })
    } catch (error) {
      // The attempt's own deadline (`request_timeout`): the signal is not aborted for it.
      if (!call.signal.aborted) cancelTimedOut(forward, call, error)
      throw error
    }
    call.notes.upstreamStatus = response.status
    const sessionId = headerValue(response.headers, 'mcp-session-id')
    if (sessionId !== undefined && call.sessionId === undefined) call.notes.sessionId = sessionId
    const headers = clientHeaders(response.headers)
    if (namesOrigin(headers)) mapOriginHeaders(headers, url.origin, options.publicOrigin(call))
    // A session's request whose answer falls silent past `request_timeout`: told too.
    const told =
      call.sessionId !== undefined && call.kind === 'request'
        ? (error: unknown) => {
            const failure = mapBodyError(error)
            if (!call.signal.aborted) cancelTimedOut(forward, call, failure)
            return failure
          }
        : mapBodyError
    return replyOf(response, headers, options.maxMessageBytes, label, told)
  }
}

/** Whether an answer has headers that may name the upstream's origin (most have none). */
function namesOrigin(headers: HeaderMap): boolean {
  return (
    headers['www-authenticate'] !== undefined ||
    headers.location !== undefined ||
    headers['content-location'] !== undefined
  )
}

/** The Reply shape of an upstream answer, decided by its status and content type. */
export function replyOf(
  response: UpstreamResponse,
  headers: HeaderMap,
  maxBytes: number,
  label: string,
  mapBodyError: (error: unknown) => PorticoError = (error) => bodyError(error, label),
): Reply {
  const init = { status: response.status, headers }
  const type = contentTypeOf(response.headers)
  if (type.startsWith('text/event-stream')) {
    const body = response.body
    return new StreamReply(sseEvents(body, maxBytes, label, FRAGMENT_FROM, mapBodyError), {
      ...init,
      buffered: () => body.readableLength > 0,
    })
  }
  if (type.includes('json')) {
    if (response.bytes !== undefined) return MessageReply.fromBytes(response.bytes, init)
    return MessageReply.fromBody(response.body, maxBytes, {
      ...init,
      mapError: mapBodyError,
    })
  }
  if (response.status === 202 || response.status === 204) {
    if (response.bytes === undefined) response.body.resume()
    return accepted(init)
  }
  return { kind: 'http', ...init, body: response.body }
}

/**
 * The size from which an event still arriving is passed on as it comes (fragments), in
 * characters: a large result (an SDK server answers with one SSE event) was held until its
 * end, so a client saw none of it until the upstream had sent it all; a small event split
 * across reads still goes out in one write. (A fast 10 MB answer's time was the parser's,
 * not the holding: perf2 log, steps 47 and 48.)
 */
const FRAGMENT_FROM = 64 * 1024

/**
 * An upstream SSE body as events, parsed from the bytes as they arrive. A body that fails says
 * why: past the deadline (no bytes within it), over the bound, or ended early. With
 * `fragmentFrom`, an event larger than that is also given out in fragments while it arrives
 * (`StreamEvent.fragment`), then whole; without it, events come only whole (a consumer that
 * places events by their content, as the legacy SSE relay does).
 */
export function sseEvents(
  body: Readable,
  maxEventBytes: number,
  label: string,
  fragmentFrom?: number,
  mapBodyError: (error: unknown) => PorticoError = (error) => bodyError(error, label),
): AsyncGenerator<StreamEvent> {
  // A parser that does not discard never gives a DiscardedEvent.
  return eventsOf(
    body,
    new SseParser(maxEventBytes),
    mapBodyError,
    fragmentFrom,
  ) as AsyncGenerator<StreamEvent>
}

/**
 * The same, for a stream that carries many calls (the legacy SSE relay): an event over the
 * bound comes as what could be learned of it (`DiscardedEvent`) instead of failing the stream,
 * so that one answer too large fails only its own call.
 */
export function sseEventsKeepingOn(
  body: Readable,
  /** Read at each check: a long-lived stream follows a reload's `max_response_body_size`. */
  maxEventBytes: number | (() => number),
  label: string,
): AsyncGenerator<StreamEvent | DiscardedEvent> {
  return eventsOf(body, new SseParser(maxEventBytes, { discardOversized: true }), (error) =>
    bodyError(error, label),
  )
}

async function* eventsOf(
  body: Readable,
  parser: SseParser,
  mapBodyError: (error: unknown) => PorticoError,
  fragmentFrom?: number,
): AsyncGenerator<StreamEvent | DiscardedEvent> {
  body.setEncoding('utf8')
  try {
    // chunksOf releases the upstream when this stops early (the client left, a bound was hit).
    for await (const chunk of chunksOf<string>(body)) {
      for (const event of parser.push(chunk)) yield event.discarded ?? StreamEvent.fromSse(event)
      const ahead = fragmentFrom === undefined ? undefined : parser.takeAhead(fragmentFrom)
      if (ahead !== undefined) yield StreamEvent.fragment(ahead)
    }
    for (const event of parser.end()) yield event.discarded ?? StreamEvent.fromSse(event)
  } catch (error) {
    throw mapBodyError(error)
  }
}

/**
 * A session's request Portico gave up on for its deadline (the attempt's `request_timeout`,
 * before the answer or while it streams, or the whole call's `[timeout]`): the upstream is
 * told, as the README's Timeouts promise. On a session, the closed request alone is no
 * cancellation, and the server ran the call to its end.
 */
function cancelTimedOut(send: (call: Call) => Promise<Reply>, call: Call, error: unknown): void {
  const why = timedOutWhy(call, error)
  if (why !== undefined && call.id !== undefined) cancelOnSession(send, call, call.id, why)
}

/**
 * Tells the upstream a hedged attempt of a session's call is given up, in a
 * `notifications/cancelled` naming the id it went out under: on a session, the request's
 * stream Portico closed is no cancellation, and the server ran the attempt to its end. A
 * control message of Portico's own: not through the chain, not recorded. Only for an attempt
 * that was sent (`SENT`). (Hedges of stateless calls have nothing to cancel but their request,
 * which closing ended; legacy SSE is not hedged.)
 */
export function cancelOnSession(
  send: (call: Call) => Promise<Reply>,
  attempt: Call,
  sentAs: JsonRpcId,
  why: string,
): void {
  if (attempt.sessionId === undefined || !SENT.has(attempt.signal)) return
  send(cancelNotice(attempt, sentAs, why)).then(discard, () => {})
}

/**
 * The `notifications/cancelled` telling a session's upstream that the request it got as
 * `sentAs` is given up: a call of Portico's own on the attempt's session, with a signal of its
 * own (the attempt's is aborted), not through the chain, not recorded.
 */
export function cancelNotice(attempt: Call, sentAs: JsonRpcId, why: string): Call {
  const message: JsonRpcMessage = {
    jsonrpc: '2.0',
    method: 'notifications/cancelled',
    params: { requestId: sentAs, reason: why },
  }
  return {
    ...withMessage(attempt, message),
    kind: 'notification',
    signal: new CallController().signal,
    notes: {},
  }
}

/** The deadline `error` (or the call's signal) says a session's request was given up for. */
export function timedOutWhy(call: Call, error: unknown): string | undefined {
  const reason = error ?? call.signal.reason
  if (!(reason instanceof PorticoError) || reason.reason !== 'upstream_timeout') return undefined
  return call.kind === 'request' && call.id !== undefined ? reason.message : undefined
}
