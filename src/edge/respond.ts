/**
 * Writing Portico's own answers: the only place a PorticoError becomes bytes on the wire.
 * A request with an id always gets a JSON-RPC error object carrying that id.
 */
import type { ServerResponse } from 'node:http'
import { type PorticoError, toPorticoError } from '../errors.ts'
import { errorResponse, type JsonRpcId } from '../jsonrpc/message.ts'

export function errorBody(
  error: PorticoError,
  ids: ReadonlyArray<JsonRpcId | undefined>,
  batch: boolean,
): string {
  const object = {
    code: error.code,
    message: error.message,
    ...(error.data ? { data: error.data } : {}),
  }
  const requestIds = ids.filter((id): id is JsonRpcId => id !== undefined)
  if (batch && requestIds.length > 0) {
    return JSON.stringify(requestIds.map((id) => errorResponse(id, object)))
  }
  return JSON.stringify(errorResponse(requestIds[0], object))
}

/** Sends a JSON-RPC error answer with the error's HTTP status; returns the bytes written. */
export function sendError(
  res: ServerResponse,
  thrown: unknown,
  ids: ReadonlyArray<JsonRpcId | undefined> = [],
  batch = false,
): number {
  const error = toPorticoError(thrown)
  if (res.headersSent) {
    res.destroy()
    return 0
  }
  const body = errorBody(error, ids, batch)
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
  return Buffer.byteLength(body)
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}
