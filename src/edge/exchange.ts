/**
 * One HTTP exchange at the edge, JSON-RPC or not: its abort signal (the client went away), the
 * path and user agent it is recorded under, the relay options of an exchange that carries no
 * calls (a GET stream, a DELETE, a widget asset), and the refusal of a request that never
 * became calls (a filter said no, or its body could not be read).
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ProxyContext } from '../context.ts'
import { PorticoError, toPorticoError } from '../errors.ts'
import { arrivalOf } from '../http/arrival.ts'
import { readBody } from '../http/body.ts'
import { clientAddressOf } from '../http/client-address.ts'
import { headerValue } from '../http/headers.ts'
import { viaOf } from '../http/via.ts'
import { batchRequestIdsOf, requestIdOf } from '../jsonrpc/message.ts'
import type { Transport } from '../observe/event.ts'
import { type CallRecorder, failureOf, HttpRecorder } from '../observe/recorder.ts'
import { type Identity, identityOf } from '../pipeline/identity.ts'
import { CallController } from '../pipeline/signal.ts'
import { type RelayOptions, sendBatchRefusal, sendError } from './send.ts'

/** Answers and records a request refused before it became calls (by a filter or its body). */
export function refuse(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  thrown: unknown,
  transport: Transport,
  send: (res: ServerResponse, error: PorticoError) => number = sendError,
): void {
  const recorder = new HttpRecorder(
    context.bus,
    {
      proxy: context.proxy,
      transport,
      method: req.method ?? 'GET',
      kind: 'http',
      path: pathOf(req),
      bytesIn: Number(req.headers['content-length']) || 0,
      ...userAgentOf(req),
      ...identityFieldOf(req),
      ...addressOf(req),
    },
    arrivalOf(req),
  )
  const error = toPorticoError(thrown)
  if (!req.readableEnded) req.resume()
  recorder.fail('error', failureOf(error))
  recorder.wrote(send(res, error))
  recorder.finish(error.status)
}

/** Bodies a refusal reads to find the request's id: an MCP request is far smaller. */
const ID_PEEK_BYTES = 64 * 1024

/**
 * `refuse` for a POST an HTTP filter refused (no credential, a denied address, another
 * caller's session) before its body was read: the body (up to 64 KB) is read first, so a lone
 * request's refusal carries its id, as every answer to a request with an id must, and a
 * batch's is an array answering each of its requests under its id. A larger body carries the
 * top-level id its first 4 KB name (`leadingIdOf`); a body that is not JSON-RPC, or a batch of
 * notifications only, is refused without an id.
 */
export function refuseReadingId(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  thrown: unknown,
  transport: Transport,
): Promise<void> | void {
  const error = toPorticoError(thrown)
  if (req.method !== 'POST' || error.id !== undefined || req.readableEnded) {
    return refuse(context, req, res, error, transport)
  }
  return readBody(req, ID_PEEK_BYTES).then(
    (body) => {
      const batch = batchRequestIdsOf(body)
      if (batch !== undefined && batch.length > 0) {
        const send = (out: ServerResponse, refused: PorticoError) =>
          sendBatchRefusal(out, refused, batch)
        return refuse(context, req, res, error, transport, send)
      }
      const id = requestIdOf(body)
      refuse(context, req, res, id === undefined ? error : withId(error, id), transport)
    },
    // A body over the peek's bound: its first bytes may still name the id.
    (tooLarge: unknown) => {
      const id = tooLarge instanceof PorticoError ? tooLarge.id : undefined
      refuse(context, req, res, id === undefined ? error : withId(error, id), transport)
    },
  )
}

function withId(error: PorticoError, id: string | number): PorticoError {
  return new PorticoError(error.reason, {
    message: error.message,
    id,
    ...(error.data === undefined ? {} : { data: error.data }),
    ...(error.headers === undefined ? {} : { headers: error.headers }),
  })
}

/** The request path without its query (queries may carry secrets: never recorded). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/** The client's socket address, for the audit log, and whether it came through the tunnel. */
export function addressOf(req: IncomingMessage): { clientAddress?: string; via?: 'tunnel' } {
  const address = clientAddressOf(req)
  const via = viaOf(req.socket)
  const out: { clientAddress?: string; via?: 'tunnel' } =
    address === undefined ? {} : { clientAddress: address }
  if (via !== undefined) out.via = via
  return out
}

export function userAgentOf(req: IncomingMessage): { userAgent?: string } {
  const userAgent = headerValue(req.headers, 'user-agent')
  return userAgent === undefined ? {} : { userAgent }
}

/** The verified caller of a request, for its record (absent when auth is off or refused it). */
function identityFieldOf(req: IncomingMessage): { identity?: Identity } {
  const identity = identityOf(req)
  return identity === undefined ? {} : { identity }
}

/** A controller fired when the client disconnects before the answer is complete. */
export function abortOnClose(req: IncomingMessage, res: ServerResponse): CallController {
  const controller = new CallController()
  res.on('close', () => {
    // A listening stream ended by a drain finished writing, but its upstream stream is still
    // open: it is let go too (and the exchange recorded) rather than held until shutdown.
    if (!res.writableFinished || isListening(res)) controller.abort()
  })
  req.on('error', () => controller.abort())
  return controller
}

export interface ExchangeShape {
  transport: Transport
  kind: 'stream' | 'http'
  /** A session the exchange belongs to (GET streams and DELETE of a session). */
  sessionId?: string
}

/** The recorder, signal and notification place of an exchange that carries no calls. */
export function relayExchange(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  shape: ExchangeShape,
): RelayOptions {
  const session = shape.sessionId === undefined ? {} : { sessionId: shape.sessionId }
  return {
    recorder: new HttpRecorder(
      context.bus,
      {
        proxy: context.proxy,
        transport: shape.transport,
        method: req.method ?? 'GET',
        kind: shape.kind,
        path: pathOf(req),
        bytesIn: Number(req.headers['content-length']) || 0,
        ...session,
        ...userAgentOf(req),
        ...identityFieldOf(req),
        ...addressOf(req),
      },
      arrivalOf(req),
    ),
    signal: abortOnClose(req, res).signal,
    bus: context.bus,
    logger: context.logger,
    place: { proxy: context.proxy, transport: shape.transport, era: 'legacy', ...session },
  }
}

/**
 * Answers that listen for server messages (GET SSE streams, `subscriptions/listen` answers):
 * a reload that revokes their caller's key ends them, and a drain once nothing of
 * theirs is in flight: at once for most, and for a legacy HTTP+SSE session's stream, which also
 * carries the answers to the session's calls, once those are answered (`busy`).
 */
const LISTENING = new WeakMap<ServerResponse, () => boolean>()

const NEVER_BUSY = () => false

export function markListening(res: ServerResponse, busy: () => boolean = NEVER_BUSY): void {
  LISTENING.set(res, busy)
}

export function isListening(res: ServerResponse): boolean {
  return LISTENING.has(res)
}

/**
 * Records call `index` of an exchange the client left (or a drain or a revocation ended) as
 * cancelled, unless its answer only listens: ending is a listening stream's normal end, as a
 * GET stream's, so it is recorded as it was answered (ok), never cancelled.
 */
export function recordLeft(recorder: CallRecorder, index: number, res: ServerResponse): void {
  if (!isListening(res)) recorder.fail(index, 'cancelled', { reason: 'cancelled' })
}

/** A listening answer with nothing in flight: a drain may end it now. */
export function isIdleListener(res: ServerResponse): boolean {
  const busy = LISTENING.get(res)
  return busy !== undefined && !busy()
}
