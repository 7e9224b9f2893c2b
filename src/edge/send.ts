/**
 * Writing answers to the client: the only code that writes a Reply, or Portico's own error, to
 * a ServerResponse. It feeds the recorder as bytes leave (time to first byte, bytes, each call's
 * outcome) and keeps the promise every client relies on: a request with an id gets a response
 * with that id, also when the upstream's stream breaks off.
 */
import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { PorticoError, toPorticoError } from '../errors.ts'
import { WHOLE_ANSWER_BYTES } from '../http/body.ts'
import type { HeaderMap } from '../http/headers.ts'
import { lingerIfUnread } from '../http/linger.ts'
import { encodeJson, errorResponse, isObject, type JsonRpcId } from '../jsonrpc/message.ts'
import type { EventBus } from '../observe/bus.ts'
import { RECORDED_NOTIFICATIONS } from '../observe/event.ts'
import type { Logger } from '../observe/logger.ts'
import {
  type CallRecorder,
  failureOf,
  type HttpRecorder,
  type NotificationPlace,
  publishNotification,
} from '../observe/recorder.ts'
import { type Call, isListenStream } from '../pipeline/call.ts'
import { errorReply } from '../pipeline/compose.ts'
import {
  accepted,
  errorObject,
  type HttpReply,
  invalidResponse,
  type MessageReply,
  type Reply,
  StreamEvent,
  type StreamReply,
} from '../pipeline/reply.ts'
import type { SignalLike } from '../pipeline/signal.ts'
import {
  answersCall,
  answersId,
  isOwnAnswer,
  notJsonRpcWords,
  readsAsResponse,
  type Summary,
  sameId,
  shapeProblem,
  summarize,
  UNICODE_ESCAPE,
} from '../protocol/summarize.ts'
import { chunksOf } from '../util/chunks.ts'
import { markListening, recordLeft } from './exchange.ts'

export interface SendOptions {
  recorder: CallRecorder
  /** Aborted when the client goes away. */
  signal: SignalLike
  bus: EventBus
  /** Where notifications seen on a stream were delivered, for recording them. */
  place: NotificationPlace
  /** Bound on answer bytes kept to record the outcome of a streamed answer. */
  maxInspectedBytes: number
  /** Headers every answer of this exchange carries (e.g. the gateway's session id). */
  headers?: HeaderMap
  /** Where a failure of Portico's own while a stream goes out is logged (a middleware's map). */
  logger?: Logger
  /** Set when several answers write to one response (a batch's merged stream). */
  turns?: WriteTurns
}

/**
 * The writers of one response (each answer of a batch's merged stream) write one event at a
 * time, each once the client has taken what the last one left. Each writer waited for the
 * drain only after its own write, so a batch of 100 answers wrote 100 events before any
 * waited: 100 × 4 MB held for a client that read nothing.
 */
class WriteTurns {
  #last: Promise<void> = Promise.resolve()

  write(res: ServerResponse, raw: string | Buffer, signal: SignalLike): Promise<void> {
    const turn = this.#last.then(async () => {
      if (res.writableNeedDrain) await drained(res, signal)
      res.write(raw)
    })
    this.#last = turn.catch(() => {})
    return turn
  }
}

/** Writes the one reply of a single-message POST as the whole HTTP answer. */
export async function sendReply(
  res: ServerResponse,
  call: Call,
  reply: Reply,
  options: SendOptions,
): Promise<void> {
  try {
    switch (reply.kind) {
      case 'message':
        return await sendMessage(res, call, reply, options)
      case 'stream':
        return await sendStream(res, call, reply, options)
      case 'accepted':
        res.writeHead(reply.status, withExtra(reply.headers, options)).end()
        options.recorder.answer(0, { isResponse: true, outcome: 'ok' })
        return
      case 'http':
        // A request answered 2xx with neither JSON nor SSE has no response for its id: the
        // client would wait for ever; nor has a redirect, which Portico does not follow (a
        // client that did would POST to a path Portico does not serve MCP at). Errors (4xx,
        // 5xx: an OAuth challenge, a lost session) pass through as they are.
        if (call.kind === 'request' && reply.status < 400) {
          return await sendMessage(res, call, notJsonRpc(call, reply), options)
        }
        return await sendHttp(res, reply, options)
    }
  } catch (error) {
    await failAfterStart(res, call, error, options)
  }
}

