/**
 * Requests Node's HTTP parser refused before a handler saw them (headers over
 * `max_header_size`, a malformed request line, a client too slow with its headers), on any of
 * Portico's listeners: answered as Node would (431, 400, 408, then closed), with a JSON-RPC
 * error body saying why and the worker's slot when there is one.
 */
import type { Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../observe/logger.ts'
import { PerSecond } from '../util/per-second.ts'

/** How long a connection refused by the parser may stay half-closed for its client to read. */
const CLIENT_ERROR_LINGER_MS = 5000

const ANSWERING = Symbol('portico.answering')

/** The answers a connection owes, in order (pipelined requests): see `answerClientError`. */
export function answeringOn(socket: Duplex): Set<ServerResponse> {
  const tracked = socket as Duplex & { [ANSWERING]?: Set<ServerResponse> }
  let answering = tracked[ANSWERING]
  if (answering === undefined) {
    answering = new Set()
    tracked[ANSWERING] = answering
  }
  return answering
}

/** Requests the HTTP parser refused, logged a second at most (as failed exchanges are). */
const PARSER_REFUSALS_LOGGED_PER_SECOND = 20

/** Answers the requests `server`'s parser refuses (see answerClientError). */
export function answerParserRefusals(
  server: Server,
  logger: Logger,
  workerSlot: string | undefined,
): void {
  const logs = new PerSecond(PARSER_REFUSALS_LOGGED_PER_SECOND)
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) =>
    answerClientError(error, socket, logger, logs, workerSlot),
  )
}

/**
 * A request Node's parser refused before Portico saw it (headers over `max_header_size`, a
 * malformed request line, a client too slow with its headers): answered as Node would (431,
 * 400, 408, then closed), but with a JSON-RPC error body saying why, which an MCP client can
 * show, instead of a bare status line. A socket that cannot be written is just closed.
 */
function answerClientError(
  error: Error & { code?: string },
  socket: Duplex,
  logger: Logger,
  logs: PerSecond,
  workerSlot: string | undefined,
): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, text, message] = clientErrorOf(error.code)
  // Never a call (no request was read), so not in the store, the audit log or the metrics: the
  // warning is the operator's trace of it, at most `logs.max` a second (a flood is folded).
  const held = logs.take()
  if (held >= 0) {
    const more = held > 0 ? ` (and ${held} more not logged, over ${logs.max} a second)` : ''
    logger.warn(`refused a request the HTTP parser could not read: ${status} ${text}${more}`, {
      client: (socket as { remoteAddress?: string }).remoteAddress ?? null,
      code: error.code ?? null,
    })
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code: -32600, message } })
  const answer = (): void => {
    if (!socket.writable) {
      socket.destroy()
      return
    }
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${workerSlot === undefined ? '' : `Portico-Worker: ${workerSlot}\r\n`}Connection: close\r\n\r\n${body}`,
    )
    // A lingering close (http/linger.ts): the client has LINGER_MS to read the answer and close
    // its side; one that never reads (a slowloris) would otherwise hold the half-closed
    // connection, and its slot of max_connections, for ever.
    socket.resume()
    const cut = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS)
    cut.unref()
    socket.once('close', () => clearTimeout(cut))
  }
  // Requests pipelined before the bad bytes are still being answered: their answers go first,
  // in order, then this one. Written at once, the error took the first one's place and the
  // answers were lost; written after the first, the later ones were.
  const owed = [...answeringOn(socket)].filter((res) => res.req?.complete === true)
  if (owed.length > 0) {
    let left = owed.length
    for (const res of owed) {
      res.once('close', () => {
        if (--left > 0) return
        // One that was cut before its end leaves the connection unusable.
        if (owed.every((done) => done.writableFinished)) answer()
        else socket.destroy()
      })
    }
    return
  }
  // The error is an unfinished request's own (its body stalled past client_request_timeout):
  // its answer can never finish, so this one goes now when nothing of it went out, else the
  // connection is cut. Waited for, a stalled body held its connection for ever.
  const current = (socket as { _httpMessage?: ServerResponse | null })._httpMessage
  if (current?.headersSent === true && !current.writableFinished) {
    socket.destroy()
    return
  }
  answer()
}

function clientErrorOf(code: string | undefined): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return [
      431,
      'Request Header Fields Too Large',
      'Request Header Fields Too Large: the request line and headers exceed max_header_size',
    ]
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return [408, 'Request Timeout', 'Request Timeout: the request was not sent in time']
  }
  return [400, 'Bad Request', 'Bad Request: the request is not valid HTTP/1.1']
}
