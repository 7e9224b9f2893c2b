/**
 * The one error type of Portico and the one table that maps its stable `reason` to the
 * JSON-RPC code, the HTTP status and the public message. The same `reason` string is the
 * observability outcome label, so logs, the store and metrics agree on what went wrong: every
 * reason Portico records is a key of this table.
 *
 * HTTP statuses: transport-level refusals carry their HTTP meaning (400, 401, 403, 404, 413,
 * 429, 502, 503, 504). JSON-RPC-level answers about one call (an unknown tool, bad params, an
 * unknown method in the session era) are in-band: HTTP 200 with the error object, because SDK
 * clients treat 404 on a session as "session expired" and reject any non-2xx without reading
 * the body.
 */

export const REASONS = {
  parse_error: { code: -32700, status: 400, message: 'Parse error: the body is not valid JSON' },
  invalid_request: {
    code: -32600,
    status: 400,
    message: 'Invalid Request: the body is not a JSON-RPC 2.0 message',
  },
  payload_too_large: { code: -32600, status: 413, message: 'Request body too large' },
  header_mismatch: { code: -32020, status: 400, message: 'Header mismatch' },
  /** 2026-07-28: a version the server does not speak (`data: {supported, requested}`). */
  unsupported_protocol_version: {
    code: -32022,
    status: 400,
    message: 'Unsupported protocol version',
  },
  /** 2026-07-28: a request without the `_meta` every request must carry. */
  invalid_meta: {
    code: -32602,
    status: 400,
    message:
      'Invalid params: a 2026-07-28 request needs _meta io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities',
  },
  unsupported_media_type: {
    code: -32600,
    status: 415,
    message: 'Unsupported Media Type: expected application/json',
  },
  forbidden_origin: { code: -32600, status: 403, message: 'Forbidden: Origin not allowed' },
  forbidden_host: { code: -32600, status: 403, message: 'Forbidden: Host not allowed' },
  method_not_allowed: { code: -32600, status: 405, message: 'Method Not Allowed' },
  not_found: { code: -32601, status: 404, message: 'Not Found' },
  method_not_found: { code: -32601, status: 200, message: 'Method not found' },
  /** 2026-07-28 has no session to mistake a 404 for: an unknown method is HTTP 404 there. */
  unknown_method: { code: -32601, status: 404, message: 'Method not found' },
  invalid_params: { code: -32602, status: 200, message: 'Invalid params' },
  unauthorized: { code: -32600, status: 401, message: 'Unauthorized' },
  forbidden: { code: -32600, status: 403, message: 'Forbidden' },
  tool_changed: {
    code: -32602,
    status: 200,
    message:
      'Tool definition changed since it was pinned: withheld until an operator accepts it (portico pins accept)',
  },
  rate_limited: { code: -32603, status: 429, message: 'Too many requests' },
  session_not_found: { code: -32001, status: 404, message: 'Session not found' },
  session_required: {
    code: -32000,
    status: 400,
    message: 'Bad Request: Mcp-Session-Id header is required',
  },
  too_many_sessions: {
    code: -32603,
    status: 503,
    message: 'Too many sessions: try again later',
  },
  circuit_open: { code: -32603, status: 503, message: 'Upstream circuit open' },
  backend_failed: { code: -32603, status: 502, message: 'Backend failed' },
  /** A backend's 4xx: its refusal of this call, not its failure (never retried or counted). */
  backend_refused: { code: -32603, status: 502, message: 'Backend refused the call' },
  upstream_unavailable: { code: -32603, status: 502, message: 'Upstream unavailable' },
  upstream_timeout: { code: -32603, status: 504, message: 'Upstream timed out' },
  upstream_bad_response: {
    code: -32603,
    status: 502,
    message: 'Upstream sent an invalid response',
  },
  upstream_stream_ended: {
    code: -32603,
    status: 502,
    message: 'Upstream ended its answer without a response',
  },
  response_too_large: { code: -32603, status: 502, message: 'Upstream answer too large' },
  cancelled: { code: -32603, status: 499, message: 'Request cancelled' },
  shutting_down: { code: -32603, status: 503, message: 'Portico is shutting down' },
  internal_error: { code: -32603, status: 500, message: 'Internal error' },
} as const satisfies Record<string, { code: number; status: number; message: string }>

export type Reason = keyof typeof REASONS

export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && Object.hasOwn(REASONS, value)
}

export interface PorticoErrorOptions {
  /** Overrides the table's public message (must not contain secrets). */
  message?: string
  /** Extra structured data placed in the JSON-RPC error's `data`. */
  data?: Record<string, unknown>
  /** Response headers the refusal needs (`WWW-Authenticate`, `Retry-After`, `Allow`). */
  headers?: Record<string, string>
  /**
   * The id of the request refused before it became a call (a message that is not valid
   * JSON-RPC but carries a usable id): the error answers with it.
   */
  id?: string | number
  cause?: unknown
}

export class PorticoError extends Error {
  readonly reason: Reason
  readonly code: number
  readonly status: number
  readonly data: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined
  readonly id: string | number | undefined

  /**
   * `new PorticoError('forbidden', 'message')` is the short form of
   * `new PorticoError('forbidden', { message: 'message' })`.
   */
  constructor(reason: Reason, options: PorticoErrorOptions | string = {}) {
    const opts = typeof options === 'string' ? { message: options } : options
    const entry = REASONS[reason]
    super(opts.message ?? entry.message, { cause: opts.cause })
    this.name = 'PorticoError'
    this.reason = reason
    this.code = entry.code
    this.status = entry.status
    this.data = opts.data
    this.headers = opts.headers
    this.id = opts.id
  }
}

/** Turns anything thrown into a PorticoError; unknown failures are internal, never client-fault. */
export function toPorticoError(error: unknown): PorticoError {
  if (error instanceof PorticoError) return error
  return new PorticoError('internal_error', { cause: error })
}

/** Failures known to have happened before the request reached the upstream. */
const NOT_SENT = new WeakSet<object>()

/**
 * Marks `error` as a failure before the request reached the upstream (connection refused, a
 * backend that is not running): retrying or failing over cannot run a call twice.
 */
export function notSent<E extends PorticoError>(error: E): E {
  NOT_SENT.add(error)
  return error
}

/** Whether the failure happened before the request reached the upstream (see `notSent`). */
export function wasNotSent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && NOT_SENT.has(error)
}

/**
 * Portico could not start for a reason its operator must fix (an issuer that cannot be
 * discovered): the command line says it in one line, without a stack trace.
 */
export class StartupError extends Error {
  override name = 'StartupError'
}