async function sendMessage(
  res: ServerResponse,
  call: Call,
  reply: MessageReply,
  options: SendOptions,
): Promise<void> {
  const { recorder } = options
  const parse = recorder.needsResult(0)
  try {
    if (parse) await reply.json()
    else await reply.fill(WHOLE_ANSWER_BYTES)
  } catch (error) {
    // The upstream broke off before anything was sent: answer with a proper error instead.
    return sendMessage(res, call, errorReply(call, error), options)
  }
  const body = reply.body()
  const headers = withExtra(reply.headers, options)
  headers['content-type'] ??= 'application/json'
  if ('bytes' in body) {
    // Portico's own answers (errors, gateway answers) carry the call's id by construction.
    const own = reply.built
    const summary = own ? reply.summary(parse) : checked(call, reply.summary(parse), body.bytes)
    // Only a success: an HTTP error passes through as it is (an SDK server's 400 or 404 for a
    // lost session says `"id": null`, and clients act on the status).
    const problem =
      own || reply.status >= 300 ? undefined : answerProblem(call, summary, body.bytes)
    // An upstream answer that is not this request's response is replaced by an error that is:
    // passed on, it would leave the client waiting for its id.
    if (problem !== undefined) return sendMessage(res, call, errorReply(call, problem), options)
    headers['content-length'] = String(body.bytes.length)
    res.writeHead(reply.status, headers)
    res.end(body.bytes)
    recorder.wrote(0, body.bytes.length)
    recorder.answer(0, summary)
    recorder.done(0)
    return
  }
  res.writeHead(reply.status, headers)
  const kept = await pipeKeeping(res, body.head, body.rest, options)
  recorder.answer(
    0,
    kept === undefined
      ? { isResponse: true, outcome: 'ok' }
      : checked(call, summarize(kept, false), kept),
  )
  recorder.done(0)
}

/**
 * An upstream answer that carries another request's id (or none) is not this call's answer:
 * recorded as a bad response, never as a success.
 */
function checked(call: Call, summary: Summary | undefined, bytes: Buffer): Summary | undefined {
  if (summary === undefined || !summary.isResponse || call.id === undefined) return summary
  const matches =
    summary.parsed !== undefined
      ? summary.id != null && sameId(summary.id, call.id)
      : answersId(bytes, call.id)
  if (matches) return summary
  return {
    isResponse: true,
    outcome: 'error',
    reason: 'upstream_bad_response',
    errorMessage: 'the upstream answered with another request id, or none',
  }
}

/**
 * Why a whole upstream answer to a request cannot be passed on as its response, if it cannot:
 * it is not a JSON-RPC response a client can read (`wellFormed`), or it answers another request
 * id (or none, or `null`, which the client cannot match either). Described from the bytes,
 * parsed again only on this rare path; an upstream error that came without the id is kept in
 * `data.upstreamError`.
 */
function answerProblem(
  call: Call,
  summary: Summary | undefined,
  bytes: Buffer,
): PorticoError | undefined {
  if (call.kind !== 'request' || call.id === undefined) return undefined
  const fine =
    summary?.isResponse === true &&
    summary.reason !== 'upstream_bad_response' &&
    // Summarized without parsing, a batch holding the id passes for a response.
    firstByte(bytes) === OPEN_BRACE &&
    wellFormed(summary, bytes)
  if (fine) return undefined
  return invalidResponse(call.id, bytes)
}

const OPEN_BRACE = 0x7b
const RESULT_KEY = '"result"'

/**
 * Whether a response is one a client can read: a result, or an error object with a numeric
 * code and a text message, not both and not neither (an SDK client rejects any other shape
 * and goes on waiting for the id). Parsed, the object says; summarized without parsing (no
 * `"error"` key anywhere), a `"result"` key must be there.
 */
function wellFormed(summary: Summary, bytes: Buffer): boolean {
  return isObject(summary.parsed)
    ? readableResponse(summary)
    : bytes.includes(RESULT_KEY) && readsAsResponse(bytes)
}

/** A response summary's shape, when it was parsed (one with an `"error"` key always is). */
function readableResponse(summary: Summary): boolean {
  const parsed = summary.parsed
  return !isObject(parsed) || shapeProblem(parsed) === undefined
}

/** The first byte that is not JSON whitespace (-1 for none), after a UTF-8 byte order mark. */
function firstByte(bytes: Buffer): number {
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  // Indexed, not for-of: no iterator per answer on the hot path.
  for (let i = bom; i < bytes.length; i++) {
    const byte = bytes[i] as number
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte
  }
  return -1
}

/**
 * Pipes an answer to the client with backpressure, counting bytes, and returns what was sent
 * when it fits the inspection bound (else undefined: the outcome is then not inspected).
 */
async function pipeKeeping(
  res: ServerResponse,
  head: Buffer[],
  rest: Readable,
  options: SendOptions,
): Promise<Buffer | undefined> {
  const kept: Buffer[] = []
  let size = 0
  const take = async (chunk: Buffer): Promise<void> => {
    if (!res.write(chunk)) await drained(res, options.signal)
    options.recorder.wrote(0, chunk.length)
    size += chunk.length
    if (size <= options.maxInspectedBytes) kept.push(chunk)
  }
  for (const chunk of head) await take(chunk)
  for await (const chunk of chunksOf(rest)) await take(chunk)
  res.end()
  return size <= options.maxInspectedBytes ? Buffer.concat(kept, size) : undefined
}

