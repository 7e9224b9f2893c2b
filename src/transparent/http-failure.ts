/**
 * How a non-JSON-RPC exchange (GET stream, DELETE, widget request) ends when something
 * fails: a client that left is recorded as cancelled, an upstream that died after the answer
 * started ends the client's answer, anything before that gets Portico's error answer.
 */
import type { ServerResponse } from 'node:http'
import { sendError } from '../edge/respond.ts'
import { toPorticoError } from '../errors.ts'
import type { Logger } from '../observe/logger.ts'
import type { Recorder } from './recorder.ts'

export interface FailureOptions {
  signal: AbortSignal
  logger: Logger
  /** A client closing a GET stream is its normal end, not a cancellation. */
  closeIsNormal?: boolean
}

export function endHttpExchange(
  res: ServerResponse,
  recorder: Recorder,
  error: unknown,
  options: FailureOptions,
): void {
  if (options.signal.aborted) {
    if (!options.closeIsNormal) recorder.failHttp('cancelled', 'client_closed')
    recorder.finish(res.headersSent ? res.statusCode : 499)
    return
  }
  if (res.headersSent) {
    recorder.failHttp('http_error', 'upstream_stream_ended')
    res.end()
    recorder.finish(res.statusCode)
    return
  }
  const failure = toPorticoError(error)
  if (failure.reason === 'internal_error')
    options.logger.error('forwarding failed', { error: String(error) })
  recorder.failHttp('error', failure.reason)
  recorder.wrote(sendError(res, failure))
  recorder.finish(failure.status)
}
