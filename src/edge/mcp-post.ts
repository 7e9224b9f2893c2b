/**
 * The MCP endpoint's POST, the same in both modes: read the body (bounded), decode it once,
 * classify each message into a Call, run every call through the chain, write the answers (one
 * reply, or a batch merged), and record one event per message. Bodies that cannot become calls
 * (too large, not JSON, not JSON-RPC) are refused and recorded here.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ProxyContext } from '../context.ts'
import { PorticoError } from '../errors.ts'
import { arrivalOf } from '../http/arrival.ts'
import { decodeContentEncoding, readBody, withoutContentEncoding } from '../http/body.ts'
import { charsetsOf } from '../http/charset.ts'
import { clientAddressOf } from '../http/client-address.ts'
import { headerValue, requestInfoOf } from '../http/headers.ts'
import { viaOf } from '../http/via.ts'
import { type Decoded, decodeBody, usableIdOf } from '../jsonrpc/message.ts'
import { hasRepeatedKey } from '../jsonrpc/repeated-keys.ts'
import { CallRecorder } from '../observe/recorder.ts'
import { buildCalls, type Call, type ClientTransport } from '../pipeline/call.ts'
import { errorReply, type Handler } from '../pipeline/compose.ts'
import { identityOf } from '../pipeline/identity.ts'
import { MessageReply, type Reply } from '../pipeline/reply.ts'
import type { CallSignal } from '../pipeline/signal.ts'
import { caseVariantMember, headerMismatch } from '../protocol/classify.ts'
import { printable } from '../util/format.ts'
import { abortOnClose, recordLeft, refuse, refuseReadingId } from './exchange.ts'
import { answeringRequest, sendReplies, sendReply } from './send.ts'

export interface PostOptions {
  transport: ClientTransport
  /** The legacy transport names its session in the query (`sessionId`). */
  sessionId?: string
}

export interface ReadCalls {
  calls: Call[]
  bytesIn: number
  signal: CallSignal
  /** The body was a JSON-RPC batch (an array), even of one: its answer is an array too. */
  batch: boolean
  /** A batch's invalid elements, by position: answered with their refusal, never handled. */
  invalid?: ReadonlyArray<PorticoError | undefined>
}

/**
 * Reads and decodes a POST body into calls; refuses (and records) a body that cannot be.
 * Resolves undefined after a refusal.
 */
export async function readCalls(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  options: PostOptions,
): Promise<ReadCalls | undefined> {
  const signal = abortOnClose(req, res).signal
  const typeProblem = contentTypeProblem(req.headers['content-type'])
  if (typeProblem !== undefined) {
    // Refused before the body is read: it is read then (bounded) for the request's id, as
    // the other early refusals do, so a client that mislabels its JSON can still match it.
    await refuseReadingId(context, req, res, typeProblem, options.transport)
    return undefined
  }
  let body: Buffer
  try {
    const limit = context.config.max_request_body_size
    const received = await readBody(req, limit)
    // Checked here so that a plain body (nearly every one) costs no extra await.
    body =
      req.headers['content-encoding'] === undefined
        ? received
        : await decodeContentEncoding(received, req.headers, limit)
    // Decoded to text once: the repeated-member scan below reads the same text.
    const text = body.toString('utf8')
    const decoded = decodeBody(text)
    const maxBatch = context.config.security?.max_batch_size
    if (maxBatch !== undefined && decoded.messages.length > maxBatch) {
      throw new PorticoError('invalid_request', {
        message: `Invalid Request: batch of ${decoded.messages.length} messages (limit ${maxBatch})`,
      })
    }
    refuseMismatchedHeaders(decoded, req.headers)
    // When the chain decides by what a request says (the roles, pinned tools, limits per
    // tool, cache keys…), a body that two readers could read two ways is not passed on as
    // it came: a member spelt in another case is refused, and a body that repeats a member
    // goes upstream re-encoded from what was judged. Any other body keeps its bytes (its
    // decimals exact: a re-encoding writes doubles).
    const gateway = isGateway(context.config)
    const contentJudged = namesAreJudged(context) || contentIsRead(context.config)
    if (contentJudged || gateway) refuseCaseVariants(decoded)
    // Only transparent mode forwards a body's own bytes: the gateway writes every call itself,
    // so the scan would be wasted on its every request.
    const reencoded = contentJudged && !gateway && hasRepeatedKey(text)
    const calls = buildCalls(decoded, {
      // A decoded body is forwarded as JSON: its coding must not be announced upstream.
      headers: body === received ? req.headers : withoutContentEncoding(req.headers),
      request: requestInfoOf(req),
      signal,
      transport: options.transport,
      // Re-encoded: the original bytes repeat a member (`"name"` twice), which JSON.parse
      // reads last-wins and other parsers first-wins.
      ...(reencoded ? {} : { body }),
      identity: identityOf(req),
      ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
    })
    const read: ReadCalls = { calls, bytesIn: received.length, signal, batch: decoded.batch }
    if (decoded.invalid !== undefined) read.invalid = decoded.invalid
    return read
  } catch (error) {
    refuse(context, req, res, error, options.transport)
    return undefined
  }
}