async function sendStream(
  res: ServerResponse,
  call: Call,
  reply: StreamReply,
  options: SendOptions,
): Promise<void> {
  res.writeHead(reply.status, sseHeaders(withExtra(reply.headers, options)))
  // A 2026-07-28 `subscriptions/listen` answer only listens, as a GET stream does: a drain may
  // end it at once, and so does a reload that revokes its caller's key.
  if (isListenStream(call)) markListening(res)
  sendHeadSoon(res, reply)
  const state = await writeEvents(res, call, 0, reply.events, options)
  // Ended here (a listening stream, above): nothing more is written to it.
  if (res.writableEnded) return
  const { recorder } = options
  if (call.kind === 'request' && !recorder.answered(0) && !state.resumable) {
    // Ended without the response and without event ids to resume from: the client would wait
    // forever. SSE polling (SEP-1699) ends streams on purpose, but always with event ids.
    endUnanswered(res, call, 0, new PorticoError('upstream_stream_ended'), options)
  }
  res.end()
}

interface StreamState {
  resumable: boolean
}

/**
 * Clients must see the headers at once. When upstream bytes are already waiting, the first
 * event carries them; if those bytes are not a whole event yet, the headers go on their own
 * after this turn (an upstream that stalls in its first event must not hold the head back).
 */
function sendHeadSoon(res: ServerResponse, reply: StreamReply): void {
  if (!reply.buffered()) {
    res.flushHeaders()
    return
  }
  // `headersSent` is already true (it means written, not sent); a flush after the head went
  // with the first event writes nothing.
  setImmediate(() => {
    if (!res.destroyed && !res.writableEnded) res.flushHeaders()
  })
}

/**
 * Ends an event whose first fragments went out and whose end never came (over the bound, the
 * upstream gone or done), so the client's parser drops it (its data is no JSON) and reads
 * what follows (Portico's error event) whole.
 */
function closeCutEvent(res: ServerResponse, inEvent: boolean): void {
  if (inEvent && !res.destroyed && !res.writableEnded) res.write('\n\n')
}

/**
 * Writes a call's events as they arrive. Each response is matched to the call by id; server
 * requests and notifications pass through (list changes and resource updates are recorded).
 * A stream that fails ends with an error event for the call when it was not answered yet.
 */
async function writeEvents(
  res: ServerResponse,
  call: Call,
  index: number,
  events: AsyncIterable<StreamEvent>,
  options: SendOptions,
): Promise<StreamState> {
  const { recorder } = options
  const parse = recorder.needsResult(index)
  const state: StreamState = { resumable: false }
  // A large event's fragments went out and its end has not: what follows must close it first.
  let inEvent = false
  try {
    for await (const event of events) {
      if (res.writableEnded) break // a listening stream ended here: stop reading the upstream
      const summary = summaryThatMatters(event, parse)
      // Whole events only: a large one's first fragments went out before it could be read.
      const whole = !inEvent && !event.fragment
      if (whole && summary?.isResponse && notForThisCall(call, index, event, summary, recorder)) {
        continue
      }
      const raw = event.unwritten
      if (options.turns !== undefined) await options.turns.write(res, raw, options.signal)
      else if (!res.write(raw)) await drained(res, options.signal)
      const bytes = Buffer.byteLength(raw)
      recorder.wrote(index, bytes)
      inEvent = event.fragment
      // The client's last event id, as the SSE spec keeps it: an empty `id:` resets it (then
      // nothing resumes), one holding a NUL is ignored.
      if (event.id !== undefined && !event.id.includes('\u0000')) state.resumable = event.id !== ''
      if (summary?.isResponse) {
        if (answersOnStream(call, event, summary)) {
          recorder.answer(index, summary)
          recorder.done(index)
        }
      } else if (summary !== undefined) {
        publishNotification(options.bus, options.place, summary, bytes)
      }
    }
    // The upstream ended its stream in the middle of an event.
    closeCutEvent(res, inEvent)
  } catch (error) {
    if (options.signal.aborted) throw error
    if (error instanceof PorticoError && error.reason === 'internal_error') {
      options.logger?.error('call failed', { method: call.method, error: String(error.cause) })
    }
    closeCutEvent(res, inEvent)
    if (call.kind === 'request' && !recorder.answered(index)) {
      endUnanswered(res, call, index, streamFailure(error), options)
    }
    state.resumable = true // the error event answered the call
  }
  return state
}

