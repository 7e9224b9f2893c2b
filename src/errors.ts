/**
 * The one error type of Portico and the one table that maps its stable `reason` to the
 * JSON-RPC code, the HTTP status and the public message. The same `reason` string is the
 * observability outcome label, so logs, the store and metrics agree on what went wrong.
 */

export const REASONS = {
  parse_error: { code: -32700, status: 400, message: 'Parse error: the body is not valid JSON' },
  invalid_request: {
    code: -32600,
    status: 400,
    message: 'Invalid Request: the body is not a JSON-RPC 2.0 message',
  },
  payload_too_large: { code: -32600, status: 413, message: 'Request body too large' },
  unsupported_media_type: {
    code: -32600,
    status: 415,
    message: 'Unsupported Media Type: expected application/json',
  },
  forbidden_origin: { code: -32600, status: 403, message: 'Forbidden: Origin not allowed' },
  method_not_allowed: { code: -32600, status: 405, message: 'Method Not Allowed' },
  not_found: { code: -32601, status: 404, message: 'Not Found' },
  method_not_found: { code: -32601, status: 404, message: 'Method not found' },
  invalid_params: { code: -32602, status: 400, message: 'Invalid params' },
  session_not_found: { code: -32001, status: 404, message: 'Session not found' },
  session_required: {
    code: -32000,
    status: 400,
    message: 'Bad Request: Mcp-Session-Id header is required',
  },
  backend_failed: { code: -32603, status: 502, message: 'Backend failed' },
  upstream_unavailable: { code: -32603, status: 502, message: 'Upstream unavailable' },
  upstream_timeout: { code: -32603, status: 504, message: 'Upstream timed out' },
  upstream_bad_response: {
    code: -32603,
    status: 502,
    message: 'Upstream sent an invalid response',
  },
  shutting_down: { code: -32603, status: 503, message: 'Portico is shutting down' },
  internal_error: { code: -32603, status: 500, message: 'Internal error' },
} as const satisfies Record<string, { code: number; status: number; message: string }>

export type Reason = keyof typeof REASONS

export interface PorticoErrorOptions {
  /** Overrides the table's public message (must not contain secrets). */
  message?: string
  /** Extra structured data placed in the JSON-RPC error's `data`. */
  data?: Record<string, unknown>
  cause?: unknown
}

export class PorticoError extends Error {
  readonly reason: Reason
  readonly code: number
  readonly status: number
  readonly data: Record<string, unknown> | undefined

  constructor(reason: Reason, options: PorticoErrorOptions = {}) {
    const entry = REASONS[reason]
    super(options.message ?? entry.message, { cause: options.cause })
    this.name = 'PorticoError'
    this.reason = reason
    this.code = entry.code
    this.status = entry.status
    this.data = options.data
  }
}

/** Turns anything thrown into a PorticoError; unknown failures are internal, never client-fault. */
export function toPorticoError(error: unknown): PorticoError {
  if (error instanceof PorticoError) return error
  return new PorticoError('internal_error', { cause: error })
}
