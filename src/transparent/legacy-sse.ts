/**
 * The legacy HTTP+SSE transport (2024-11-05) in transparent mode. GET on the SSE path opens
 * the upstream's stream; its `endpoint` event is rewritten to point at Portico. Messages
 * POSTed to that endpoint run through the chain like any call: the terminal forwards the POST
 * and waits for the response on the stream, so middleware see (and may change) the real
 * answer, and a refusal reaches the client as a JSON-RPC error with its id, on its stream.
 * Portico answers the client's POST once the upstream accepted each message.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { type ProxyContext, publicOrigin } from '../context.ts'
import { markListening, refuse, relayExchange } from '../edge/exchange.ts'
import {
  answerCalls,
  answerElement,
  baseOf,
  finishRecording,
  type ReadCalls,
  readCalls,
} from '../edge/mcp-post.ts'
import type { RouteHandler } from '../edge/router.ts'
import { drained, failRelay, type RelayOptions, relayAnswer, writeRelayHead } from '../edge/send.ts'
import { PorticoError } from '../errors.ts'
import { mapOriginHeaders } from '../forward/url-map.ts'
import { arrivalOf } from '../http/arrival.ts'
import { clientHeaders, contentTypeOf, readUpstreamHeaders } from '../http/headers.ts'
import { routeKey } from '../http/route-key.ts'
import { bigIdLiteral, isObject, type JsonRpcId } from '../jsonrpc/message.ts'
import { rewriteAnswerEvent } from '../middleware/rewrite.ts'
import { CallRecorder, publishNotification } from '../observe/recorder.ts'
import { type Call, forwardedBytesOf, upstreamHeadersOf } from '../pipeline/call.ts'
import type { Handler } from '../pipeline/compose.ts'
import { accepted, MessageReply, type Reply, StreamEvent } from '../pipeline/reply.ts'
import { CallController } from '../pipeline/signal.ts'
import { updatedResourceOf } from '../protect/cache.ts'
import { legacySessionOf, legacySessionsOf } from '../protocol/legacy-session.ts'
import { type DiscardedEvent, encodeSseEvent, eventTooLarge } from '../protocol/sse.ts'
import type { HttpClient, UpstreamResponse } from '../upstream/http-client.ts'
import { printable } from '../util/format.ts'
import { LegacySessions, OrderedStream } from './legacy-sessions.ts'
import { answeredCall, refuseUncheckedStream } from './stream.ts'
import { cancelNotice, replyOf, sseEventsKeepingOn, timedOutWhy } from './upstream.ts'

/** How long a client's stream stays open after the upstream's for answers still in the chain. */
const TAKEN_ANSWER_WAIT_MS = 10_000

export interface LegacyUpstream {
  /** The upstream's SSE stream URL. */
  stream: URL
  label: string
  /** A call's deadline: for the upstream's 202, then for its answer on the stream. */
  timeoutMs: number
  /** Bound on a parsed JSON answer and on one SSE event (`max_response_body_size`). */
  maxMessageBytes: number
  /** The upstream said a resource changed: its cached reads go. */
  resourceUpdated?: (uri: string) => void
}

/** The bounds a hot reload may change: calls and streams from then on use them. */
export type LegacyLimits = Pick<LegacyUpstream, 'timeoutMs' | 'maxMessageBytes'>

/**
 * The upstream's SSE stream: the configured upstream itself when it names a stream (its path
 * ends in `/sse`, or in the `sse_path` Portico serves), else the upstream's origin + `sse_path`.
 * Portico's own `sse_path` may differ from the upstream's (`/tenant/sse` in front of `/sse`).
 */
export function legacySseTarget(upstream: URL, ssePath: string): URL {
  if (upstream.pathname.endsWith(ssePath) || upstream.pathname.endsWith('/sse')) return upstream
  return new URL(ssePath, upstream.origin)
}

/** The legacy session a POST belongs to (`sessionId`, or `session_id` as some servers name it). */

export class LegacyTransport {
  readonly sessions = new LegacySessions()
  readonly #context: ProxyContext
  #upstream: LegacyUpstream

  constructor(context: ProxyContext, upstream: LegacyUpstream) {
    this.#context = context
    this.#upstream = upstream
  }

  /** A reload's bounds, for calls and streams from now on; the sessions stay as they are. */
  retune(limits: LegacyLimits): void {
    this.#upstream = { ...this.#upstream, ...limits }
  }

  isMessagePath(pathname: string): boolean {
    return this.sessions.isMessagePath(pathname)
  }