function asItIs(_call: Call, reply: Reply): Reply {
  return reply
}

/** Serves a POST on the MCP endpoint: every message through `handle`, answers written back. */
export async function servePost(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  handle: Handler,
  options: PostOptions,
): Promise<void> {
  const read = await readCalls(context, req, res, options)
  if (read !== undefined) await answerCalls(context, req, res, read, handle, options)
}

/** Runs decoded calls through `handle` and writes their answers as the POST's answer. */
export async function answerCalls(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  read: ReadCalls,
  handle: Handler,
  options: PostOptions,
): Promise<void> {
  const { calls, signal } = read
  const base = baseOf(context, req, read.bytesIn, options)
  const recorder = new CallRecorder(context.bus, base, calls, arrivalOf(req))
  const send = {
    recorder,
    signal,
    bus: context.bus,
    place: placeOf(context, calls[0] as Call),
    maxInspectedBytes: context.config.max_response_body_size,
    logger: context.logger,
  }
  // Legacy HTTP+SSE accepts requests with 202 and answers them on its stream.
  const answering = options.transport === 'sse' ? asItIs : answeringRequest
  try {
    if (calls.length === 1 && !read.batch) {
      const call = calls[0] as Call
      // The chain straight away for a valid message (nearly all): no extra promise per call.
      const refusal = read.invalid?.[0]
      const reply = await (refusal === undefined
        ? handle(call)
        : answerElement(call, refusal, handle))
      await sendReply(res, call, answering(call, reply), send)
    } else {
      const invalid = read.invalid
      let given: Reply[]
      let shown: readonly Call[] = calls
      if (invalid === undefined) given = await Promise.all(calls.map(handle))
      else {
        const placed = await Promise.all(
          calls.map((call, index) => placeElement(call, invalid[index], handle)),
        )
        given = placed.map((element) => element.reply)
        shown = placed.map((element, index) => element.shown ?? (calls[index] as Call))
      }
      const answered = given.map((reply, index) => answering(calls[index] as Call, reply))
      await sendReplies(res, shown, answered, send)
    }
  } catch (error) {
    // Only a client that left gets here (writes wait for drain on its signal).
    if (!signal.aborted) throw error
  } finally {
    finishRecording(recorder, calls, res, signal)
  }
}

/**
 * An element's answer: its refusal when it is not JSON-RPC 2.0, else the chain's. A malformed
 * answer to a server request goes through the chain as the error standing in for it (the
 * server is told), and its client gets the refusal unless the chain refused it first.
 */
export async function answerElement(
  call: Call,
  refusal: PorticoError | undefined,
  handle: Handler,
): Promise<Reply> {
  return (await placeElement(call, refusal, handle)).reply
}

interface PlacedElement {
  reply: Reply
  /**
   * How a batch places the element's answer, when not as its call is: a message with an id
   * and nothing else (maybe a request that lost its method) refused under that id is answered
   * among the requests' answers, as it is when sent alone.
   */
  shown?: Call
}

async function placeElement(
  call: Call,
  refusal: PorticoError | undefined,
  handle: Handler,
): Promise<PlacedElement> {
  if (refusal === undefined) return { reply: await handle(call) }
  if (call.kind !== 'response') return { reply: errorReply(call, refusal) }
  const reply = await handle(call)
  const passed = reply.kind === 'accepted' || (reply.kind === 'http' && reply.status < 300)
  // Any other answer to a client's response (the chain's failure to pass a malformed answer's
  // stand-in on) is left out of a batch's answer, as a response's is.
  if (!passed) return { reply }
  // The upstream's acceptance is read to its end (its connection stays reusable) and dropped.
  if (reply.kind === 'http') reply.body.resume()
  call.notes.reason ??= refusal.reason
  // Under the id the refusal names, if any: a response's call has none of its own.
  const told = MessageReply.error(refusal, refusal.id)
  if (refusal.id === undefined) return { reply: told }
  const id = usableIdOf(call.message)
  return { reply: told, shown: { ...call, kind: 'request', ...(id === undefined ? {} : { id }) } }
}

/**
 * Ends the exchange's record: calls still open when the client left were cancelled; a stream
 * that only listens (`subscriptions/listen`) ends so, as a GET stream does: its normal end,
 * by the client, a drain, or a credential revoked.
 */
export function finishRecording(
  recorder: CallRecorder,
  calls: readonly Call[],
  res: ServerResponse,
  signal: CallSignal,
): void {
  if (signal.aborted)
    for (let index = 0; index < calls.length; index++) recordLeft(recorder, index, res)
  recorder.finish(signal.aborted && !res.headersSent ? 499 : res.statusCode)
  for (const call of calls) call.lifetime.end()
}

/** Where notifications on this exchange's streams are recorded as delivered. */
export function placeOf(context: ProxyContext, call: Call) {
  return {
    proxy: context.proxy,
    transport: call.transport,
    era: call.era,
    ...(call.sessionId === undefined ? {} : { sessionId: call.sessionId }),
  }
}

