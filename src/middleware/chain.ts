/**
 * The global chain, in order: every JSON-RPC message of both modes, legacy HTTP+SSE included,
 * runs through these middleware (outermost first) and then the mode's terminal step (the
 * transparent forward or the gateway dispatch), which runs each upstream's own chain.
 *
 *   filters (edge: Origin, client address rules, authentication; before the body is read)
 *   → observe (tracing: the exchange's span; metrics: calls in flight)
 *   → security (src/auth/: session ownership → authorization → argument checks)
 *   → user middleware (library mode: `createPortico(config, { middleware })`)
 *   → rate limits (`[proxy.rate_limit]`: all traffic, per client, per session, per tool)
 *   → rewrite (response rewriters: widget CSP)
 *   → terminal
 *
 * Recording is not a middleware: the edge records each call as its answer is written (bytes,
 * first byte, outcome), so a streamed answer is timed to its last event.
 */
import type { Middleware } from '../pipeline/compose.ts'
import type { ResponseRewriter } from '../pipeline/rewriter.ts'
import { rewriteResponses } from './rewrite.ts'

export interface ChainParts {
  /** Portico's own security middleware (src/auth/setup.ts), before anything else sees a call. */
  security?: readonly Middleware[]
  /** Outermost: tracing and the in-flight gauge (they see refusals by every later step). */
  observe?: readonly Middleware[]
  /** Middleware given by an embedding application. */
  user: readonly Middleware[]
  /** Traffic protection of all traffic (src/protect/rate-limit.ts `globalRateLimit`). */
  protect?: readonly Middleware[]
  rewriters: readonly ResponseRewriter[]
}

export function globalChain(parts: ChainParts): Middleware[] {
  const chain: Middleware[] = [
    ...(parts.observe ?? []),
    ...(parts.security ?? []),
    ...parts.user,
    ...(parts.protect ?? []),
  ]
  if (parts.rewriters.length > 0) chain.push(rewriteResponses(parts.rewriters))
  return chain
}