/**
 * Whether a response event on a request's stream is not this call's to pass on: it names
 * another request's id, or the call was answered already. A POST's stream carries the answers
 * of that POST's requests only (MCP, Streamable HTTP); passed on, the client took it for its
 * other request's answer (a batch's sibling, answered twice) or got two answers for one id.
 * Dropped: the call then gets its own answer, or Portico's error when the stream ends.
 */
function notForThisCall(
  call: Call,
  index: number,
  event: StreamEvent,
  response: Summary,
  recorder: CallRecorder,
): boolean {
  if (call.kind !== 'request') return false
  return recorder.answered(index) || !namesCall(call, event, response)
}

/**
 * An event's summary when it may matter to the call or the record (`mayMatter`), read once
 * per event; undefined for anything else (not a message, progress, logs), passed on unread.
 */
function summaryThatMatters(event: StreamEvent, parse: boolean): Summary | undefined {
  if (!event.isMessage) return undefined
  const unread = event.unreadData
  if (unread !== undefined && !mayMatter(unread)) return undefined
  return event.summary(parse)
}

/**
 * Whether a response event on a call's stream answers the call: its id (another id, or text
 * that is no message, does not; the call then gets Portico's own answer when the stream ends),
 * in a shape a client reads (`"error": null` does not: the client rejects it). A plain success
 * summarized without parsing is checked on its text, as a whole JSON answer is on its bytes;
 * anything else is parsed.
 */
function answersOnStream(call: Call, event: StreamEvent, summary: Summary): boolean {
  if (summary.parsed === undefined && summary.id === undefined) {
    const data = event.data
    if (
      call.id !== undefined &&
      answersId(data, call.id) &&
      data.includes(RESULT_KEY) &&
      readsAsResponse(data)
    ) {
      return true
    }
    const parsed = event.summary(true)
    return parsed !== undefined && isOwnAnswer(call, parsed.id) && readableResponse(parsed)
  }
  return isOwnAnswer(call, summary.id) && readableResponse(summary)
}

/** Whether a response event names the call's id (or none), whatever its shape. */
function namesCall(call: Call, event: StreamEvent, summary: Summary): boolean {
  if (summary.parsed === undefined && summary.id === undefined) {
    if (call.id !== undefined && answersId(event.data, call.id)) return true
    return answersCall(call, event.summary(true)?.id)
  }
  return answersCall(call, summary.id)
}

/**
 * What a message must hold to matter to the call or the record: a response's `"result"` or
 * `"error"` key, or the method of a notification the record keeps (list changes, resource
 * updates). JSON escapes quotes inside strings, so these quoted words are keys or whole string
 * values; a message with none of them (progress and log notifications, most of a long tool's
 * stream, and server requests) passes through unread instead of parsed to learn that.
 */
const MATTERS = ['"result"', '"error"', ...[...RECORDED_NOTIFICATIONS].map((m) => `"${m}"`)]

function mayMatter(text: string): boolean {
  for (const needle of MATTERS) if (text.includes(needle)) return true
  // `"\u0072esult"` is `"result"` to every parser: escaped text is read.
  return text.includes(UNICODE_ESCAPE)
}

/**
 * Ends a request's stream that ended without its answer: with an error event for it, as a
 * client would wait for its id for ever; or, when the client cancelled the call, with nothing
 * (no answer is due to a cancelled request, and the upstream's silence is the cancel's).
 */
function endUnanswered(
  res: ServerResponse,
  call: Call,
  index: number,
  error: PorticoError,
  options: SendOptions,
): void {
  if (call.notes.cancelled === true) {
    recordLeft(options.recorder, index, res)
    options.recorder.done(index)
    return
  }
  if (res.destroyed || res.writableEnded) return
  const event = StreamEvent.of(errorResponse(call.id, errorObject(error)))
  res.write(event.raw)
  options.recorder.wrote(index, Buffer.byteLength(event.raw))
  options.recorder.fail(index, 'error', failureOf(error))
  options.recorder.done(index)
}

/** A stream that broke: a Portico error keeps its reason, anything else ended the stream. */
function streamFailure(error: unknown): PorticoError {
  if (error instanceof PorticoError) return error
  return new PorticoError('upstream_stream_ended', { cause: error })
}

async function sendHttp(
  res: ServerResponse,
  reply: HttpReply,
  options: SendOptions,
): Promise<void> {
  res.writeHead(reply.status, withExtra(reply.headers, options))
  await pipeKeeping(res, [], reply.body, { ...options, maxInspectedBytes: 0 })
  if (reply.status >= 400) {
    options.recorder.fail(0, 'http_error', {
      errorMessage: `upstream answered HTTP ${reply.status}`,
    })
  } else {
    options.recorder.answer(0, { isResponse: true, outcome: 'ok' })
  }
}