export function baseOf(
  context: ProxyContext,
  req: IncomingMessage,
  bytesIn: number,
  options: PostOptions,
) {
  const userAgent = headerValue(req.headers, 'user-agent')
  const clientAddress = clientAddressOf(req)
  const via = viaOf(req.socket)
  return {
    proxy: context.proxy,
    transport: options.transport,
    bytesIn,
    ...(userAgent === undefined ? {} : { userAgent }),
    ...(clientAddress === undefined ? {} : { clientAddress }),
    ...(via === undefined ? {} : { via }),
  }
}

/**
 * A lone request whose `Mcp-Method` / `Mcp-Name` headers name another method or target than
 * its body: 400 with -32020 (SEP-2243), so that nothing behind Portico acts on a name its
 * roles never judged.
 */
function refuseMismatchedHeaders(decoded: Decoded, headers: IncomingMessage['headers']): void {
  const message = decoded.messages[0]
  if (decoded.batch) {
    // Each element goes upstream alone with the batch's headers: every one must be what they
    // say, or a batch whose headers name `a` carried a call of `evil` past every check of the
    // names they say (2025-06-18 and later have no batches; Portico still takes them).
    if (headers['mcp-method'] === undefined && headers['mcp-name'] === undefined) return
    for (const element of decoded.messages) {
      const mismatch = headerMismatch(element, headers)
      if (mismatch === undefined) continue
      throw new PorticoError('header_mismatch', {
        message: `Header mismatch: ${mismatch} (in a batch, its headers hold for every message)`,
      })
    }
    return
  }
  if (message === undefined) return
  if (
    headers['mcp-method'] === undefined &&
    headers['mcp-name'] === undefined &&
    headers['mcp-protocol-version'] === undefined
  ) {
    return
  }
  const mismatch = headerMismatch(message, headers)
  if (mismatch === undefined) return
  const id = usableIdOf(message)
  throw new PorticoError('header_mismatch', {
    message: `Header mismatch: ${mismatch}`,
    ...(id === undefined ? {} : { id }),
  })
}

/** Whether roles, profiles or scoped tokens decide calls by the names in their bodies. */
function namesAreJudged(context: ProxyContext): boolean {
  const auth = context.config.auth
  if (auth === undefined) return false
  return auth.roles.length > 0 || auth.profiles.length > 0 || auth.scoped_tokens.length > 0
}

/**
 * Whether the chain decides by a request's content beyond its method (as `namesAreJudged`
 * does for the roles): a limit per tool, a cache or coalescing key (name and arguments),
 * retries and hedges (by the tool's read-only hint), argument checks. Sent as its bytes, a
 * body naming `"name"` twice was limited, cached or checked as one call and run as another.
 */
function contentIsRead(config: ProxyContext['config']): boolean {
  return (
    config.security?.pin_tools === true ||
    config.cache !== undefined ||
    config.retry !== undefined ||
    config.hedging !== undefined ||
    config.rate_limit !== undefined ||
    config.proxy.rate_limit !== undefined ||
    config.performance.coalesce_requests ||
    config.security?.validate_arguments === true ||
    config.security?.max_argument_size !== undefined
  )
}

/**
 * The gateway routes, filters and protects every call by what its body names (a tool's
 * backend, `hide_tools`, a backend's own cache and limits), and passes the other members on.
 */
function isGateway(config: ProxyContext['config']): boolean {
  return (config.backends?.length ?? 0) > 0
}

/** A message with `"Method"` or `"Name"` beside what Portico reads: refused, not guessed at. */
function refuseCaseVariants(decoded: Decoded): void {
  for (const message of decoded.messages) {
    const variant = caseVariantMember(message)
    if (variant === undefined) continue
    const id = decoded.batch ? undefined : usableIdOf(message)
    throw new PorticoError('invalid_request', {
      message: `Invalid Request: member "${variant.slice(0, 40)}" differs from a JSON-RPC or MCP member only by case`,
      ...(id === undefined ? {} : { id }),
    })
  }
}

/**
 * Why a POST's `Content-Type` is refused (415), or undefined for a body labelled JSON
 * (`application/json`, `application/*+json`) in UTF-8, or not labelled at all. Portico reads
 * every body as UTF-8 and forwards the header as it came: an upstream that decodes by the
 * declared charset (body-parser reads `utf-7`) read another message from the same bytes, and
 * `"name":"echo"` judged by the roles ran `admin` upstream.
 */
function contentTypeProblem(type: string | undefined): PorticoError | undefined {
  // What nearly every client sends, answered without splitting it (this runs on every POST).
  if (type === undefined || type === 'application/json') return undefined
  const semicolon = type.indexOf(';')
  // The media type whole, before any parameter: `application/jsonx` is not JSON.
  const media = (semicolon === -1 ? type : type.slice(0, semicolon)).trim().toLowerCase()
  if (media !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(media)) {
    return new PorticoError('unsupported_media_type')
  }
  if (semicolon === -1) return undefined
  for (const charset of charsetsOf(type)) {
    if (charset !== 'utf-8' && charset !== 'utf8') {
      return new PorticoError('unsupported_media_type', {
        message: `Unsupported Media Type: charset "${printable(charset.slice(0, 40))}" (MCP messages are UTF-8)`,
      })
    }
  }
  return undefined
}