  /** Whether a route key (see forward/raw.ts routeKey) names an announced messages path. */
  isMessageRoute(key: string): boolean {
    for (const path of this.sessions.messagePaths()) if (routeKey(path) === key) return true
    return false
  }

  /** GET on the SSE path: the upstream's stream, relayed event by event. */
  readonly stream: RouteHandler = async (req, res) => {
    const context = this.#context
    const options = relayExchange(context, req, res, { transport: 'sse', kind: 'stream' })
    const { recorder, signal } = options
    try {
      const target = this.#upstream.stream
      const response = await context.http.send({
        url: target,
        method: 'GET',
        headers: readUpstreamHeaders(req),
        signal,
        label: this.#upstream.label,
      })
      recorder.upstreamStatus = response.status
      const rewriters = context.rewriters ?? []
      refuseUncheckedStream(response, rewriters, this.#upstream.label)
      const headers = mapOriginHeaders(
        clientHeaders(response.headers),
        target.origin,
        publicOrigin(context, req),
      )
      const type = contentTypeOf(response.headers)
      if (!type.startsWith('text/event-stream')) {
        await relayAnswer(
          res,
          replyOf(response, headers, this.#upstream.maxMessageBytes, this.#upstream.label),
          options,
        )
        return
      }
      writeRelayHead(res, response.status, headers)
      res.flushHeaders()
      /** Every session this stream named: an upstream may announce several, each released. */
      const named = new Set<string>()
      // The stream carries its sessions' answers: a drain ends it once they are all written.
      markListening(res, () => this.sessions.awaiting(named))
      const events = sseEventsKeepingOn(
        response.body,
        // The bound in force at each event: the session's stream outlives reloads.
        () => this.#upstream.maxMessageBytes,
        this.#upstream.label,
      )
      const callFor = answeredCall(req)
      const rewrite = (event: StreamEvent) => rewriteAnswerEvent(event, rewriters, callFor)
      await this.#relay(res, events, options, named, rewrite)
      res.end()
      recorder.finish(response.status)
    } catch (error) {
      failRelay(res, error, { ...options, closeIsNormal: true })
    }
  }

  async #relay(
    res: ServerResponse,
    events: AsyncIterable<StreamEvent | DiscardedEvent>,
    options: RelayOptions,
    named: Set<string>,
    rewrite: (event: StreamEvent) => StreamEvent | undefined,
  ): Promise<void> {
    const ordered = new OrderedStream(res)
    let sessionId: string | undefined
    const announced: string[] = []
    let failure: unknown
    try {
      for await (const event of events) {
        if (res.writableEnded) break // ended by a drain: stop reading the upstream
        if (!(event instanceof StreamEvent)) {
          // Over the bound, and read past: the call it answers fails, the stream goes on.
          this.#discarded(sessionId, event)
          continue
        }
        let raw = event.raw
        const updated = updatedResourceOf(event)
        if (updated !== undefined) this.#upstream.resourceUpdated?.(updated)
        if (event.event === 'endpoint') {
          const endpoint = this.#endpoint(event.data, ordered)
          if (endpoint === undefined) break // refused (logged): the client's stream ends
          announced.push(endpoint.path)
          sessionId = endpoint.sessionId ?? sessionId
          if (sessionId !== undefined) {
            named.add(sessionId)
            options.place = { ...options.place, sessionId }
            options.recorder.sessionId = sessionId
          }
          raw = endpoint.raw
        } else if (event.isMessage && this.#taken(sessionId, event)) {
          // A POSTed request's answer: written where `take` reserved its place. The upstream's
          // next event still waits for the client to read what the stream holds, so a client
          // that POSTs and never reads its stream cannot make Portico buffer every answer.
          if (ordered.needsDrain) await drained(res, options.signal)
          continue
        } else if (event.isMessage) {
          // An answer no call waits for (a cancelled call's, one under an id no call has) is
          // rewritten by its result's shape, as on a resumed stream: passed as it came, a
          // widget's CSP reached the client as the app wrote it.
          const rewritten = rewrite(event)
          if (rewritten === undefined) continue
          raw = rewritten.raw
        }
        ordered.write(raw)
        options.recorder.wrote(Buffer.byteLength(raw))
        const summary = event.isMessage ? event.summary(true) : undefined
        if (summary !== undefined && !summary.isResponse) {
          publishNotification(this.#context.bus, options.place, summary, Buffer.byteLength(raw))
        }
        if (ordered.needsDrain) await drained(res, options.signal)
      }
    } catch (error) {
      failure = error
      throw error
    } finally {
      if (sessionId !== undefined) {
        // Answers already taken from the upstream's stream are written before the client's
        // stream ends (bounded: a chain that never answers does not hold the stream open).
        if (!res.writableEnded && !res.destroyed) {
          await this.sessions.delivered(sessionId, TAKEN_ANSWER_WAIT_MS, options.signal)
        }
      }
      // All of them: those an earlier endpoint event named stayed in the table for good (one
      // stream naming 10,001 filled it, and every later session's answers then skipped the
      // chain: the CSP rewrite among them). The calls still waiting fail: cancelled when the
      // client left (its stream closed: the upstream's was closed with it, as a Streamable
      // HTTP call's request is aborted), else why the upstream's stream ended (Portico's own
      // reason, as `shutting_down` when a drain's deadline cut it), or that it ended.
      const why = waitingCallsFailure(options.signal.aborted, failure)
      for (const id of named) this.sessions.close(id, why)
      for (const path of announced) this.sessions.withdraw(path)
    }
  }

  /**
   * Rewrites the upstream's `endpoint` event to Portico's own path, announces the path and
   * registers the session. Undefined when refused: an endpoint that is not a URL, or on
   * another origin (the client would post past Portico, to a host nobody configured), or one
   * path too many.
   */
  #endpoint(
    data: string,
    ordered: OrderedStream,
  ): { path: string; raw: string; sessionId?: string } | undefined {
    const target = this.#upstream.stream
    const endpoint = URL.canParse(data, target.href) ? new URL(data, target) : undefined
    if (endpoint === undefined || endpoint.origin !== target.origin) {
      this.#refuseEndpoint('names another origin, or is not a URL')
      return undefined
    }
    if (endpoint.pathname.startsWith('//')) {
      // Sent to the client as a path, `//host/x` is a link to another host (protocol-relative).
      this.#refuseEndpoint('has a path starting with "//", which a client reads as another host')
      return undefined
    }
    if (!this.sessions.announce(endpoint.pathname)) {
      this.#refuseEndpoint('is one message path too many (10,000 announced by open streams)')
      return undefined
    }
    const sessionId = legacySessionsOf(endpoint.searchParams)[0]
    if (sessionId !== undefined && !this.sessions.open(sessionId, ordered)) {
      // Without its session, the answers to its calls would skip the chain.
      this.sessions.withdraw(endpoint.pathname)
      this.#refuseEndpoint('opens one session too many (the session table is full)')
      return undefined
    }
    // Same path on Portico: relative to whatever origin the client reached us at.
    const raw = encodeSseEvent(endpoint.pathname + endpoint.search, { event: 'endpoint' })
    const path = endpoint.pathname
    return sessionId === undefined ? { path, raw } : { path, raw, sessionId }
  }

  /**
   * An event over `max_response_body_size`, read past without being held: when it is the
   * answer a call of the session waits for (its top-level id, no `method`), that call fails
   * `response_too_large` with its id; otherwise it is logged and dropped. The session goes on.
   */
  #discarded(sessionId: string | undefined, event: DiscardedEvent): void {
    const { label, maxMessageBytes } = this.#upstream
    const what = `legacy SSE: ${label} sent an event of ${event.size} characters, over max_response_body_size (${maxMessageBytes}), on ${sessionId === undefined ? 'a stream without a session' : `session ${printable(sessionId)}`}; it was discarded`
    if (event.event !== undefined && event.event !== 'message') {
      this.#context.logger.warn(`${what} (an "${printable(event.event)}" event)`)
      return
    }
    if (event.hasMethod) {
      this.#context.logger.warn(`${what} (a message from the server, not an answer)`)
      return
    }
    if (event.id === undefined) {
      this.#context.logger.warn(
        `${what}; no top-level id could be read from it, so the call it answers (if any) waits for its deadline`,
      )
      return
    }
    const error = eventTooLarge(maxMessageBytes)
    if (sessionId !== undefined && this.sessions.fail(sessionId, event.id, error)) return
    this.#context.logger.warn(
      `${what}; its id ${printable(JSON.stringify(bigIdLiteral(event.id) ?? event.id))} names no call waiting on this stream`,
    )
  }

  #refuseEndpoint(why: string): void {
    this.#context.logger.warn(
      `legacy SSE: ${this.#upstream.label}'s endpoint event ${why}; the client's stream is ended`,
    )
  }

  /**
   * Whether a message on a session's stream is the answer one of its calls waits for (the
   * stream then leaves its writing to the call), or a second answer to a call Portico answered
   * with its timeout (dropped). Anything else passes: a server request or notification, an
   * answer without a usable id, and an answer no call waits for (a late one to a call its
   * client cancelled passes as it would direct, rewritten by its shape).
   */
  #taken(sessionId: string | undefined, event: StreamEvent): boolean {
    if (sessionId === undefined) return false
    const message = event.message()
    if (!isObject(message) || 'method' in message) return false
    const id = (message as { id?: unknown }).id
    if (typeof id !== 'string' && typeof id !== 'number') return false
    if (this.sessions.take(sessionId, id, event)) return true
    if (this.sessions.late(sessionId, id)) {
      // Its call was answered with Portico's timeout: a second response for the id.
      this.#context.logger.debug(
        `legacy SSE: ${this.#upstream.label} answered ${printable(JSON.stringify(bigIdLiteral(id) ?? id))} after its call timed out; dropped`,
      )
      return true
    }
    // `"1"` for 1 (or 1 for `"1"`): the SDK client reads ids loosely and takes it for its
    // answer, so it is the call's answer, and goes through the chain as one.
    const loose = typeof id === 'number' ? String(id) : /^-?\d{1,15}$/.test(id) ? Number(id) : id
    return loose !== id && this.sessions.take(sessionId, loose, event)
  }

  /** POST to an announced messages path: each message through the chain. */
  post(handle: Handler): RouteHandler {
    return async (req, res) => {
      let sessionId: string | undefined
      try {
        sessionId = legacySessionOf(req.url)
      } catch (error) {
        refuse(this.#context, req, res, error, 'sse')
        return
      }
      const options = {
        transport: 'sse' as const,
        ...(sessionId === undefined ? {} : { sessionId }),
      }
      const read = await readCalls(this.#context, req, res, options)
      if (read === undefined) return
      if (!this.sessions.tracks(sessionId)) {
        // Not correlated (no session id, or over the bound): the POST carries the answers.
        return answerCalls(this.#context, req, res, read, handle, options)
      }
      await this.#onStream(req, res, sessionId, read, handle)
    }
  }

  /** Answers each call on the session's stream; the POST itself gets 202 once all are forwarded. */
  async #onStream(
    req: IncomingMessage,
    res: ServerResponse,
    sessionId: string,
    read: ReadCalls,
    handle: Handler,
  ): Promise<void> {
    const context = this.#context
    let waiting = read.calls.length
    const settledFlags = read.calls.map(() => false)
    const settle = (index: number): void => {
      if (settledFlags[index]) return
      settledFlags[index] = true
      if (--waiting === 0 && !res.headersSent) res.writeHead(202).end('Accepted')
    }
    // A refused element (a malformed answer, whose stand-in is forwarded) settles once its
    // refusal is delivered: the POST's 202 must not go out before it.
    const calls = read.calls.map(
      (call, index): Call =>
        read.invalid?.[index] === undefined ? { ...call, forwarded: () => settle(index) } : call,
    )
    const recorder = new CallRecorder(
      context.bus,
      baseOf(context, req, read.bytesIn, { transport: 'sse' }),
      calls,
      arrivalOf(req),
    )
    await Promise.all(
      calls.map(async (call, index) => {
        const reply = await answerElement(call, read.invalid?.[index], handle)
        await this.#deliver(res, sessionId, call, index, reply, recorder)
        settle(index)
      }),
    )
    finishRecording(recorder, calls, res, new CallController().signal)
  }

  async #deliver(
    res: ServerResponse,
    sessionId: string,
    call: Call,
    index: number,
    reply: Reply,
    recorder: CallRecorder,
  ): Promise<void> {
    if (reply.kind === 'http') {
      // The upstream refused the POST: the client's POST gets that answer, as it would direct.
      recorder.fail(index, 'http_error', { errorMessage: `upstream answered HTTP ${reply.status}` })
      if (res.headersSent) {
        reply.body.resume()
        return
      }
      res.writeHead(reply.status, reply.headers)
      reply.body.pipe(res)
      return
    }
    if (reply.kind === 'message' && call.kind !== 'request' && reply.status >= 400) {
      // A client's malformed answer (its stand-in went upstream): refused on the POST, as on
      // the other transports, since the stream answers nothing to a response.
      await reply.fill(this.#upstream.maxMessageBytes)
      recorder.answer(index, reply.summary(false))
      recorder.done(index)
      const body = reply.body()
      if (!res.headersSent && 'bytes' in body)
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(body.bytes)
      return
    }
    if (reply.kind !== 'message' || call.kind !== 'request') {
      // Notifications and client responses get no answer on the stream (JSON-RPC).
      recorder.answer(index, { isResponse: true, outcome: 'ok' })
      return
    }
    await reply.fill(this.#upstream.maxMessageBytes)
    if (call.notes.cancelled === true && !this.sessions.holds(sessionId, call.id, call.notes)) {
      // Cancelled by the client before its answer came: the client gave it up, and the
      // receiver of a cancel sends no answer (the upstream's, should it come late, passes as
      // it would direct).
      recorder.answer(index, reply.summary(false))
      recorder.done(index)
      return
    }
    const body = reply.body()
    const data = 'bytes' in body ? body.bytes.toString('utf8') : ''
    const text = encodeSseEvent(data)
    this.sessions.deliver(sessionId, call.id, call.notes, text)
    recorder.wrote(index, Buffer.byteLength(text))
    recorder.answer(index, reply.summary(recorder.needsResult(index)))
    recorder.done(index)
  }

  /** The terminal for legacy calls: POST to the upstream, then wait for the answer on the stream. */
  readonly forward = async (call: Call): Promise<Reply> => {
    const context = this.#context
    const { http } = context
    const target = new URL(call.request.path + call.request.search, this.#upstream.stream.origin)
    const sessionId = call.sessionId
    const id = call.kind === 'request' ? call.id : undefined
    const waits = this.sessions.tracks(sessionId) && id !== undefined
    const timeoutMs = call.timeoutMs ?? this.#upstream.timeoutMs
    // A request that cannot wait for its answer (its id already in flight) is refused here,
    // before the upstream sees it.
    const answer = waits
      ? this.sessions.expect(
          sessionId,
          id,
          call.notes,
          call.signal,
          timeoutMs,
          this.#upstream.label,
        )
      : undefined
    answer?.catch(() => {}) // settled below; a rejection before then must not go unhandled
    const response = await send(http, target, call, this.#upstream.label, timeoutMs).catch(
      (error: unknown) => {
        if (waits) this.sessions.forget(sessionId, id as JsonRpcId, call.notes)
        throw error
      },
    )
    call.notes.upstreamStatus = response.status
    if (response.status >= 300) {
      if (waits) this.sessions.forget(sessionId, id as JsonRpcId, call.notes)
      return {
        kind: 'http',
        status: response.status,
        headers: clientHeaders(response.headers),
        body: response.body,
      }
    }
    call.forwarded?.()
    if (answer === undefined) return uncorrelatedReply(response, this.#upstream)
    response.body.resume()
    const event = await answer.catch((error: unknown) => {
      this.#cancelTimedOut(call, target, error)
      throw error
    })
    return MessageReply.fromBytes(Buffer.from(event.data))
  }

  /**
   * A request given up for its deadline while its answer was awaited on the stream: the upstream
   * is told on the session (its POST was answered 202 long ago: nothing else tells it).
   */
  #cancelTimedOut(call: Call, target: URL, error: unknown): void {
    const why = timedOutWhy(call, error)
    if (why === undefined || call.id === undefined) return
    const notice = cancelNotice(call, call.id, why)
    const { http } = this.#context
    send(http, target, notice, this.#upstream.label, this.#upstream.timeoutMs).then(
      (response) => response.body.resume(),
      () => {},
    )
  }
}

/** What a session's waiting calls fail with when its stream ends (see `#relay`). */
function waitingCallsFailure(clientLeft: boolean, failure: unknown): PorticoError {
  if (clientLeft) return new PorticoError('cancelled')
  return failure instanceof PorticoError ? failure : new PorticoError('upstream_stream_ended')
}

/**
 * The answer to a POST Portico does not wait on the stream for (no session id to correlate
 * by): the legacy protocol answers on the stream (202 here), but a server that answers in the
 * POST's own body, JSON or SSE, has that answer relayed, as the client would get it direct.
 */
function uncorrelatedReply(response: UpstreamResponse, upstream: LegacyUpstream): Reply {
  const type = contentTypeOf(response.headers)
  if (type.includes('json') || type.startsWith('text/event-stream')) {
    const headers = clientHeaders(response.headers)
    return replyOf(response, headers, upstream.maxMessageBytes, upstream.label)
  }
  if (response.bytes === undefined) response.body.resume()
  return accepted({ status: response.status })
}

function send(http: HttpClient, url: URL, call: Call, label: string, timeoutMs: number) {
  return http.send({
    url,
    method: 'POST',
    headers: upstreamHeadersOf(call),
    body: forwardedBytesOf(call),
    signal: call.signal,
    label,
    timeoutMs,
  })
}