/** Something failed after the answer started: keep the promise of an answer where possible. */
async function failAfterStart(
  res: ServerResponse,
  call: Call,
  error: unknown,
  options: SendOptions,
): Promise<void> {
  const { recorder } = options
  if (options.signal.aborted) {
    recordLeft(recorder, 0, res)
    return
  }
  const failure = streamFailure(error)
  if (!res.headersSent) return sendMessage(res, call, errorReply(call, failure), options)
  // A JSON answer cut in the middle: destroy the connection so the client cannot mistake the
  // truncated body for a complete one.
  recorder.fail(0, 'error', failureOf(failure))
  res.destroy()
}

function sseHeaders(headers: HeaderMap): HeaderMap {
  headers['content-type'] ??= 'text/event-stream'
  headers['cache-control'] ??= 'no-cache, no-transform'
  return headers
}

/** The reply's headers (its own object: the writer may set content-length) plus the exchange's. */
function withExtra(headers: HeaderMap, options: SendOptions): HeaderMap {
  return options.headers === undefined ? headers : { ...headers, ...options.headers }
}

/**
 * Writes the replies of a batch as one answer: 202 when all were accepted, a JSON array when
 * all are single messages, else one SSE stream where every call's events interleave as they
 * arrive. An upstream answer that is not JSON-RPC (`http`, e.g. a 401 with its challenge) is
 * passed through alone when no message of the batch got a JSON-RPC answer; among answers, it
 * becomes its own call's error, so the other calls keep theirs.
 */
export async function sendReplies(
  res: ServerResponse,
  calls: readonly Call[],
  given: readonly Reply[],
  options: SendOptions,
): Promise<void> {
  const passthrough = given.find((reply): reply is HttpReply => reply.kind === 'http')
  if (passthrough && given.every((reply) => reply.kind === 'http' || reply.kind === 'accepted')) {
    for (const reply of given) if (reply !== passthrough) discard(reply)
    return sendHttp(res, passthrough, options)
  }
  const replies = passthrough ? given.map((reply, index) => asMessage(calls, index, reply)) : given
  if (replies.every((reply) => reply.kind === 'accepted')) {
    res.writeHead(202, withExtra({}, options)).end()
    replies.forEach((_, index) => {
      options.recorder.answer(index, { isResponse: true, outcome: 'ok' })
    })
    return
  }
  const batch = withSessionOf(calls, replies, options)
  if (replies.some((reply) => reply.kind === 'stream'))
    return sendMerged(res, calls, replies, batch)
  return sendArray(res, calls, replies, batch)
}

/**
 * A batch's answer carries the session an `initialize` in it opened: the upstream's (or the
 * gateway's) `Mcp-Session-Id` on that element's answer. Dropped, the client could not use the
 * session the upstream had made for it (and the upstream kept it for nothing).
 */
function withSessionOf(
  calls: readonly Call[],
  replies: readonly Reply[],
  options: SendOptions,
): SendOptions {
  const index = calls.findIndex((call) => call.method === 'initialize')
  const session = index < 0 ? undefined : replies[index]?.headers['mcp-session-id']
  if (session === undefined) return options
  return { ...options, headers: { ...options.headers, 'mcp-session-id': session } }
}

/**
 * A batch member's reply that is not JSON-RPC, as its call's error (a notification's as
 * accepted: it has nothing to answer).
 */
function asMessage(calls: readonly Call[], index: number, reply: Reply): Reply {
  if (reply.kind !== 'http') return reply
  const call = calls[index] as Call
  if (call.kind !== 'request') {
    discard(reply)
    return accepted({ status: 202 })
  }
  return notJsonRpc(call, reply)
}

/** The error answering a request whose upstream answer was not JSON-RPC (its body discarded). */
function notJsonRpc(call: Call, reply: HttpReply): MessageReply {
  discard(reply)
  const type = reply.headers['content-type']
  const message =
    reply.status >= 300 && reply.status < 400
      ? redirectWords(reply)
      : `Upstream answered this message with ${notJsonRpcWords(reply.status, type === undefined ? undefined : String(type))}`
  return errorReply(
    call,
    new PorticoError('upstream_bad_response', { message, data: { httpStatus: reply.status } }),
  )
}

/**
 * A redirect, said with the path it points to (a server mounted at `/mcp/` redirects `/mcp`
 * there: the fix is the upstream URL). Only the path: the host may be one clients never see.
 */
function redirectWords(reply: HttpReply): string {
  const location = reply.headers.location
  const path =
    typeof location === 'string' && URL.canParse(location, 'http://x/')
      ? new URL(location, 'http://x/').pathname
      : undefined
  // The URL parser's pathname is percent-encoded: no control character reaches a log or client.
  const where = path === undefined ? '' : ` to ${path.slice(0, 200)}`
  return `Upstream redirected this message (HTTP ${reply.status}${where}); Portico does not follow redirects: set the upstream URL to where the server redirects`
}

