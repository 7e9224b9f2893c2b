/**
 * The per-upstream chain: every call to one upstream (the transparent upstream over Streamable
 * HTTP or legacy HTTP+SSE, a gateway backend over stdio, Streamable HTTP or legacy SSE, a
 * gateway list page) runs these middleware, outermost first, and then the transport. A policy
 * written once here serves every transport: that is what this seam is for. Library users add
 * their own (`createPortico(config, { upstreamMiddleware })`), and each upstream's traffic
 * protection (breaker, retries, limits: src/protect/policies.ts) runs inside theirs.
 *
 * The deadline of one attempt is not a middleware: it is `call.timeoutMs` (else the upstream's
 * configured timeout), enforced by each transport with its native timer, so a call carries
 * one cheap timer: undici's header and body timeouts (idle time, paused while the client
 * reads slowly), a backend connection's pending timer (restarted by progress), the legacy
 * transport's wait for the answer on the stream.
 */
import { compose, type Handler, type Middleware } from '../pipeline/compose.ts'

export interface UpstreamSettings {
  /** Named in errors and logs (never with credentials). */
  name: string
  /** Middleware of every upstream (library mode), outermost first. */
  middleware?: readonly Middleware[]
  /** This upstream's traffic protection (src/protect/policies.ts), inside the library's. */
  protection?: readonly Middleware[]
  /** Per-attempt observers (tracing), innermost: below retries and hedges. */
  attempt?: readonly Middleware[]
}

/**
 * The transport behind the per-upstream chain of `settings`. Calls entering it are stamped
 * with the upstream's name (`call.upstream`); with no middleware the transport is called
 * directly (nothing to pay on the hot path).
 */
export function upstreamChain(settings: UpstreamSettings, transport: Handler): Handler {
  const middleware = [
    ...(settings.middleware ?? []),
    ...(settings.protection ?? []),
    ...(settings.attempt ?? []),
  ]
  if (middleware.length === 0) return transport
  const chained = compose(middleware, transport)
  const name = settings.name
  return (call) => chained(call.upstream === name ? call : { ...call, upstream: name })
}
