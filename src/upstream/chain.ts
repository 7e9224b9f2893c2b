/**
 * The per-upstream chain, in order: every call to one upstream (the transparent upstream, a
 * gateway backend over stdio, Streamable HTTP or legacy SSE, a gateway list page) runs
 * through these middleware, outermost first, and then the transport:
 *
 *   timeout (the upstream must keep answering within its deadline)
 *   → transport (HTTP forward, a backend connection)
 *
 * Written once, they serve every transport: that is what this seam is for.
 */
import { compose, type Handler, type Middleware } from '../pipeline/compose.ts'
import { timeout } from './timeout.ts'

export interface UpstreamSettings {
  /** Named in errors and logs (never with credentials). */
  name: string
  /** Deadline of one call (`request_timeout`, or a backend's `timeout`). */
  timeoutMs: number
}

export function upstreamMiddleware(settings: UpstreamSettings): Middleware[] {
  return [timeout(settings.timeoutMs, settings.name)]
}

/** The transport behind the per-upstream chain of `settings`. */
export function upstreamChain(settings: UpstreamSettings, transport: Handler): Handler {
  return compose(upstreamMiddleware(settings), transport)
}