async function sendArray(
  res: ServerResponse,
  calls: readonly Call[],
  replies: readonly Reply[],
  options: SendOptions,
): Promise<void> {
  const { recorder } = options
  const parts: Buffer[] = []
  /** A notification's or a response's failure (the upstream down): recorded, not in the array. */
  let unanswerable: { bytes: Buffer; status: number } | undefined
  for (const [index, original] of replies.entries()) {
    const call = calls[index] as Call
    if (original.kind !== 'message') {
      recorder.answer(index, { isResponse: true, outcome: 'ok' })
      continue
    }
    const reply = await elementAnswer(call, original)
    const body = reply.body()
    const bytes = 'bytes' in body ? body.bytes : Buffer.alloc(0)
    recorder.answer(index, reply.summary(recorder.needsResult(index)))
    recorder.done(index)
    // JSON-RPC answers nothing for a notification or a client's response: an error object
    // without an id for one in the array is an answer to nothing (a client may fail on it).
    if (call.kind !== 'request') {
      unanswerable ??= { bytes, status: reply.status }
      continue
    }
    parts.push(bytes)
    recorder.wrote(index, bytes.length)
  }
  if (parts.length === 0) {
    // No request in the batch: what a lone notification gets, its failure's status, or 202.
    const failed = unanswerable
    if (failed === undefined) res.writeHead(202, withExtra({}, options)).end()
    else writeJson(res, failed.status, failed.bytes, options)
    return
  }
  await writeJsonParts(
    res,
    [Buffer.from('['), ...joinWith(parts, Buffer.from(',')), Buffer.from(']')],
    options,
  )
}

/**
 * A JSON body written part by part at the client's pace: the batch's answers as they are, not
 * copied into one buffer first (which held a second copy of every answer at once).
 */
async function writeJsonParts(
  res: ServerResponse,
  parts: readonly Buffer[],
  options: SendOptions,
): Promise<void> {
  let length = 0
  for (const part of parts) length += part.length
  res.writeHead(200, {
    ...withExtra({}, options),
    'content-type': 'application/json',
    'content-length': String(length),
  })
  for (const part of parts) {
    if (res.writableNeedDrain) await drained(res, options.signal)
    res.write(part)
  }
  res.end()
}

function writeJson(res: ServerResponse, status: number, body: Buffer, options: SendOptions): void {
  res.writeHead(status, {
    ...withExtra({}, options),
    'content-type': 'application/json',
    'content-length': String(body.length),
  })
  res.end(body)
}

/** A message reply read whole (a batch answer is one JSON array), or its error. */
async function wholeMessage(call: Call, reply: MessageReply): Promise<MessageReply> {
  try {
    await reply.json()
  } catch (error) {
    return errorReply(call, error)
  }
  if (!reply.streaming) return reply
  discard(reply)
  return errorReply(call, new PorticoError('response_too_large'))
}

/**
 * A batch element's answer read whole; for a request, an upstream answer that is not its
 * response (another id, none, `null`, a shape no client reads) is replaced by the error that
 * is, whatever its HTTP status: in a batch the client matches answers by id alone, so it would
 * wait for the request's id for ever, or take the answer for another request of its own.
 */
async function elementAnswer(call: Call, original: MessageReply): Promise<MessageReply> {
  const reply = await wholeMessage(call, original)
  if (reply.built || call.kind !== 'request') return reply
  const body = reply.body()
  if (!('bytes' in body)) return reply
  const problem = answerProblem(call, checked(call, reply.summary(true), body.bytes), body.bytes)
  return problem === undefined ? reply : errorReply(call, problem)
}

async function sendMerged(
  res: ServerResponse,
  calls: readonly Call[],
  replies: readonly Reply[],
  options: SendOptions,
): Promise<void> {
  res.writeHead(200, sseHeaders(withExtra({}, options)))
  res.flushHeaders()
  const merged = { ...options, turns: new WriteTurns() }
  // A batch holding a `subscriptions/listen` only listens once its other requests are
  // answered: from then on a drain, an expired token or a revoked key ends it, as it ends the
  // same listen sent alone (sendStream).
  if (calls.some((call) => call.method === 'subscriptions/listen')) {
    markListening(res, () =>
      calls.some(
        (call, index) =>
          call.kind === 'request' &&
          call.method !== 'subscriptions/listen' &&
          !options.recorder.answered(index),
      ),
    )
  }
  await Promise.all(
    replies.map(async (reply, index) => {
      const call = calls[index] as Call
      if (reply.kind === 'accepted') {
        options.recorder.answer(index, { isResponse: true, outcome: 'ok' })
        return
      }
      if (reply.kind === 'message' && call.kind !== 'request') {
        // A notification's or a response's failure is recorded, not written (see sendArray).
        const failure = await wholeMessage(call, reply)
        options.recorder.answer(index, failure.summary(options.recorder.needsResult(index)))
        options.recorder.done(index)
        return
      }
      // The calls' events interleave on one stream: each must be written whole (no fragments).
      const events =
        reply.kind === 'stream'
          ? reply.map((event) => event).events
          : single(await elementAnswer(call, reply as MessageReply))
      await writeEvents(res, call, index, events, merged)
      // Never left to resumption here: the merged stream carries several upstream streams'
      // event ids, and the client's Last-Event-ID resumes one of them at most.
      if (call.kind === 'request' && !options.recorder.answered(index)) {
        endUnanswered(res, call, index, new PorticoError('upstream_stream_ended'), options)
      }
    }),
  )
  res.end()
}

