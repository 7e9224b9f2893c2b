/**
 * A backend's HTTP error status as its call's error, said the way the breaker, outlier
 * ejection, retries, hedging and failover read errors (`protect/outcome.ts`):
 *
 * - a 5xx is the backend failing (`backend_failed`): all of them count it;
 * - a 429 is the backend's own rate limit (`rate_limited`): the client gets 429 and the
 *   backend's `Retry-After`, a failover backend may take the call (the backend did not run
 *   it), and nothing counts it as the backend's failure;
 * - any other 4xx is the backend refusing this call (`backend_refused`): it is the answer, never
 *   retried, failed over or counted. A 403 for one user says nothing of the backend's health
 *   (counted, one client's refusals opened the breaker for everyone), and a failover backend
 *   taking it would sidestep the refusal.
 *
 * The status stays in `data.status`, where the revision probes read it (`httpStatusOf`).
 */
import { PorticoError, type Reason } from '../../errors.ts'
import { isObject } from '../../jsonrpc/message.ts'

/** A `Retry-After` passed on only when it is what the header may hold: seconds or a date. */
const RETRY_AFTER = /^(\d{1,9}|[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT)$/

export interface HttpStatusFailure {
  backend: string
  /** The backend as logs and errors name it. */
  label: string
  status: number
  /** The backend's own words, when its body said why (already bounded). */
  said?: string
  /** The body was a JSON-RPC error (an MCP server's refusal, not a proxy's). */
  jsonRpcBody?: boolean
  retryAfter?: string
}

export function httpStatusError(failure: HttpStatusFailure): PorticoError {
  const { backend, label, status, said } = failure
  const words = said === undefined ? '' : `: ${said}`
  const retryAfter = failure.retryAfter?.trim()
  const keepsWait = status === 429 && retryAfter !== undefined && RETRY_AFTER.test(retryAfter)
  return new PorticoError(reasonOf(status), {
    message: `Backend ${label} answered HTTP ${status}${words}`,
    data: { backend, status, ...(failure.jsonRpcBody ? { jsonRpcBody: true } : {}) },
    ...(keepsWait ? { headers: { 'retry-after': retryAfter } } : {}),
  })
}

function reasonOf(status: number): Reason {
  if (status >= 500 || status < 400) return 'backend_failed'
  return status === 429 ? 'rate_limited' : 'backend_refused'
}

/** The HTTP status a backend answered a request with, when that is what failed it. */
export function httpStatusOf(error: unknown): number | undefined {
  if (!(error instanceof PorticoError) || !isObject(error.data)) return undefined
  const status = error.data.status
  return typeof status === 'number' && STATUS_REASONS.has(error.reason) ? status : undefined
}

const STATUS_REASONS: ReadonlySet<string> = new Set([
  'backend_failed',
  'backend_refused',
  'rate_limited',
])