async function* single(reply: MessageReply): AsyncGenerator<StreamEvent> {
  const response = await reply.json()
  yield StreamEvent.of(response ?? {})
}

function joinWith(parts: Buffer[], separator: Buffer): Buffer[] {
  return parts.flatMap((part, index) => (index === 0 ? [part] : [separator, part]))
}

/** Releases an upstream body nobody will read. */
function discard(reply: Reply): void {
  if (reply.kind === 'http') reply.body.resume()
  else if (reply.kind === 'message' && reply.streaming) {
    const body = reply.body()
    if ('rest' in body) body.rest.resume()
  } else if (reply.kind === 'stream') void release(reply.events)
}

/** Stops a stream at its first event: leaving the iteration releases the upstream's body. */
async function release(events: AsyncIterable<StreamEvent>): Promise<void> {
  try {
    for await (const _ of events) break
  } catch {
    // Failed or cut off: released all the same.
  }
}

/**
 * A request the upstream accepted (202, 204) without answering it becomes an error answering
 * it. Over Streamable HTTP a server answers a request with JSON or SSE; 202 is for
 * notifications and responses, and a client does not read a 202's body (the MCP SDKs do not),
 * so passed on it would wait for its id for ever. (Legacy HTTP+SSE answers requests with 202
 * by design, on the stream: its POSTs do not come here.)
 */
export function answeringRequest(call: Call, reply: Reply): Reply {
  if (call.kind !== 'request' || (reply.status !== 202 && reply.status !== 204)) return reply
  discard(reply)
  return errorReply(
    call,
    new PorticoError('upstream_bad_response', {
      message: `Upstream accepted request ${encodeJson(call.id ?? null)} without answering it (HTTP ${reply.status})`,
      data: { httpStatus: reply.status },
    }),
  )
}

/** Portico's own error for a request that never became calls (bad body, refused by a filter). */
export function sendError(res: ServerResponse, thrown: unknown): number {
  const error = toPorticoError(thrown)
  if (res.headersSent) {
    res.destroy()
    return 0
  }
  return sendRefusal(res, error, encodeJson(errorResponse(error.id, errorObject(error))))
}

/**
 * A refused batch's answer: the error once for each request it holds, under each one's id (a
 * batch's notifications and responses are answered by none), with the error's status.
 */
export function sendBatchRefusal(
  res: ServerResponse,
  error: PorticoError,
  ids: ReadonlyArray<JsonRpcId | undefined>,
): number {
  const answers = ids.map((id) => errorResponse(id, errorObject(error)))
  return sendRefusal(res, error, encodeJson(answers))
}

/**
 * Writes a refusal's JSON `body` with the error's status and headers (`WWW-Authenticate`,
 * `Retry-After`), reading on what the client still sends (lingering close): the bytes written.
 * An answer already begun is cut instead.
 */
export function sendRefusal(res: ServerResponse, error: PorticoError, body: string): number {
  if (res.headersSent) {
    res.destroy()
    return 0
  }
  lingerIfUnread(res.req)
  res.writeHead(error.status, {
    ...error.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
  return Buffer.byteLength(body)
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  lingerIfUnread(res.req)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

/** What relaying an answer that carries no calls needs (a GET stream, DELETE, a widget asset). */
export interface RelayOptions {
  recorder: HttpRecorder
  signal: SignalLike
  bus: EventBus
  place: NotificationPlace
  logger: Logger
}

/** Relays an upstream answer to a request that carried no JSON-RPC message. */
export async function relayAnswer(
  res: ServerResponse,
  reply: Reply,
  options: RelayOptions,
): Promise<void> {
  const { recorder } = options
  if (reply.kind === 'stream') {
    writeRelayHead(res, reply.status, sseHeaders({ ...reply.headers }))
    // A GET stream only listens for server messages: a drain may end it at once.
    if (res.req.method === 'GET') markListening(res)
    sendHeadSoon(res, reply)
    for await (const event of reply.events) {
      if (res.writableEnded) break // ended by a drain: stop reading the upstream
      const raw = event.unwritten
      if (!res.write(raw)) await drained(res, options.signal)
      const bytes = Buffer.byteLength(raw)
      recorder.wrote(bytes)
      const summary = event.isMessage ? event.summary(false) : undefined
      if (summary !== undefined && !summary.isResponse) {
        publishNotification(options.bus, options.place, summary, bytes)
      }
    }
  } else {
    // The head goes out with the body's first bytes: an upstream that breaks off before any
    // gets Portico's 502 (`failRelay`), not a connection closed with no answer at all.
    const head = (): void => {
      if (!res.headersSent) writeRelayHead(res, reply.status, reply.headers)
    }
    if (reply.kind === 'message' || reply.kind === 'http') {
      const body = reply.kind === 'http' ? { head: [], rest: reply.body } : reply.body()
      const chunks = 'bytes' in body ? [body.bytes] : body.head
      for (const chunk of chunks) {
        head()
        res.write(chunk)
        recorder.wrote(chunk.length)
      }
      if ('rest' in body) await relayBody(res, body.rest, head, options)
    }
    head()
  }
  res.end()
  recorder.finish(reply.status)
}

/** Writes an upstream body as it comes; a body that breaks off is the upstream's failure. */
async function relayBody(
  res: ServerResponse,
  body: Readable,
  head: () => void,
  options: RelayOptions,
): Promise<void> {
  try {
    for await (const chunk of chunksOf(body)) {
      head()
      if (!res.write(chunk)) await drained(res, options.signal)
      options.recorder.wrote(chunk.length)
    }
  } catch (error) {
    if (error instanceof PorticoError || options.signal.aborted) throw error
    throw new PorticoError('upstream_stream_ended', {
      message: 'Upstream broke off its answer',
      cause: error,
    })
  }
}

/**
 * How an exchange without calls ends when something fails: a client that left is recorded as
 * cancelled (a closed GET stream is its normal end), an upstream that died after the answer
 * started ends it, anything before that gets Portico's error answer.
 */
export function failRelay(
  res: ServerResponse,
  error: unknown,
  options: RelayOptions & { closeIsNormal?: boolean },
): void {
  const { recorder } = options
  if (options.signal.aborted) {
    if (!options.closeIsNormal) recorder.fail('cancelled', { reason: 'cancelled' })
    recorder.finish(res.headersSent ? res.statusCode : 499)
    return
  }
  if (res.headersSent) {
    // Portico's own reason when it cut the answer (an event over max_response_body_size);
    // else the upstream's answer broke off.
    const own = error instanceof PorticoError && error.reason === 'response_too_large'
    recorder.fail('http_error', { reason: own ? error.reason : 'upstream_stream_ended' })
    // An answer cut short must reach the client as cut: a clean end would close a chunked body
    // as if whole, or leave a declared length waiting for bytes that never come. An event
    // stream is ended (its client reconnects, as it would after a clean end).
    if (isEventStream(res)) res.end()
    else res.destroy()
    recorder.finish(res.statusCode)
    return
  }
  const failure = toPorticoError(error)
  if (failure.reason === 'internal_error') {
    options.logger.error('forwarding failed', { error: String(error) })
  }
  recorder.fail('error', failureOf(failure))
  recorder.wrote(sendError(res, failure))
  recorder.finish(failure.status)
}

/**
 * Relayed answers that went out as event streams. `writeHead` with a header object keeps none
 * that `getHeader` could read back, so `failRelay` asks here: looking at the header, it took
 * every stream for a body and destroyed the connection, losing the events just written.
 */
const eventStreams = new WeakSet<ServerResponse>()

/** `res.writeHead` for a relayed answer, remembering an event stream for `failRelay`. */
export function writeRelayHead(res: ServerResponse, status: number, headers: HeaderMap): void {
  if (String(headers['content-type'] ?? '').startsWith('text/event-stream')) eventStreams.add(res)
  res.writeHead(status, headers)
}

function isEventStream(res: ServerResponse): boolean {
  return eventStreams.has(res)
}

/**
 * Resolves when the client has taken the bytes written so far ('drain'); rejects when the
 * client went away meanwhile (the exchange's signal), so a writer never waits on a dead socket.
 */
export function drained(res: ServerResponse, signal: SignalLike): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(gone(signal))
    const onDrain = () => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    const onAbort = () => {
      res.off('drain', onDrain)
      reject(gone(signal))
    }
    res.once('drain', onDrain)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function gone(signal: SignalLike): Error {
  const error = new Error('The client went away while its answer was written', {
    cause: signal.reason,
  })
  error.name = 'AbortError'
  return error
}
